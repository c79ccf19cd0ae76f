//! `sglang.benchmark.one_batch` output: the `--result-filename` JSON lines,
//! the printed stdout (fallback when the JSON file is missing), and CUDA
//! out-of-memory detection.
//!
//! one_batch runs every (batch size, input length, output length)
//! combination of its list flags in one process, batch size outermost and
//! output length innermost. A combination too big for the KV pool prints
//! `skipping (bs, il, ol) due to max batch size limit` and writes no JSON
//! line. With `output_len == 1` there is no decode step, so no
//! `Decode.  median ...` line and no `median_decode_*` keys.

use serde::Serialize;

use super::ParseError;
use super::pyjson;

/// One measured combination. Latencies in seconds, throughputs in tokens/s.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LatencyResult {
    pub run_name: Option<String>,
    pub batch_size: u64,
    pub input_len: u64,
    pub output_len: u64,
    pub prefill_latency: f64,
    pub prefill_throughput: f64,
    /// Absent when `output_len == 1` (no decode step).
    pub median_decode_latency: Option<f64>,
    pub median_decode_throughput: Option<f64>,
    pub total_latency: f64,
    pub overall_throughput: f64,
}

/// A combination one_batch skipped because it does not fit the KV pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Skipped {
    pub bsz: u64,
    pub input_len: u64,
    pub output_len: u64,
}

/// One combination's outcome, in one_batch's order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Entry {
    Measured(LatencyResult),
    Skipped(Skipped),
}

impl Entry {
    /// (batch size, input length, output length) of the combination.
    pub fn key(&self) -> (u64, u64, u64) {
        match self {
            Entry::Measured(r) => (r.batch_size, r.input_len, r.output_len),
            Entry::Skipped(s) => (s.bsz, s.input_len, s.output_len),
        }
    }
}

/// The list flags one_batch ran with (`--batch-size`, `--input-len`,
/// `--output-len`): they name the combinations, in order, that the printed
/// results belong to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Combos {
    pub batch_size: Vec<u64>,
    pub input_len: Vec<u64>,
    pub output_len: Vec<u64>,
}

impl Combos {
    /// Every combination in one_batch's order.
    pub fn all(&self) -> Vec<(u64, u64, u64)> {
        let mut out = Vec::new();
        for &b in &self.batch_size {
            for &i in &self.input_len {
                for &o in &self.output_len {
                    out.push((b, i, o));
                }
            }
        }
        out
    }
}

/// Find the entry of one combination (the runner maps cells to results so).
pub fn find(entries: &[Entry], bsz: u64, input_len: u64, output_len: u64) -> Option<&Entry> {
    entries
        .iter()
        .find(|e| e.key() == (bsz, input_len, output_len))
}

/// Parse the `--result-filename` JSON lines. Blank lines are ignored; an
/// incomplete last line (no newline, not valid JSON: the writer was killed)
/// is ignored too.
pub fn parse_result_jsonl(text: &str, source: &str) -> Result<Vec<LatencyResult>, ParseError> {
    let mut out = Vec::new();
    let lines: Vec<&str> = text.split('\n').collect();
    for (i, line) in lines.iter().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let last_unterminated = i + 1 == lines.len();
        let obj = match pyjson::parse_object(line) {
            Ok(o) => o,
            Err(_) if last_unterminated => break,
            Err(reason) => {
                return Err(ParseError::Json {
                    source_name: source.to_string(),
                    line: i + 1,
                    reason,
                });
            }
        };
        let missing = |key: &'static str| ParseError::MissingKey {
            source_name: source.to_string(),
            line: i + 1,
            key,
        };
        let num = |key: &'static str| pyjson::number(obj.get(key)).ok_or_else(|| missing(key));
        let int = |key: &'static str| pyjson::count(obj.get(key)).ok_or_else(|| missing(key));
        out.push(LatencyResult {
            run_name: obj
                .get("run_name")
                .and_then(|v| v.as_str())
                .map(String::from),
            batch_size: int("batch_size")?,
            input_len: int("input_len")?,
            output_len: int("output_len")?,
            prefill_latency: num("prefill_latency")?,
            prefill_throughput: num("prefill_throughput")?,
            median_decode_latency: pyjson::number(obj.get("median_decode_latency")),
            median_decode_throughput: pyjson::number(obj.get("median_decode_throughput")),
            total_latency: num("total_latency")?,
            overall_throughput: num("overall_throughput")?,
        });
    }
    Ok(out)
}

/// The numbers of one printed combination, before it is matched to its
/// (batch, input, output).
#[derive(Debug, Clone, Default)]
struct Printed {
    line: usize,
    prefill: (f64, f64),
    /// Half a unit in the last printed digit of each prefill number.
    prefill_err: (f64, f64),
    /// From `Decode N. Batch size: B, ...` lines: the last one's batch size.
    decode_bs: Option<u64>,
    /// Every such line: (line, batch size; `None` when unreadable).
    decode_lines: Vec<(usize, Option<u64>)>,
    median: Option<(f64, f64)>,
    /// The `Total.` line.
    total_line: usize,
}

/// A printed (latency, throughput) pair and its rounding errors.
#[derive(Debug, Clone, Copy)]
struct Pair {
    value: (f64, f64),
    err: (f64, f64),
}

enum Seen {
    Result(Printed, Pair),
    Skipped(Skipped),
}

/// Parse printed stdout and check each result against the combination it
/// is attributed to. Only the `Benchmark ...` section counts (the
/// Warmup section before it is ignored); a combination whose `Total.` line
/// never came (the process died in it) is dropped.
///
/// The printed results do not name their combination. With `combos` (the
/// list flags one_batch ran with) they are assigned in one_batch's order,
/// skipping lines naming theirs; without, each is inferred: the batch size
/// from the `Decode N. Batch size: B` lines, the input length from
/// prefill throughput × latency / B and the output length from total
/// throughput × latency / B − input (rounded, exact for the printed
/// precision of typical runs). A result with no decode line cannot be
/// inferred and is an error naming the flags to pass.
///
/// Every attribution is checked against the result's own numbers
/// ([`check`]): a list in the wrong order, a missing batch size or a
/// skipped combination without its `skipping` line is a
/// [`ParseError::Attribution`] naming the line, never a row for the wrong
/// combination.
pub fn parse_stdout(
    text: &str,
    source: &str,
    combos: Option<&Combos>,
) -> Result<Vec<Entry>, ParseError> {
    let seen = scan(text, source)?;
    match combos {
        Some(c) => assign(seen, &c.all(), source),
        None => seen
            .into_iter()
            .map(|s| match s {
                Seen::Skipped(k) => Ok(Entry::Skipped(k)),
                Seen::Result(p, total) => infer(p, total, source).map(Entry::Measured),
            })
            .collect(),
    }
}

fn scan(text: &str, source: &str) -> Result<Vec<Seen>, ParseError> {
    let mut seen = Vec::new();
    let mut in_bench = false;
    let mut cur: Option<Printed> = None;
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let layout = |reason: &str| ParseError::Layout {
            source_name: source.to_string(),
            line: n,
            reason: reason.to_string(),
        };
        let l = line.trim();
        if l.starts_with("Benchmark ...") {
            in_bench = true;
            cur = None;
            continue;
        }
        if !in_bench {
            continue;
        }
        if let Some(rest) = after(l, "skipping (") {
            let nums: Vec<u64> = rest
                .split(')')
                .next()
                .unwrap_or("")
                .split(',')
                .filter_map(|x| x.trim().parse().ok())
                .collect();
            if let [bsz, input_len, output_len] = nums[..] {
                seen.push(Seen::Skipped(Skipped {
                    bsz,
                    input_len,
                    output_len,
                }));
                continue;
            }
            return Err(layout("cannot read the skipped combination"));
        }
        if let Some(rest) = after(l, "Prefill. latency:") {
            if cur.is_some() {
                return Err(layout(
                    "a new `Prefill.` line before the last one's `Total.`",
                ));
            }
            let pair = two_numbers(rest).ok_or_else(|| layout("cannot read `Prefill.` numbers"))?;
            cur = Some(Printed {
                line: n,
                prefill: pair.value,
                prefill_err: pair.err,
                ..Printed::default()
            });
        } else if let Some(rest) =
            after(l, "Decode.  median latency:").or_else(|| after(l, "Decode. median latency:"))
        {
            let p = cur
                .as_mut()
                .ok_or_else(|| layout("`Decode.` line without a `Prefill.` line"))?;
            p.median = Some(
                two_numbers(rest)
                    .ok_or_else(|| layout("cannot read `Decode.` numbers"))?
                    .value,
            );
        } else if let Some(rest) = after(l, ". Batch size:").filter(|_| l.starts_with("Decode ")) {
            if let Some(p) = cur.as_mut() {
                p.decode_bs = rest.split(',').next().and_then(|b| b.trim().parse().ok());
                p.decode_lines.push((n, p.decode_bs));
            }
        } else if let Some(rest) = after(l, "Total. latency:") {
            let mut p = cur
                .take()
                .ok_or_else(|| layout("`Total.` line without a `Prefill.` line"))?;
            p.total_line = n;
            let total = two_numbers(rest).ok_or_else(|| layout("cannot read `Total.` numbers"))?;
            seen.push(Seen::Result(p, total));
        }
    }
    Ok(seen)
}

/// The text after `marker`, wherever it is in the line (log prefixes allowed).
fn after<'a>(line: &'a str, marker: &str) -> Option<&'a str> {
    line.find(marker).map(|i| &line[i + marker.len()..])
}

/// The first two numbers in `X s, throughput: Y token/s`, with half a unit
/// of their last printed digit (their rounding error).
fn two_numbers(s: &str) -> Option<Pair> {
    let mut nums = s
        .split(|c: char| c.is_whitespace() || c == ',' || c == ':')
        .filter_map(|w| w.parse::<f64>().ok().map(|x| (x, half_unit(w))));
    let (a, b) = (nums.next()?, nums.next()?);
    Some(Pair {
        value: (a.0, b.0),
        err: (a.1, b.1),
    })
}

fn half_unit(token: &str) -> f64 {
    let decimals = token.split_once('.').map_or(0, |(_, d)| d.len());
    0.5 * 10f64.powi(-(decimals as i32))
}

fn result(p: &Printed, total: Pair, key: (u64, u64, u64)) -> LatencyResult {
    let total = total.value;
    LatencyResult {
        run_name: None,
        batch_size: key.0,
        input_len: key.1,
        output_len: key.2,
        prefill_latency: p.prefill.0,
        prefill_throughput: p.prefill.1,
        median_decode_latency: p.median.map(|m| m.0),
        median_decode_throughput: p.median.map(|m| m.1),
        total_latency: total.0,
        overall_throughput: total.1,
    }
}

fn assign(
    seen: Vec<Seen>,
    combos: &[(u64, u64, u64)],
    source: &str,
) -> Result<Vec<Entry>, ParseError> {
    let err = |reason: String| ParseError::Combination {
        source_name: source.to_string(),
        reason,
    };
    let mut at = 0;
    let mut out = Vec::new();
    for s in seen {
        match s {
            Seen::Skipped(k) => {
                let key = (k.bsz, k.input_len, k.output_len);
                let pos = combos[at..].iter().position(|c| *c == key).ok_or_else(|| {
                    err(format!(
                        "skipped combination {key:?} is not among the remaining ones {:?}",
                        &combos[at..]
                    ))
                })?;
                at += pos + 1;
                out.push(Entry::Skipped(k));
            }
            Seen::Result(p, total) => {
                let key = *combos.get(at).ok_or_else(|| {
                    err(format!(
                        "more printed results than the {} combinations",
                        combos.len()
                    ))
                })?;
                check(&p, &total, key, at, source)?;
                at += 1;
                out.push(Entry::Measured(result(&p, total, key)));
            }
        }
    }
    Ok(out)
}

fn infer(p: Printed, total: Pair, source: &str) -> Result<LatencyResult, ParseError> {
    let err = |reason: String| ParseError::Combination {
        source_name: source.to_string(),
        reason,
    };
    let bs = p.decode_bs.filter(|b| *b > 0).ok_or_else(|| {
        err(format!(
            "the result printed at line {} has no `Decode N. Batch size:` line, \
             so its batch size is unknown",
            p.line
        ))
    })?;
    // Each length is latency x throughput / batch; with the printed
    // rounding it must still round to one integer, or we do not guess.
    let tokens = |v: (f64, f64), e: (f64, f64)| {
        let at = |a: f64, b: f64| (a * b / bs as f64).round();
        let (lo, hi) = (at(v.0 - e.0, v.1 - e.1), at(v.0 + e.0, v.1 + e.1));
        (lo == hi).then_some(lo as u64)
    };
    let imprecise = || {
        err(format!(
            "the numbers printed at line {} are too coarse to tell the input and \
             output lengths exactly",
            p.line
        ))
    };
    let il = tokens(p.prefill, p.prefill_err).ok_or_else(imprecise)?;
    let all = tokens(total.value, total.err).ok_or_else(imprecise)?;
    let ol = all
        .checked_sub(il)
        .filter(|o| *o >= 1)
        .ok_or_else(imprecise)?;
    check(&p, &total, (bs, il, ol), usize::MAX, source)?;
    Ok(result(&p, total, (bs, il, ol)))
}

/// Does a printed result fit the combination `key` (the `nth` of the lists,
/// from 0; `usize::MAX` when inferred)? one_batch prints prefill
/// throughput = batch x input / prefill latency, the batch size on each
/// `Decode N.` line, and total throughput = batch x (input + output) /
/// total latency; they are checked in that order. The products are checked
/// against the interval the printed rounding allows (half a unit of each
/// number's last digit), so a mismatch is certain, never a matter of
/// precision.
fn check(
    p: &Printed,
    total: &Pair,
    key: (u64, u64, u64),
    nth: usize,
    source: &str,
) -> Result<(), ParseError> {
    let (bs, il, ol) = key;
    let combination = if nth == usize::MAX {
        format!("(batch {bs}, input {il}, output {ol})")
    } else {
        format!(
            "(batch {bs}, input {il}, output {ol}), combination {} of the lists",
            nth + 1
        )
    };
    let fail = |line: usize, found: String| ParseError::Attribution {
        source_name: source.to_string(),
        line,
        combination: combination.clone(),
        found,
    };
    let fits = |what: &str, v: (f64, f64), e: (f64, f64), tokens: u64, expected: String| {
        let lo = (v.0 - e.0).max(0.0) * (v.1 - e.1).max(0.0);
        let hi = (v.0 + e.0) * (v.1 + e.1);
        let t = tokens as f64;
        if lo <= t && t <= hi {
            Ok(())
        } else {
            Err(format!(
                "{what} latency {} s x throughput {} token/s = {:.1} tokens \
                 ({lo:.1} to {hi:.1} with the printed rounding), not {expected}",
                v.0,
                v.1,
                v.0 * v.1
            ))
        }
    };
    fits(
        "prefill",
        p.prefill,
        p.prefill_err,
        bs * il,
        format!("batch x input = {bs} x {il} = {}", bs * il),
    )
    .map_err(|m| fail(p.line, m))?;
    if let Some((line, b)) = p.decode_lines.iter().find(|(_, b)| *b != Some(bs)) {
        let said = b.map_or("an unreadable batch size".to_string(), |b| {
            format!("batch size {b}")
        });
        return Err(fail(*line, format!("this `Decode` line says {said}")));
    }
    fits(
        "total",
        total.value,
        total.err,
        bs * (il + ol),
        format!(
            "batch x (input + output) = {bs} x {} = {}",
            il + ol,
            bs * (il + ol)
        ),
    )
    .map_err(|m| fail(p.total_line, m))?;
    Ok(())
}

/// Does this text (a log) show a CUDA out-of-memory error?
pub fn oom_in(text: &str) -> bool {
    [
        "CUDA out of memory",
        "torch.OutOfMemoryError",
        "OutOfMemoryError",
    ]
    .iter()
    .any(|m| text.contains(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// bs 1 and 2 at (1024, 2), bs 8 skipped; the warmup section differs.
    const STDOUT: &str = "\
Warmup ...
Prefill. latency: 0.01000 s, throughput:   1000.00 token/s
Total. latency:  0.010 s, throughput:   1100.00 token/s
Benchmark ...
Prefill. latency: 0.01295 s, throughput:  79087.13 token/s
Decode 0. Batch size: 1, latency: 0.00600 s, throughput:    166.67 token/s
Decode.  median latency: 0.00600 s, median throughput:    166.67 token/s
Total. latency:  0.019 s, throughput:  54000.00 token/s
Prefill. latency: 0.02000 s, throughput: 102400.00 token/s
Decode 0. Batch size: 2, latency: 0.00600 s, throughput:    333.33 token/s
Decode.  median latency: 0.00600 s, median throughput:    333.33 token/s
Total. latency:  0.026 s, throughput:  78923.08 token/s
skipping (8, 1024, 2) due to max batch size limit
";

    #[test]
    fn stdout_with_combos_skips_warmup_and_keeps_order() {
        let combos = Combos {
            batch_size: vec![1, 2, 8],
            input_len: vec![1024],
            output_len: vec![2],
        };
        let e = parse_stdout(STDOUT, "log", Some(&combos)).unwrap();
        let keys: Vec<_> = e.iter().map(Entry::key).collect();
        assert_eq!(keys, [(1, 1024, 2), (2, 1024, 2), (8, 1024, 2)]);
        let Entry::Measured(r) = &e[0] else { panic!() };
        assert_eq!(r.prefill_latency, 0.01295);
        assert_eq!(r.median_decode_throughput, Some(166.67));
        assert!(matches!(e[2], Entry::Skipped(_)));
        assert_eq!(find(&e, 2, 1024, 2), Some(&e[1]));
        // Fewer combinations than printed results is an error.
        let short = Combos {
            batch_size: vec![1],
            ..combos
        };
        assert!(matches!(
            parse_stdout(STDOUT, "log", Some(&short)),
            Err(ParseError::Combination { .. })
        ));
    }

    #[test]
    fn stdout_without_combos_infers_only_when_the_digits_allow() {
        // Total latency has 3 decimals: 0.019 s x 54000 tok/s is 1026 +- 27 tokens.
        let err = parse_stdout(STDOUT, "log", None).unwrap_err();
        assert!(err.to_string().contains("too coarse"), "{err}");
        // A slow run: 2.000 s x 513.00 tok/s / 1 = 1026 +- 0.5 (exclusive).
        let slow = "Benchmark ...\n\
                    Prefill. latency: 1.02400 s, throughput:   1000.00 token/s\n\
                    Decode 0. Batch size: 1, latency: 0.48800 s, throughput: 2.05 token/s\n\
                    Decode.  median latency: 0.48800 s, median throughput: 2.05 token/s\n\
                    Total. latency:  2.000 s, throughput:    513.00 token/s\n";
        let e = parse_stdout(slow, "log", None).unwrap();
        assert_eq!(e[0].key(), (1, 1024, 2));
        // Output length 1: no decode line, no batch size, no guess.
        let no_decode = "Benchmark ...\nPrefill. latency: 0.1 s, throughput: 10.0 token/s\n\
                         Total. latency: 0.1 s, throughput: 20.0 token/s\n";
        let err = parse_stdout(no_decode, "log", None).unwrap_err();
        assert!(err.to_string().contains("batch size is unknown"), "{err}");
        let one = Combos {
            batch_size: vec![1],
            input_len: vec![1],
            output_len: vec![1],
        };
        let e = parse_stdout(no_decode, "log", Some(&one)).unwrap();
        let Entry::Measured(r) = &e[0] else { panic!() };
        assert_eq!(r.median_decode_latency, None);
    }

    #[test]
    fn cut_short_combination_is_dropped_and_no_benchmark_is_empty() {
        let cut = "Benchmark ...\nPrefill. latency: 0.1 s, throughput: 10.0 token/s\n";
        assert!(parse_stdout(cut, "log", None).unwrap().is_empty());
        assert!(
            parse_stdout("Warmup ...\n", "log", None)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn two_prefills_in_a_row_is_a_layout_error() {
        let bad = "Benchmark ...\nPrefill. latency: 0.1 s, throughput: 10.0 token/s\n\
                   Prefill. latency: 0.1 s, throughput: 10.0 token/s\n";
        let err = parse_stdout(bad, "log", None).unwrap_err();
        assert!(err.to_string().starts_with("log:3:"), "{err}");
    }

    fn attribution_error(text: &str, combos: &Combos) -> (usize, String) {
        match parse_stdout(text, "log", Some(combos)) {
            Err(e @ ParseError::Attribution { line, .. }) => (line, e.to_string()),
            other => panic!("expected an attribution error, got {other:?}"),
        }
    }

    #[test]
    fn attributions_are_checked_against_the_printed_numbers() {
        let combos = |b: &[u64], i: u64, o: u64| Combos {
            batch_size: b.to_vec(),
            input_len: vec![i],
            output_len: vec![o],
        };
        // Lists in the wrong order: the first result (batch 1) taken for batch 2.
        let (line, msg) = attribution_error(STDOUT, &combos(&[2, 1, 8], 1024, 2));
        assert_eq!(line, 5, "{msg}");
        assert!(msg.contains("not batch x input = 2 x 1024 = 2048"), "{msg}");
        // A wrong input length fails the prefill check too.
        assert_eq!(attribution_error(STDOUT, &combos(&[1, 2, 8], 512, 2)).0, 5);
        // A wrong output length only the total can tell.
        let (line, msg) = attribution_error(STDOUT, &combos(&[1, 2, 8], 1024, 200));
        assert_eq!(line, 8, "{msg}");
        assert!(msg.contains("total latency"), "{msg}");
        // Prefill tokens fit (2 x 512 = 1 x 1024) but the decode line says 2.
        let twice = "Benchmark ...\n\
                     Prefill. latency: 0.01295 s, throughput:  79087.13 token/s\n\
                     Decode 0. Batch size: 2, latency: 0.00600 s, throughput: 333.33 token/s\n\
                     Total. latency:  1.000 s, throughput:   1026.00 token/s\n";
        let (line, msg) = attribution_error(twice, &combos(&[1], 1024, 2));
        assert_eq!(line, 3, "{msg}");
        assert!(msg.contains("says batch size 2"), "{msg}");
        assert!(parse_stdout(twice, "log", Some(&combos(&[2], 512, 1))).is_ok());
    }

    #[test]
    fn torn_last_json_line_is_ignored_but_a_bad_middle_line_is_not() {
        let good = r#"{"batch_size": 1, "input_len": 8, "output_len": 1, "prefill_latency": 0.1, "prefill_throughput": 80.0, "total_latency": 0.1, "overall_throughput": 90.0}"#;
        let torn = format!("{good}\n{{\"batch_size\": 2, \"inp");
        let r = parse_result_jsonl(&torn, "r.jsonl").unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].median_decode_latency, None);
        let bad = format!("{{oops\n{good}\n");
        assert!(matches!(
            parse_result_jsonl(&bad, "r.jsonl"),
            Err(ParseError::Json { line: 1, .. })
        ));
        let missing = r#"{"batch_size": 1}"#;
        let err = parse_result_jsonl(missing, "r.jsonl").unwrap_err();
        assert!(err.to_string().contains("`input_len`"), "{err}");
    }

    #[test]
    fn recognises_cuda_oom() {
        assert!(oom_in("torch.OutOfMemoryError: CUDA out of memory. Tried"));
        assert!(oom_in("RuntimeError: CUDA out of memory."));
        assert!(oom_in("OutOfMemoryError"));
        assert!(!oom_in("Killed"));
    }
}
