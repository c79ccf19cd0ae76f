//! `matrix bench batch` against the test server: one_batch's lines and JSON
//! keys, one `/flush_cache` per combination, and latencies consistent with
//! the server's own emission trace.

mod support;

use std::collections::BTreeSet;

use assert_cmd::Command;
use support::bench::{Config, TestServer, parse_py_json};
use support::timing_lock;

#[test]
fn batch_sweep_prints_and_records_one_batch_results() {
    let _serial = timing_lock();
    let server = TestServer::start(Config::default());
    let dir = tempfile::tempdir().expect("tmp");
    let out = dir.path().join("result.jsonl");
    let assert = Command::cargo_bin("matrix")
        .expect("binary")
        .args([
            "bench",
            "batch",
            "--base-url",
            &server.base_url,
            "--skip-warmup",
        ])
        .args([
            "--batch-size",
            "1",
            "3",
            "--input-len",
            "8",
            "--output-len",
            "6",
        ])
        .args(["--result-filename", out.to_str().expect("utf8")])
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
    assert_eq!(stdout.matches("Prefill. latency: ").count(), 2);
    assert_eq!(stdout.matches("Decode.  median latency: ").count(), 2);
    assert_eq!(stdout.matches("Total. latency: ").count(), 2);
    assert!(stdout.contains("Decode 0. Batch size: 3, latency: "));
    assert_eq!(server.flushes(), 2);

    let lines: Vec<_> = std::fs::read_to_string(&out)
        .expect("results")
        .lines()
        .map(parse_py_json)
        .collect();
    assert_eq!(lines.len(), 2);
    let fixture =
        std::fs::read_to_string("tests/fixtures/bench/one_batch.result.jsonl").expect("fixture");
    let want: BTreeSet<String> = parse_py_json(fixture.lines().next().expect("line"))
        .as_object()
        .expect("obj")
        .keys()
        .cloned()
        .collect();
    for l in &lines {
        let have: BTreeSet<String> = l.as_object().expect("obj").keys().cloned().collect();
        assert_eq!(have, want);
    }
    let r = &lines[1];
    assert_eq!(r["batch_size"], 3);
    let g = |k: &str| r[k].as_f64().expect("number");
    assert!((g("prefill_throughput") - 3.0 * 8.0 / g("prefill_latency")).abs() < 1e-6);
    assert!((g("median_decode_throughput") - 3.0 / g("median_decode_latency")).abs() < 1e-6);
    assert!((g("overall_throughput") - 3.0 * 14.0 / g("total_latency")).abs() < 1e-6);

    // Against the trace of the 3-request batch (the last 3 finished).
    let trace = server.trace();
    let batch = &trace[trace.len() - 3..];
    let start = batch.iter().map(|t| t.arrival_us).min().expect("start");
    let prefill = batch.iter().map(|t| t.emit_us[0]).max().expect("first") - start;
    let server_prefill_s = prefill as f64 * 1e-6;
    let last = batch
        .iter()
        .map(|t| *t.emit_us.last().expect("tokens"))
        .max()
        .expect("last");
    let server_total_s = (last - start) as f64 * 1e-6;
    // Causality: the client's batch starts before the server's first
    // arrival and sees the last first token, and the last token, after
    // they were emitted (µs rounding on both sides). Upper bounds on wall
    // time live in tests/bench_sim.rs as medians, which stay meaningful
    // under load.
    assert!(g("prefill_latency") >= server_prefill_s - 2e-6);
    assert!(
        g("total_latency") >= server_total_s - 2e-6,
        "total {} s < server's last emission {server_total_s} s",
        g("total_latency")
    );
}

#[test]
fn batch_rejects_zero_sizes() {
    Command::cargo_bin("matrix")
        .expect("binary")
        .args(["bench", "batch", "--batch-size", "0"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("--batch-size"));
}

/// vLLM has neither `/generate` nor `/flush_cache`: `--backend openai`
/// sends the same token-id batches to `/v1/completions`, times every chunk
/// with a choice (one per decode step) and skips the flush when asked.
#[test]
fn batch_over_the_openai_api_without_flushing() {
    let _serial = timing_lock();
    let server = TestServer::start(Config::default());
    let assert = Command::cargo_bin("matrix")
        .expect("binary")
        .args(["bench", "batch", "--base-url", &server.base_url])
        .args(["--backend", "vllm", "--model", "m", "--no-flush-cache"])
        .args(["--skip-warmup", "--batch-size", "2", "--input-len", "8"])
        .args(["--output-len", "6"])
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
    assert_eq!(server.flushes(), 0);
    // Five decode steps after the first token, each timed.
    assert!(
        stdout.contains("Decode 4. Batch size: 2, latency: "),
        "{stdout}"
    );
    assert!(!stdout.contains("Decode 5."), "{stdout}");
    assert_eq!(stdout.matches("Decode.  median latency: ").count(), 1);
}
