//! A validating JSON scanner for the small parts of a `/generate` chunk
//! that serde used to decode (`meta_info`, unknown keys): it checks the
//! syntax and reads two unsigned integers, with no allocation and no
//! UTF-8 or escape decoding.
//!
//! It accepts a strict subset of what serde_json accepts: every `Some` is
//! a value serde_json would also accept (and read the same numbers from);
//! anything it does not handle — escapes or non-ASCII bytes in strings,
//! deep nesting, integers that are negative, fractional or too large — is
//! `None`, and the caller falls back to serde_json for that chunk.

/// Deepest nesting of arrays/objects skipped.
const MAX_DEPTH: u32 = 32;

/// Index of the first non-whitespace byte at or after `i`. Compact JSON
/// (orjson, serde) has none, so that case is one compare.
#[inline(always)]
pub fn ws(s: &[u8], i: usize) -> usize {
    match s.get(i) {
        Some(&b) if b <= b' ' => ws_slow(s, i),
        _ => i,
    }
}

#[cold]
fn ws_slow(s: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = s.get(i) {
        i += 1;
    }
    i
}

/// A string at `i` of ASCII without escapes or control bytes: the index
/// after its closing quote, and its contents. Eight bytes per step: keys
/// and ids are short, and a byte loop's exit branch was most of the cost.
#[inline(always)]
pub fn string(s: &[u8], i: usize) -> Option<(usize, &[u8])> {
    if s.get(i) != Some(&b'"') {
        return None;
    }
    let start = i + 1;
    let mut j = start;
    while let Some(word) = s.get(j..j + 8) {
        let w = u64::from_le_bytes(word.try_into().ok()?);
        let (quote, other) = (below(w ^ QUOTES, 1), special(w));
        let any = quote | other;
        if any != 0 {
            // Only the lowest flag is exact (see `below`): the string ends
            // well iff that byte is a quote.
            let first = any & any.wrapping_neg();
            let end = j + (first.trailing_zeros() / 8) as usize;
            return (quote & first != 0).then(|| (end + 1, &s[start..end]));
        }
        j += 8;
    }
    let end = j + s[j..]
        .iter()
        .position(|&b| b == b'"' || special(b as u64) & 0x80 != 0)?;
    (s[end] == b'"').then(|| (end + 1, &s[start..end]))
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;
const QUOTES: u64 = ONES * b'"' as u64;

/// High bit set in each byte of `v` below `n` (1 ≤ n ≤ 128). Only the
/// lowest flagged byte is exact: a borrow can flag bytes above it.
#[inline]
fn below(v: u64, n: u64) -> u64 {
    v.wrapping_sub(ONES * n) & !v & HIGH
}

/// Flags (as [`below`]) on bytes of `w` that may not appear in a plain
/// string besides its closing quote: `\\`, control bytes, non-ASCII.
#[inline]
fn special(w: u64) -> u64 {
    below(w ^ (ONES * b'\\' as u64), 1) | below(w, 0x20) | (w & HIGH)
}

/// A JSON value at `i` (skipped): the index after it. Scalars inline,
/// containers through the recursive walk.
#[inline(always)]
pub fn value(s: &[u8], i: usize) -> Option<usize> {
    match *s.get(i)? {
        b'"' => string(s, i).map(|(end, _)| end),
        b'-' | b'0'..=b'9' => number(s, i),
        b'n' => literal(s, i, b"null"),
        _ => value_at(s, i, 0),
    }
}

fn value_at(s: &[u8], i: usize, depth: u32) -> Option<usize> {
    match *s.get(i)? {
        b'"' => string(s, i).map(|(end, _)| end),
        b'{' if depth < MAX_DEPTH => object(s, i, |s, j, _| value_at(s, j, depth + 1)),
        b'[' if depth < MAX_DEPTH => array(s, i, depth + 1),
        b'-' | b'0'..=b'9' => number(s, i),
        b't' => literal(s, i, b"true"),
        b'f' => literal(s, i, b"false"),
        b'n' => literal(s, i, b"null"),
        _ => None,
    }
}

/// An object at `i`; `member(s, j, key)` reads the value of `key` at `j`
/// and returns the index after it. Returns the index after the `}`.
pub fn object(
    s: &[u8],
    i: usize,
    mut member: impl FnMut(&[u8], usize, &[u8]) -> Option<usize>,
) -> Option<usize> {
    if s.get(i) != Some(&b'{') {
        return None;
    }
    let mut j = ws(s, i + 1);
    if s.get(j) == Some(&b'}') {
        return Some(j + 1);
    }
    loop {
        let (after_key, key) = string(s, j)?;
        j = ws(s, after_key);
        if s.get(j) != Some(&b':') {
            return None;
        }
        j = ws(s, member(s, ws(s, j + 1), key)?);
        match s.get(j)? {
            b',' => j = ws(s, j + 1),
            b'}' => return Some(j + 1),
            _ => return None,
        }
    }
}

fn array(s: &[u8], i: usize, depth: u32) -> Option<usize> {
    let mut j = ws(s, i + 1);
    if s.get(j) == Some(&b']') {
        return Some(j + 1);
    }
    loop {
        j = ws(s, value_at(s, j, depth)?);
        match s.get(j)? {
            b',' => j = ws(s, j + 1),
            b']' => return Some(j + 1),
            _ => return None,
        }
    }
}

fn literal(s: &[u8], i: usize, word: &[u8]) -> Option<usize> {
    s[i..].starts_with(word).then_some(i + word.len())
}

#[inline(always)]
/// A number per JSON's grammar: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
pub fn number(s: &[u8], i: usize) -> Option<usize> {
    let mut j = i + usize::from(s.get(i) == Some(&b'-'));
    match s.get(j)? {
        b'0' => j += 1,
        b'1'..=b'9' => j = digits(s, j),
        _ => return None,
    }
    if s.get(j) == Some(&b'.') {
        j = at_least_one_digit(s, j + 1)?;
    }
    if let Some(b'e' | b'E') = s.get(j) {
        j += 1;
        if let Some(b'+' | b'-') = s.get(j) {
            j += 1;
        }
        j = at_least_one_digit(s, j)?;
    }
    Some(j)
}

fn digits(s: &[u8], mut j: usize) -> usize {
    while s.get(j).is_some_and(u8::is_ascii_digit) {
        j += 1;
    }
    j
}

fn at_least_one_digit(s: &[u8], j: usize) -> Option<usize> {
    let end = digits(s, j);
    (end > j).then_some(end)
}

/// An optional `u32` at `i` (`null` or a plain non-negative integer that
/// fits, without leading zeros): the value and the index after it.
#[inline(always)]
pub fn opt_u32(s: &[u8], i: usize) -> Option<(Option<u32>, usize)> {
    if s.get(i) == Some(&b'n') {
        return literal(s, i, b"null").map(|end| (None, end));
    }
    let (mut v, mut j) = (0u64, i);
    while let Some(d @ b'0'..=b'9') = s.get(j) {
        v = v * 10 + (d - b'0') as u64;
        j += 1;
        if j - i > 10 {
            return None;
        }
    }
    let leading_zero = j > i + 1 && s[i] == b'0';
    if j == i || leading_zero || matches!(s.get(j), Some(b'.' | b'e' | b'E')) {
        return None;
    }
    u32::try_from(v).ok().map(|v| (Some(v), j))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every value the scanner accepts, serde_json accepts too, and the
    /// scanner stops exactly where the value ends.
    #[test]
    fn accepts_a_subset_of_serde() {
        let ok: &[&[u8]] = &[
            b"0",
            b"-12.5e+3",
            b"1E9",
            b"true",
            b"null",
            br#""ab c""#,
            br#""a longer string, past eight bytes ~""#,
            b"\"\x7f\"",
            br#"{"a":[1,{"b":null}],"c":{}}"#,
            b"[ ]",
            b"{ \"x\" :\n[ 1 , 2 ] }",
        ];
        for &v in ok {
            assert_eq!(value(v, 0), Some(v.len()), "{}", String::from_utf8_lossy(v));
            serde_json::from_slice::<serde::de::IgnoredAny>(v).unwrap();
        }
        let not_ok: &[&[u8]] = &[
            br#""0123456789\x""#,
            b"\"0123456789\xff\"",
            b"\"01234567\n\"",
            b"\"0123456",
            b"01",
            b"1.",
            b"-",
            b".5",
            b"1e",
            b"tru",
            br#""a"#,
            br#""\n""#,
            b"\"\xc3\xa9\"",
            b"{\"a\"}",
            b"{\"a\":1,}",
            b"[1,]",
            b"[1 2]",
            b"{1:2}",
            b"+1",
            b"\"a\tb\"",
        ];
        for &v in not_ok {
            assert_ne!(value(v, 0), Some(v.len()), "{}", String::from_utf8_lossy(v));
        }
        let deep = format!("{}{}", "[".repeat(40), "]".repeat(40));
        assert_eq!(value(deep.as_bytes(), 0), None);
    }

    /// The word-at-a-time string scan agrees with a byte loop wherever the
    /// first special byte falls.
    #[test]
    fn string_scan_matches_a_byte_loop() {
        let naive = |s: &[u8]| {
            let len = s[1..]
                .iter()
                .position(|&b| b == b'"' || b == b'\\' || !(0x20..0x80).contains(&b))?;
            (s[1 + len] == b'"').then_some(len + 2)
        };
        for len in 0..40 {
            for special in [b'"', b'\\', b'\n', 0x80, 0x1f, b'~'] {
                for at in 0..=len {
                    let mut v = vec![b'"'];
                    v.extend((0..len).map(|k| {
                        if k == at {
                            special
                        } else {
                            b'a' + (k % 26) as u8
                        }
                    }));
                    v.push(b'"');
                    assert_eq!(string(&v, 0).map(|(end, _)| end), naive(&v), "{v:?}");
                }
            }
        }
    }

    #[test]
    fn reads_unsigned_integers_only() {
        assert_eq!(opt_u32(b"42,", 0), Some((Some(42), 2)));
        assert_eq!(opt_u32(b"null}", 0), Some((None, 4)));
        assert_eq!(opt_u32(b"4294967295", 0), Some((Some(u32::MAX), 10)));
        assert_eq!(opt_u32(b"0}", 0), Some((Some(0), 1)));
        for bad in [
            &b"4294967296"[..],
            b"-1",
            b"1.0",
            b"1e2",
            b"x",
            b"nul",
            b"01",
            b"",
        ] {
            assert_eq!(opt_u32(bad, 0), None, "{}", String::from_utf8_lossy(bad));
        }
    }
}
