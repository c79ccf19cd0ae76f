//! `sglang.benchmark.serving` (`bench_serving`) and `matrix bench serving`
//! `--output-file` lines: one JSON object per run, appended.
//!
//! Python writes `"request_rate": Infinity` (and `NaN` for statistics of
//! empty samples); both are read (see [`super::pyjson`]). NaN statistics
//! become `None`.

use serde::Serialize;

use super::ParseError;
use super::pyjson;

/// Mean, median, p90 and p99 of one latency, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Percentiles {
    pub mean: Option<f64>,
    pub median: Option<f64>,
    pub p90: Option<f64>,
    pub p99: Option<f64>,
}

/// matrix's own send-lateness statistics (`matrix bench serving` only).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Lateness {
    pub mean_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
}

/// One serving benchmark run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServingResult {
    pub backend: Option<String>,
    /// Requests per second; `f64::INFINITY` for "all at once".
    pub request_rate: Option<f64>,
    pub max_concurrency: Option<u64>,
    /// Only when the writer records it (SGLang 0.5.23 does not).
    pub num_prompts: Option<u64>,
    /// `--random-input-len` / `--random-output-len` (null for other datasets).
    pub random_input_len: Option<u64>,
    pub random_output_len: Option<u64>,
    pub completed: u64,
    /// Benchmark duration in seconds.
    pub duration: f64,
    pub request_throughput: Option<f64>,
    pub input_throughput: Option<f64>,
    pub output_throughput: Option<f64>,
    pub e2e_latency_ms: Percentiles,
    pub ttft_ms: Percentiles,
    pub tpot_ms: Percentiles,
    pub itl_ms: Percentiles,
    /// Mean requests in flight.
    pub concurrency: Option<f64>,
    pub schedule_lateness: Option<Lateness>,
}

/// Every JSON line of an `--output-file` (one per run; the runner uses the
/// last). Blank lines and an unterminated, unreadable last line are ignored.
pub fn parse_output_file(text: &str, source: &str) -> Result<Vec<ServingResult>, ParseError> {
    let lines: Vec<&str> = text.split('\n').collect();
    let mut out = Vec::new();
    for (i, raw) in lines.iter().enumerate() {
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        match parse_line(line, source, i + 1) {
            Ok(r) => out.push(r),
            Err(ParseError::Json { .. }) if i + 1 == lines.len() => break,
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// One `--output-file` line; `line` (1-based) is for messages.
pub fn parse_line(text: &str, source: &str, line: usize) -> Result<ServingResult, ParseError> {
    let o = pyjson::parse_object(text).map_err(|reason| ParseError::Json {
        source_name: source.to_string(),
        line,
        reason,
    })?;
    let missing = |key: &'static str| ParseError::MissingKey {
        source_name: source.to_string(),
        line,
        key,
    };
    let f = |key: &str| pyjson::finite(o.get(key));
    let pct = |name: &str| Percentiles {
        mean: f(&format!("mean_{name}")),
        median: f(&format!("median_{name}")),
        p90: f(&format!("p90_{name}")),
        p99: f(&format!("p99_{name}")),
    };
    let lateness = ["mean", "p99", "max"]
        .iter()
        .any(|s| o.contains_key(&format!("schedule_lateness_{s}_ms")))
        .then(|| Lateness {
            mean_ms: f("schedule_lateness_mean_ms"),
            p99_ms: f("schedule_lateness_p99_ms"),
            max_ms: f("schedule_lateness_max_ms"),
        });
    Ok(ServingResult {
        backend: o.get("backend").and_then(|v| v.as_str()).map(String::from),
        request_rate: pyjson::number(o.get("request_rate")).filter(|x| !x.is_nan()),
        max_concurrency: pyjson::count(o.get("max_concurrency")),
        num_prompts: pyjson::count(o.get("num_prompts")),
        random_input_len: pyjson::count(o.get("random_input_len")),
        random_output_len: pyjson::count(o.get("random_output_len")),
        completed: pyjson::count(o.get("completed")).ok_or_else(|| missing("completed"))?,
        duration: pyjson::number(o.get("duration")).ok_or_else(|| missing("duration"))?,
        request_throughput: f("request_throughput"),
        input_throughput: f("input_throughput"),
        output_throughput: f("output_throughput"),
        e2e_latency_ms: pct("e2e_latency_ms"),
        ttft_ms: pct("ttft_ms"),
        tpot_ms: pct("tpot_ms"),
        itl_ms: pct("itl_ms"),
        concurrency: f("concurrency"),
        schedule_lateness: lateness,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_matrix_bench_keys_and_nan() {
        let line = r#"{"request_rate": 4.0, "max_concurrency": 8, "num_prompts": 20, "completed": 0, "duration": 1.5, "mean_ttft_ms": NaN, "schedule_lateness_mean_ms": 0.5, "schedule_lateness_p99_ms": 1.0, "schedule_lateness_max_ms": 2.0}"#;
        let r = parse_line(line, "x", 1).unwrap();
        assert_eq!(r.request_rate, Some(4.0));
        assert_eq!(r.max_concurrency, Some(8));
        assert_eq!(r.num_prompts, Some(20));
        assert_eq!(r.ttft_ms.mean, None);
        assert_eq!(r.schedule_lateness.unwrap().max_ms, Some(2.0));
    }

    #[test]
    fn completed_and_duration_are_required() {
        let err = parse_line(r#"{"duration": 1.0}"#, "f.jsonl", 3).unwrap_err();
        assert_eq!(
            err.to_string(),
            "f.jsonl:3: missing or non-numeric `completed`"
        );
    }

    #[test]
    fn torn_last_line_is_ignored() {
        let text = "{\"completed\": 1, \"duration\": 1.0}\n{\"completed\": 2, \"dur";
        assert_eq!(parse_output_file(text, "f").unwrap().len(), 1);
    }
}
