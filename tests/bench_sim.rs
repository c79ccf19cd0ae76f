//! `matrix bench` against `matrix sim launch-server`: the load generator's
//! numbers checked request by request against the simulator's ground truth
//! (`/sim/trace`: wall time of arrival and of every token emission, taken
//! in the server right before each chunk is written).
//!
//! The simulator runs at time scale 0.01 with a 1 s simulated step
//! overhead, so every forward step takes ~10 ms of wall time: token gaps are
//! long enough that a timing error of 1 ms would be obvious, and the whole
//! file still runs in a few seconds.
//!
//! What is asserted exactly: completed requests, per-request and total
//! input and output tokens, TTFT causality (client ≥ truth for every
//! request), batch prefill/total causality. What is asserted statistically:
//! the median |ITL gap| is under 1 ms and the median TTFT excess under half
//! a step, each plus the run's send-lateness p99 (the client's own measure
//! of this machine's scheduling delay, ~0.1 ms when quiet), and the
//! batch's median decode step is within 1 ms of the trace's. The p99 gaps
//! are printed, not asserted: on this 2-core machine with two busy loops,
//! a woken client or server thread waits behind a CPU hog for up to one
//! scheduler slice (several ms), which moves single samples by 2–6 ms (see
//! docs/PERFORMANCE.md); on an idle machine they are ~0.3–0.8 ms (ITL).

mod sim_support;

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;
use sim_support::{Proc, get, healthy_server, timing_lock};

/// Steps of 1000 simulated ms at scale 0.01: ~10 ms of wall time each.
const STEP_FLAGS: &[&str] = &["--sim-step-overhead-ms", "1000"];
/// The nominal wall time of one step (ms) under [`STEP_FLAGS`].
const STEP_MS: f64 = 10.0;

/// One request as the simulator saw it.
#[derive(Debug)]
struct Truth {
    prompt_tokens: u64,
    completion_tokens: u64,
    arrival: f64,
    token_times: Vec<f64>,
}

/// `/sim/trace` records in arrival order.
fn trace(p: &Proc) -> Vec<Truth> {
    let v = get(p.port, "/sim/trace").json();
    let mut out: Vec<Truth> = v["requests"]
        .as_array()
        .expect("requests")
        .iter()
        .map(|r| Truth {
            prompt_tokens: r["prompt_tokens"].as_u64().expect("prompt_tokens"),
            completion_tokens: r["completion_tokens"].as_u64().expect("completion_tokens"),
            arrival: r["arrival"].as_f64().expect("arrival"),
            token_times: floats(&r["token_times"]),
        })
        .collect();
    out.sort_by(|a, b| a.arrival.total_cmp(&b.arrival));
    out
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default()
}

fn run_matrix(args: &[&str]) -> Output {
    let out = Command::new(sim_support::bin())
        .args(args)
        .output()
        .expect("run matrix");
    assert!(
        out.status.success(),
        "matrix {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn last_json_line(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).expect("output file");
    let line = text.lines().last().expect("a line");
    let fixed = line
        .replace(": Infinity", ": null")
        .replace(": NaN", ": null");
    serde_json::from_str(&fixed).expect("JSON line")
}

/// numpy-style linear percentile.
fn percentile(xs: &[f64], p: f64) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let h = (v.len() - 1) as f64 * p / 100.0;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(v.len() - 1);
    v[lo] + (h - lo as f64) * (v[hi] - v[lo])
}

/// p99 of |a − b| over paired samples, in ms.
fn p99_gap_ms(pairs: &[(f64, f64)]) -> f64 {
    let gaps: Vec<f64> = pairs.iter().map(|(a, b)| (a - b).abs() * 1e3).collect();
    percentile(&gaps, 99.0)
}

const PROMPTS: usize = 30;
/// Output length of the batch test: 31 decode steps for a stable median.
const BATCH_OUT: usize = 32;
/// Output lengths are uniform in [1, 16] (range ratio 0 applies to both).
const OUT_LEN: u64 = 16;

/// `matrix bench serving` with `backend` against a fresh simulator; returns
/// the JSON line and the trace of the measured requests (warmup dropped).
fn serve_and_trace(backend: &str) -> (Value, Vec<Truth>) {
    let _serial = timing_lock();
    let p = healthy_server(STEP_FLAGS, &[]);
    let dir = tempfile::tempdir().expect("tmp");
    let out = dir.path().join("r.jsonl");
    let url = format!("http://127.0.0.1:{}", p.port);
    let n = PROMPTS.to_string();
    let out_len = OUT_LEN.to_string();
    run_matrix(&[
        "bench",
        "serving",
        "--base-url",
        &url,
        "--backend",
        backend,
        "--dataset-name",
        "random-ids",
        "--random-input-len",
        "2000",
        "--random-range-ratio",
        "0.0",
        "--random-output-len",
        &out_len,
        "--num-prompts",
        &n,
        "--request-rate",
        "100",
        "--seed",
        "3",
        "--warmup-requests",
        "1",
        "--output-details",
        "--output-file",
        out.to_str().expect("utf8"),
    ]);
    let v = last_json_line(&out);
    let mut truth = trace(&p);
    assert_eq!(
        truth.len(),
        PROMPTS + 1,
        "measured requests plus one warmup"
    );
    truth.remove(0);
    (v, truth)
}

/// Pair each client request with its trace record by prompt length (the
/// seed gives every prompt a distinct length; arrival order can differ
/// from send order when two sends are microseconds apart).
fn pair<'a>(v: &Value, truth: &'a [Truth]) -> Vec<(usize, &'a Truth)> {
    let lens: Vec<u64> = v["input_lens"]
        .as_array()
        .expect("input_lens")
        .iter()
        .filter_map(Value::as_u64)
        .collect();
    let mut unique = lens.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), lens.len(), "seed must give distinct lengths");
    lens.iter()
        .enumerate()
        .map(|(i, len)| {
            let t = truth
                .iter()
                .find(|t| t.prompt_tokens == *len)
                .unwrap_or_else(|| panic!("no trace record with {len} prompt tokens"));
            (i, t)
        })
        .collect()
}

fn check_serving(backend: &str) {
    let (v, truth) = serve_and_trace(backend);
    assert_eq!(v["completed"], PROMPTS as u64);
    assert_eq!(v["failed"], 0);
    let trace_out: u64 = truth.iter().map(|t| t.completion_tokens).sum();
    assert_eq!(v["total_output_tokens"].as_u64(), Some(trace_out));
    let trace_in: u64 = truth.iter().map(|t| t.prompt_tokens).sum();
    assert_eq!(v["total_input_tokens"].as_u64(), Some(trace_in));

    let ttfts = floats(&v["ttfts"]);
    let itls: Vec<Vec<f64>> = v["itls"]
        .as_array()
        .expect("itls")
        .iter()
        .map(floats)
        .collect();
    let out_lens: Vec<u64> = v["output_lens"]
        .as_array()
        .expect("output_lens")
        .iter()
        .filter_map(Value::as_u64)
        .collect();
    let mut ttft_pairs = Vec::new();
    let mut itl_pairs = Vec::new();
    for (i, t) in pair(&v, &truth) {
        assert_eq!(out_lens[i], t.completion_tokens, "request {i}");
        ttft_pairs.push((ttfts[i], t.token_times[0] - t.arrival));
        let gaps: Vec<f64> = t.token_times.windows(2).map(|w| w[1] - w[0]).collect();
        assert_eq!(itls[i].len(), gaps.len(), "one ITL per token gap");
        itl_pairs.extend(itls[i].iter().copied().zip(gaps));
    }
    let noise_ms = v["schedule_lateness_p99_ms"].as_f64().expect("lateness");
    check_ttft(backend, &ttft_pairs, STEP_MS / 2.0 + noise_ms);
    check_itl(backend, &itl_pairs, 1.0 + noise_ms);
}

/// TTFT: the client's clock starts before the server sees the request and
/// stops after the server emitted the first token, so client ≥ truth for
/// every request, exactly (both sides read CLOCK_MONOTONIC). The excess is
/// request delivery (pool checkout, write, the server reading headers),
/// which SGLang's TTFT includes and the trace cannot see: ~0.5 ms median
/// on a quiet machine, 2–20 ms when the 2 cores are oversubscribed. Its
/// median is bounded by half a nominal step (a client that missed or
/// mis-stamped the first token would be a step off) plus the p99 send
/// lateness of the same run, the client's own measure of how long this
/// machine makes a woken thread wait.
fn check_ttft(backend: &str, pairs: &[(f64, f64)], bound: f64) {
    for (client, truth) in pairs {
        assert!(
            client >= truth,
            "{backend}: TTFT {client} s < truth {truth} s"
        );
    }
    let median = median_gap_ms(pairs);
    report(backend, "TTFT", pairs);
    assert!(
        median < bound,
        "{backend}: TTFT median excess {median:.3} ms, bound {bound:.3} ms"
    );
}

/// ITL: both sides time the same emissions; the median gap is under 1 ms
/// (0.1–0.2 ms measured, even with two busy loops) plus the run's p99 send
/// lateness, which only matters on a grossly oversubscribed machine (e.g.
/// `--test-threads 8` on 2 cores). The p99 is reported, see the module doc.
fn check_itl(backend: &str, pairs: &[(f64, f64)], bound: f64) {
    let median = median_gap_ms(pairs);
    report(backend, "ITL", pairs);
    assert!(
        median < bound,
        "{backend}: ITL median gap {median:.3} ms, bound {bound:.3} ms"
    );
}

fn median_gap_ms(pairs: &[(f64, f64)]) -> f64 {
    let gaps: Vec<f64> = pairs.iter().map(|(a, b)| (a - b).abs() * 1e3).collect();
    percentile(&gaps, 50.0)
}

/// The p99 gap, printed for `--no-capture` runs and the performance notes.
fn report(backend: &str, what: &str, pairs: &[(f64, f64)]) {
    eprintln!(
        "{backend}: {what} gap vs /sim/trace: median {:.3} ms, p99 {:.3} ms",
        median_gap_ms(pairs),
        p99_gap_ms(pairs)
    );
}

#[test]
fn serving_sglang_matches_sim_trace() {
    check_serving("sglang");
}

#[test]
fn serving_openai_matches_sim_trace() {
    check_serving("openai");
}

/// `matrix bench batch`: one_batch's keys, and latencies that agree with
/// the simulator's trace of the same batch.
#[test]
fn batch_matches_sim_trace() {
    let _serial = timing_lock();
    let p = healthy_server(STEP_FLAGS, &[]);
    let dir = tempfile::tempdir().expect("tmp");
    let out = dir.path().join("result.jsonl");
    let url = format!("http://127.0.0.1:{}", p.port);
    run_matrix(&[
        "bench",
        "batch",
        "--base-url",
        &url,
        "--skip-warmup",
        "--batch-size",
        "4",
        "--input-len",
        "32",
        "--output-len",
        "32",
        "--result-filename",
        out.to_str().expect("utf8"),
    ]);
    let v = last_json_line(&out);
    for k in [
        "run_name",
        "batch_size",
        "input_len",
        "output_len",
        "prefill_latency",
        "prefill_throughput",
        "median_decode_latency",
        "median_decode_throughput",
        "total_latency",
        "overall_throughput",
    ] {
        assert!(v.get(k).is_some(), "missing {k} in {v}");
    }
    let truth = trace(&p);
    assert_eq!(truth.len(), 4);
    assert_eq!(get(p.port, "/sim/stats").json()["flushes"], 1);
    let start = truth.iter().map(|t| t.arrival).fold(f64::MAX, f64::min);
    let step = |k: usize| {
        truth
            .iter()
            .map(|t| t.token_times[k])
            .fold(f64::MIN, f64::max)
    };
    let steps: Vec<f64> = (1..BATCH_OUT).map(|k| step(k) - step(k - 1)).collect();
    let g = |k: &str| v[k].as_f64().expect(k);
    // Causality, exact: the client's batch starts before the server sees
    // it and its tokens arrive after they are emitted.
    assert!(g("prefill_latency") >= step(0) - start);
    assert!(g("total_latency") >= step(BATCH_OUT - 1) - start);
    let (client, server) = (g("median_decode_latency"), percentile(&steps, 50.0));
    let gap = (client - server).abs() * 1e3;
    assert!(
        gap < 1.0,
        "median decode step: client {client} s vs trace {server} s"
    );
    let per_token = g("median_decode_throughput") * client;
    assert!((per_token - 4.0).abs() < 1e-6, "throughput = bsz / latency");
}
