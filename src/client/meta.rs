//! `meta_info` of a `/generate` chunk: its two token counts, without serde.
//!
//! Within one stream, `meta_info` changes only in its numbers
//! (`completion_tokens`, a latency) until the last chunk. So the last object
//! that passed the full validating [`scan`](super::scan) is kept as a
//! template whose number tokens are holes: a chunk whose `meta_info` has the
//! same bytes around the holes, and a valid number in each hole, is the same
//! valid object with other numbers. Checking that is a few `memcmp`s instead
//! of a key-by-key walk (which was a quarter of the client's CPU per token).
//! Anything else gets the full scan, which then becomes the new template.

use super::chunk::Usage;
use super::scan;

/// The last fully scanned `meta_info` of a stream, its numbers as holes.
#[derive(Debug, Default)]
pub struct Template {
    bytes: Vec<u8>,
    /// Number tokens in `bytes`: start, end, and which count it is.
    holes: Vec<(usize, usize, Hole)>,
    /// The counts that are `null` or absent in the template stay so.
    usage: Usage,
    /// Chunks in a row that did not match.
    misses: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hole {
    Completion,
    Prompt,
    /// Any other number (a latency, a finish length): only validated.
    Other,
}

/// `meta_info` at `i` of `json`: its counts and the index after it. `None`
/// where serde would reject it (or the scanner does not handle it).
pub(super) fn usage(json: &[u8], i: usize, t: &mut Template) -> Option<(Usage, usize)> {
    if t.misses < GIVE_UP {
        if let Some(hit) = t.apply(json, i) {
            t.misses = 0;
            return Some(hit);
        }
        t.misses += 1;
    }
    let (u, end, at) = full(json, i)?;
    if t.misses < GIVE_UP {
        t.rebuild(&json[i..end], u, at.map(|p| p.map(|p| p - i)));
    }
    Some((u, end))
}

/// Misses in a row after which a stream stops trying its template (a
/// server whose `meta_info` strings change every chunk).
const GIVE_UP: u8 = 4;

/// The validating scan, plus where the two counts' values start.
fn full(json: &[u8], i: usize) -> Option<(Usage, usize, [Option<usize>; 2])> {
    if json.get(i) == Some(&b'n') {
        return json[i..]
            .starts_with(b"null")
            .then(|| (Usage::default(), i + 4, [None; 2]));
    }
    let mut u = Usage::default();
    let mut at = [None; 2];
    let end = scan::object(json, i, |json, j, key| {
        let (slot, k) = match key {
            b"completion_tokens" => (&mut u.completion_tokens, 0),
            b"prompt_tokens" => (&mut u.prompt_tokens, 1),
            _ => return scan::value(json, j),
        };
        if at[k].replace(j).is_some() {
            return None; // serde: duplicate field
        }
        let (v, end) = scan::opt_u32(json, j)?;
        *slot = v;
        Some(end)
    })?;
    Some((u, end, at))
}

impl Template {
    /// The counts of a `meta_info` at `i` that matches the template.
    fn apply(&self, json: &[u8], i: usize) -> Option<(Usage, usize)> {
        if self.bytes.is_empty() {
            return None;
        }
        let (mut pos, mut last, mut u) = (i, 0, self.usage);
        for &(start, end, hole) in &self.holes {
            pos = literal(json, pos, &self.bytes[last..start])?;
            pos = match hole {
                Hole::Other => scan::number(json, pos)?,
                Hole::Completion | Hole::Prompt => {
                    let (v, after) = scan::opt_u32(json, pos)?;
                    let slot = match hole {
                        Hole::Completion => &mut u.completion_tokens,
                        _ => &mut u.prompt_tokens,
                    };
                    *slot = Some(v?);
                    after
                }
            };
            last = end;
        }
        let end = literal(json, pos, &self.bytes[last..])?;
        Some((u, end))
    }

    /// Make `meta` (just validated by [`full`]) the template; `at` is where
    /// its completion and prompt values start, relative to `meta`.
    fn rebuild(&mut self, meta: &[u8], usage: Usage, at: [Option<usize>; 2]) {
        self.bytes.clear();
        self.bytes.extend_from_slice(meta);
        self.holes.clear();
        self.usage = usage;
        let mut k = 0;
        while k < meta.len() {
            k = match meta[k] {
                // Validated strings hold no escapes: the next quote ends it.
                b'"' => k + 2 + meta[k + 1..].iter().position(|&b| b == b'"').unwrap_or(0),
                b'-' | b'0'..=b'9' => {
                    let end = scan::number(meta, k).unwrap_or(meta.len());
                    let hole = match (Some(k) == at[0], Some(k) == at[1]) {
                        (true, _) => Hole::Completion,
                        (_, true) => Hole::Prompt,
                        _ => Hole::Other,
                    };
                    self.holes.push((k, end, hole));
                    end
                }
                _ => k + 1,
            };
        }
    }
}

/// `pos` after `lit`, if `json` has `lit` there.
fn literal(json: &[u8], pos: usize, lit: &[u8]) -> Option<usize> {
    json.get(pos..)?.starts_with(lit).then_some(pos + lit.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Consecutive SGLang chunks take the template path; a changed string
    /// does not.
    #[test]
    fn template_is_used_when_only_numbers_change() {
        let a = br#"{"id":"r","finish_reason":null,"prompt_tokens":32,"completion_tokens":9,"cached_tokens":0,"e2e_latency":0.5}"#;
        let b = br#"{"id":"r","finish_reason":null,"prompt_tokens":32,"completion_tokens":10,"cached_tokens":0,"e2e_latency":0.75}"#;
        let c = br#"{"id":"s","finish_reason":null,"prompt_tokens":32,"completion_tokens":11,"cached_tokens":0,"e2e_latency":0.75}"#;
        let mut t = Template::default();
        assert!(t.apply(a, 0).is_none());
        usage(a, 0, &mut t).unwrap();
        let want = Usage {
            completion_tokens: Some(10),
            prompt_tokens: Some(32),
        };
        assert_eq!(t.apply(b, 0), Some((want, b.len())));
        assert_eq!(t.apply(c, 0), None);
    }

    /// Along a stream of `meta_info` objects, the template path gives what
    /// a fresh full scan gives, chunk after chunk, whatever changes.
    #[test]
    fn template_agrees_with_the_full_scan() {
        let stream: &[&[u8]] = &[
            br#"{"id":"a","finish_reason":null,"prompt_tokens":32,"completion_tokens":9,"cached_tokens":0}"#,
            br#"{"id":"a","finish_reason":null,"prompt_tokens":32,"completion_tokens":10,"cached_tokens":0}"#,
            br#"{"id":"a","finish_reason":null,"prompt_tokens":33,"completion_tokens":4294967295,"cached_tokens":0}"#,
            br#"{"id":"a","finish_reason":null,"prompt_tokens":33,"completion_tokens":4294967296,"cached_tokens":0}"#,
            br#"{"id":"a","finish_reason":null,"prompt_tokens":33,"completion_tokens":null,"cached_tokens":0}"#,
            br#"{"id":"a","finish_reason":null,"prompt_tokens":33,"completion_tokens":1.5,"cached_tokens":0}"#,
            br#"{"id":"a","finish_reason":null,"prompt_tokens":33,"completion_tokens":-1,"cached_tokens":0}"#,
            br#"{"id":"a","finish_reason":null,"prompt_tokens":33,"completion_tokens":07,"cached_tokens":0}"#,
            br#"{"id":"a","finish_reason":null,"prompt_tokens":33,"completion_tokens":12,"cached_tokens":1e5}"#,
            br#"{"id":"a","finish_reason":null,"prompt_tokens":33,"completion_tokens":13,"cached_tokens":1e}"#,
            br#"{"id":"a","finish_reason":null,"prompt_tokens":33,"completion_tokens":13,"cached_tokens":"x"}"#,
            br#"{"id":"a","finish_reason":null,"prompt_tokens":33,"completion_tokens":14,"cached_tokens":0,"e2e_latency":0.25}"#,
            br#"{"id":"a","finish_reason":null,"prompt_tokens":33,"completion_tokens":15,"cached_tokens":0,"e2e_latency":-2.5E-3}"#,
            br#"{"id":"b","finish_reason":null,"prompt_tokens":33,"completion_tokens":16,"cached_tokens":0,"e2e_latency":3}"#,
            br#"{"id":"b","finish_reason":{"type":"length","length":17},"prompt_tokens":33,"completion_tokens":17,"cached_tokens":0,"e2e_latency":3}"#,
            br#"{"id":"b","finish_reason":{"type":"length","length":180},"prompt_tokens":33,"completion_tokens":18,"cached_tokens":0,"e2e_latency":3}"#,
            br#"{"id":"b","finish_reason":{"type":"length","length":180},"prompt_tokens":33,"completion_tokens":18,"completion_tokens":1}"#,
            br#"{"id":"b","prompt_tokens":null,"completion_tokens":3}"#,
            br#"{"id":"b","prompt_tokens":null,"completion_tokens":4}"#,
            br#"{"id":"b","prompt_tokens":5,"completion_tokens":4}"#,
            br#"{"id":"b","prompt_tokens":5,"completion_tokens":4} "#,
            b"null",
            b"{}",
            br#"{"id":"b","prompt_tokens":5,"completion_tokens":4"#,
        ];
        let mut t = Template::default();
        for &m in stream {
            let show = String::from_utf8_lossy(m);
            // As `meta_info` inside a chunk, followed by the closing brace.
            let json = [b"{\"meta_info\":", m, b"}"].concat();
            let want = full(&json, 13).map(|(u, end, _)| (u, end));
            assert_eq!(usage(&json, 13, &mut t), want, "{show}");
        }
    }
}
