//! Output of `matrix bench serving`: SGLang's "Serving Benchmark Result"
//! block (same labels, same `{:<40} {:<10}` columns), a short send-lateness
//! section after it, and the `--output-file` JSON line with SGLang's keys.

use std::fmt::Write as _;

use serde_json::{Map, Value, json};

use super::args::ServingRequest;
use super::metrics::Metrics;
use super::pyjson::float;
use super::record::RequestRecord;
use super::stats::Summary;

/// Python's `str(float)` for the request rate: `inf`, `10.0`, `2.5`.
pub fn py_float(x: f64) -> String {
    if x.is_nan() {
        "nan".into()
    } else if x.is_infinite() {
        if x > 0.0 { "inf".into() } else { "-inf".into() }
    } else {
        format!("{x:?}")
    }
}

/// Python's `{:.2f}` (`nan`/`inf` spelled as Python does).
fn f2(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.2}")
    } else {
        py_float(x)
    }
}

fn row(out: &mut String, label: &str, value: impl std::fmt::Display) {
    let _ = writeln!(out, "{:<40} {:<10}", label, value.to_string());
}

fn header(out: &mut String, title: &str) {
    let _ = writeln!(out, "{title:-^50}");
}

fn latency_rows(out: &mut String, name: &str, s: &Summary, with_max: bool) {
    row(out, &format!("Mean {name} (ms):"), f2(s.mean));
    row(out, &format!("Median {name} (ms):"), f2(s.median));
    row(out, &format!("P90 {name} (ms):"), f2(s.p90));
    row(out, &format!("P95 {name} (ms):"), f2(s.p95));
    row(out, &format!("P99 {name} (ms):"), f2(s.p99));
    if with_max {
        row(out, &format!("Max {name} (ms):"), f2(s.max));
    }
}

/// The summary block, starting with the blank line SGLang prints.
pub fn summary(req: &ServingRequest, m: &Metrics) -> String {
    let mut o = String::from("\n");
    let _ = writeln!(o, "{:=^50}", " Serving Benchmark Result ");
    row(&mut o, "Backend:", &req.backend.name);
    row(&mut o, "Traffic request rate:", py_float(req.request_rate));
    let conc = req
        .max_concurrency
        .map_or("not set".to_string(), |c| c.to_string());
    row(&mut o, "Max request concurrency:", conc);
    row(&mut o, "Successful requests:", m.completed);
    row(&mut o, "Benchmark duration (s):", f2(m.duration_s));
    row(&mut o, "Total input tokens:", m.total_input);
    row(&mut o, "Total input text tokens:", m.total_input);
    row(&mut o, "Total generated tokens:", m.total_output);
    row(
        &mut o,
        "Total generated tokens (retokenized):",
        m.total_output,
    );
    row(
        &mut o,
        "Request throughput (req/s):",
        f2(m.request_throughput),
    );
    row(
        &mut o,
        "Input token throughput (tok/s):",
        f2(m.input_throughput),
    );
    row(
        &mut o,
        "Output token throughput (tok/s):",
        f2(m.output_throughput),
    );
    row(
        &mut o,
        "Peak output token throughput (tok/s):",
        f2(m.max_output_tokens_per_s),
    );
    row(
        &mut o,
        "Peak concurrent requests:",
        m.max_concurrent_requests,
    );
    row(
        &mut o,
        "Total token throughput (tok/s):",
        f2(m.total_throughput),
    );
    row(&mut o, "Concurrency:", f2(m.concurrency));
    header(&mut o, "End-to-End Latency");
    latency_rows(&mut o, "E2E Latency", &m.e2e, false);
    header(&mut o, "Time to First Token");
    latency_rows(&mut o, "TTFT", &m.ttft, false);
    header(&mut o, "Time per Output Token (excl. 1st token)");
    latency_rows(&mut o, "TPOT", &m.tpot, false);
    header(&mut o, "Inter-Token Latency");
    latency_rows(&mut o, "ITL", &m.itl, true);
    let _ = writeln!(o, "{}", "=".repeat(50));
    o
}

/// matrix's own section: send lateness vs schedule and failures by kind.
pub fn lateness(m: &Metrics) -> String {
    let mut o = String::new();
    header(&mut o, "Send Lateness vs Schedule (matrix)");
    row(
        &mut o,
        "Mean send lateness (ms):",
        format!("{:.3}", m.lateness.mean),
    );
    row(
        &mut o,
        "P99 send lateness (ms):",
        format!("{:.3}", m.lateness.p99),
    );
    row(
        &mut o,
        "Max send lateness (ms):",
        format!("{:.3}", m.lateness.max),
    );
    row(&mut o, "Failed requests:", m.failed);
    for (kind, n) in &m.errors {
        row(&mut o, &format!("  {kind}:"), n);
    }
    let _ = writeln!(o, "{}", "=".repeat(50));
    o
}

fn put_summary(map: &mut Map<String, Value>, name: &str, s: &Summary) {
    for (stat, v) in [
        ("mean", s.mean),
        ("median", s.median),
        ("std", s.std),
        ("p90", s.p90),
        ("p95", s.p95),
        ("p99", s.p99),
    ] {
        map.insert(format!("{stat}_{name}"), float(v));
    }
}

/// The `--output-file` object: SGLang's keys in SGLang's order, then ours.
pub fn json_line(
    req: &ServingRequest,
    m: &Metrics,
    server_info: Value,
    recs: &[RequestRecord],
) -> Value {
    let mut o = Map::new();
    o.insert("tag".into(), json!(req.tag));
    o.insert("backend".into(), json!(req.backend.name));
    o.insert("dataset_name".into(), json!(req.dataset.as_str()));
    o.insert("request_rate".into(), float(req.request_rate));
    o.insert("max_concurrency".into(), json!(req.max_concurrency));
    o.insert("sharegpt_output_len".into(), json!(req.sharegpt_output_len));
    o.insert("random_input_len".into(), json!(req.random_input_len));
    o.insert("random_output_len".into(), json!(req.random_output_len));
    o.insert("random_range_ratio".into(), float(req.random_range_ratio));
    o.insert("server_info".into(), server_info);
    o.insert("duration".into(), float(m.duration_s));
    o.insert("completed".into(), json!(m.completed));
    o.insert("total_input_tokens".into(), json!(m.total_input));
    o.insert("total_input_text_tokens".into(), json!(m.total_input));
    o.insert("total_input_vision_tokens".into(), json!(0));
    o.insert("total_output_tokens".into(), json!(m.total_output));
    o.insert(
        "total_output_tokens_retokenized".into(),
        json!(m.total_output),
    );
    o.insert("request_throughput".into(), float(m.request_throughput));
    o.insert("input_throughput".into(), float(m.input_throughput));
    o.insert("output_throughput".into(), float(m.output_throughput));
    o.insert("total_throughput".into(), float(m.total_throughput));
    put_summary(&mut o, "e2e_latency_ms", &m.e2e);
    put_summary(&mut o, "ttft_ms", &m.ttft);
    put_summary(&mut o, "tpot_ms", &m.tpot);
    put_summary(&mut o, "itl_ms", &m.itl);
    o.insert("concurrency".into(), float(m.concurrency));
    o.insert("accept_length".into(), Value::Null);
    o.insert(
        "max_output_tokens_per_s".into(),
        float(m.max_output_tokens_per_s),
    );
    o.insert(
        "max_concurrent_requests".into(),
        json!(m.max_concurrent_requests),
    );
    o.insert("max_itl_ms".into(), float(m.itl.max));
    o.insert("schedule_lateness_mean_ms".into(), float(m.lateness.mean));
    o.insert("schedule_lateness_p99_ms".into(), float(m.lateness.p99));
    o.insert("schedule_lateness_max_ms".into(), float(m.lateness.max));
    o.insert("startup_ms".into(), float(m.startup_ms));
    o.insert("failed".into(), json!(m.failed));
    let errors: Map<String, Value> = m
        .errors
        .iter()
        .map(|(k, n)| (k.to_string(), json!(n)))
        .collect();
    o.insert("errors".into(), Value::Object(errors.clone()));
    o.insert("error_counts".into(), Value::Object(errors));
    o.insert("client".into(), json!("matrix"));
    if req.output_details {
        put_details(&mut o, recs);
    }
    Value::Object(o)
}

/// `--output-details`: per-request arrays, in request order (no texts).
/// As in SGLang, `errors` then becomes the per-request message list; the
/// counts by kind stay under `error_counts`.
fn put_details(o: &mut Map<String, Value>, recs: &[RequestRecord]) {
    let col = |f: &dyn Fn(&RequestRecord) -> Value| -> Value {
        Value::Array(recs.iter().map(f).collect())
    };
    o.insert("input_lens".into(), col(&|r| json!(r.prompt_len)));
    o.insert(
        "output_lens".into(),
        col(&|r| json!(if r.success() { r.output_len } else { 0 })),
    );
    o.insert("ttfts".into(), col(&|r| float(r.ttft_s())));
    o.insert(
        "itls".into(),
        col(&|r| {
            let mut v = Vec::new();
            r.push_itls(&mut v);
            Value::Array(v.into_iter().map(float).collect())
        }),
    );
    o.insert(
        "errors".into(),
        col(&|r| json!(r.failure.as_ref().map_or("", |f| f.message.as_str()))),
    );
}
