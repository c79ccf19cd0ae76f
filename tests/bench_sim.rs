//! `matrix bench` against `matrix sim launch-server`: the load generator's
//! numbers checked request by request against the simulator's ground truth
//! (`/sim/trace`: wall time of arrival and of every token emission, taken
//! in the server right before each chunk is written).
//!
//! The simulator runs at time scale 0.01 with a 1 s simulated step
//! overhead, so every forward step takes ~10 ms of wall time: token gaps are
//! long enough that a timing error of 1 ms would be obvious, and the whole
//! file still runs in a few seconds. The client learns the scale from the
//! server and reports simulated time (docs/SIM.md, "Time scale"); its
//! numbers are multiplied back by the trace's `time_scale` to compare them
//! with the trace's wall-clock stamps.
//!
//! What is asserted exactly: completed requests, per-request and total
//! input and output tokens, TTFT causality (client ≥ truth for every
//! request), batch prefill/total causality. What is asserted statistically,
//! over 200 requests (~1,600 token gaps): the median of |client − trace|
//! is under 1 ms for TTFT and ITL on every run, and the batch's median
//! decode step is within 1 ms of the trace's.
//!
//! The p99 of |client − trace| under 1 ms is a separate, ignored tier
//! (`*_p99_under_cpu_latency_qos`, run by `.ci/run` as root): it holds the
//! kernel's CPU latency QoS at 0 while it measures
//! ([`support::sim::cpu_latency_qos`], as `cyclictest` does), because on
//! this VM a halted vCPU takes over 1 ms to wake for ~1 % of wake-ups,
//! which is the platform's floor, not the client's error
//! (docs/PERFORMANCE.md has both). Where that request cannot be made (not
//! root) those tests fail with the reason; they never pass unmeasured.

mod support;

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;
use support::sim::{Proc, cpu_latency_qos, get, healthy_server};
use support::timing_lock;

/// Steps of 1000 simulated ms at scale 0.01: ~10 ms of wall time each.
const STEP_FLAGS: &[&str] = &["--sim-step-overhead-ms", "1000"];

/// One request as the simulator saw it.
#[derive(Debug)]
struct Truth {
    prompt_tokens: u64,
    completion_tokens: u64,
    arrival: f64,
    token_times: Vec<f64>,
}

/// The server's time scale: wall seconds per simulated second, by which
/// the client's (simulated) numbers are turned back into wall time.
fn time_scale(p: &Proc) -> f64 {
    let v = get(p.port, "/sim/trace").json();
    v["time_scale"].as_f64().expect("time_scale")
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
    let out = Command::new(support::bin())
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

/// Enough requests that p99 is not the single worst one: a lone
/// descheduled thread moves one request, not the percentile.
const PROMPTS: usize = 200;
/// Output length of the batch test: 31 decode steps for a stable median.
const BATCH_OUT: usize = 32;
/// Output lengths are uniform in [1, 16] (range ratio 0 applies to both).
const OUT_LEN: u64 = 16;

/// `matrix bench serving` with `backend` against a fresh simulator; returns
/// the JSON line and the trace of the measured requests (warmup dropped).
/// The caller holds [`timing_lock`] (and the QoS request, where it needs one).
fn serve_and_trace(backend: &str) -> (Value, Vec<Truth>, f64) {
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
        // Simulated requests/s: 100/s of wall time at scale 0.01.
        "--request-rate",
        "1",
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
    (v, truth, time_scale(&p))
}

/// Pair each client request with its trace record by prompt length: the
/// k-th request of a length (in send order) with the k-th record of that
/// length (in arrival order). Arrival order can differ from send order when
/// two sends are microseconds apart, so the length, not the position, is
/// the key; two such sends of one length would also need the same length
/// drawn twice in a row (about 1 in 2,000 per pair).
fn pair<'a>(v: &Value, truth: &'a [Truth]) -> Vec<(usize, &'a Truth)> {
    let mut used = vec![false; truth.len()];
    v["input_lens"]
        .as_array()
        .expect("input_lens")
        .iter()
        .filter_map(Value::as_u64)
        .enumerate()
        .map(|(i, len)| {
            let j = (0..truth.len())
                .find(|&j| !used[j] && truth[j].prompt_tokens == len)
                .unwrap_or_else(|| panic!("no trace record with {len} prompt tokens"));
            used[j] = true;
            (i, &truth[j])
        })
        .collect()
}

/// One run: the exact checks and the medians (see [`gaps`]); each p99 is
/// printed, not asserted (that is [`check_serving_p99`]'s job).
fn check_serving(backend: &str) {
    let _serial = timing_lock();
    let (v, truth, scale) = serve_and_trace(backend);
    let (ttft, itl) = exact_checks(&v, &truth, scale);
    gaps(backend, "TTFT", &ttft);
    gaps(backend, "ITL", &itl);
}

/// Up to this many runs per backend for the p99 bound (see [`check_serving_p99`]).
const ATTEMPTS: usize = 8;

/// The p99 bound, with the CPU latency QoS request held (a failure, not a
/// skip, when it cannot be made): exact checks and medians on every run,
/// the p99 bound on the quietest of up to [`ATTEMPTS`] runs. Interference
/// (the host stealing a vCPU: 1–5 % of CPU time on this VM, in multi-ms
/// slices) can only add to a gap, never make the client more accurate, so
/// any one run under 1 ms at p99 shows what the client itself achieves;
/// each run's p99 is printed.
fn check_serving_p99(backend: &str) {
    let _serial = timing_lock();
    let _qos = cpu_latency_qos().unwrap_or_else(|e| panic!("{backend}: no CPU latency QoS: {e}"));
    let mut tried = Vec::new();
    for _ in 0..ATTEMPTS {
        let (v, truth, scale) = serve_and_trace(backend);
        let (ttft, itl) = exact_checks(&v, &truth, scale);
        let ttft_p99 = gaps(backend, "TTFT", &ttft);
        let itl_p99 = gaps(backend, "ITL", &itl);
        if ttft_p99 < 1.0 && itl_p99 < 1.0 {
            return;
        }
        tried.push((ttft_p99, itl_p99));
    }
    panic!("{backend}: p99 gap (TTFT, ITL) over 1 ms in every run: {tried:?} ms");
}

/// (client, trace) values of one metric, in seconds.
type Pairs = Vec<(f64, f64)>;

/// Counts, tokens and TTFT causality, exactly. Returns the pairs of TTFT
/// and of every ITL, the client's turned into wall time (× `scale`).
fn exact_checks(v: &Value, truth: &[Truth], scale: f64) -> (Pairs, Pairs) {
    assert_eq!(v["completed"], PROMPTS as u64);
    assert_eq!(v["failed"], 0);
    let trace_out: u64 = truth.iter().map(|t| t.completion_tokens).sum();
    assert_eq!(v["total_output_tokens"].as_u64(), Some(trace_out));
    let trace_in: u64 = truth.iter().map(|t| t.prompt_tokens).sum();
    assert_eq!(v["total_input_tokens"].as_u64(), Some(trace_in));

    let wall = |xs: Vec<f64>| xs.into_iter().map(|x| x * scale).collect::<Vec<f64>>();
    let ttfts = wall(floats(&v["ttfts"]));
    let itls: Vec<Vec<f64>> = v["itls"]
        .as_array()
        .expect("itls")
        .iter()
        .map(|x| wall(floats(x)))
        .collect();
    let out_lens: Vec<u64> = v["output_lens"]
        .as_array()
        .expect("output_lens")
        .iter()
        .filter_map(Value::as_u64)
        .collect();
    let mut ttft_pairs = Vec::new();
    let mut itl_pairs = Vec::new();
    for (i, t) in pair(v, truth) {
        assert_eq!(out_lens[i], t.completion_tokens, "request {i}");
        let pair = (ttfts[i], t.token_times[0] - t.arrival);
        // The client's clock starts before the server sees the request and
        // stops after the server emitted the first token (both read
        // CLOCK_MONOTONIC): client ≥ truth, always.
        assert!(pair.0 >= pair.1, "TTFT {} s < truth {} s", pair.0, pair.1);
        ttft_pairs.push(pair);
        let gaps: Vec<f64> = t.token_times.windows(2).map(|w| w[1] - w[0]).collect();
        assert_eq!(itls[i].len(), gaps.len(), "one ITL per token gap");
        itl_pairs.extend(itls[i].iter().copied().zip(gaps));
    }
    (ttft_pairs, itl_pairs)
}

/// Print and bound one metric's |client − trace| gaps; returns the p99.
/// TTFT's gap is request delivery (pool checkout, write, the server waking
/// to read the headers) plus first-chunk delivery, which SGLang's TTFT
/// includes and the trace cannot see: ~0.25 ms median, ~0.5–0.7 ms p99.
/// ITL's is chunk delivery alone: ~0.05 ms median, ~0.2–0.5 ms p99. The
/// median is asserted under 1 ms on every run: a client that missed or
/// mis-stamped tokens would be a 10 ms step off.
fn gaps(backend: &str, what: &str, pairs: &[(f64, f64)]) -> f64 {
    let gaps_ms: Vec<f64> = pairs.iter().map(|(a, b)| (a - b).abs() * 1e3).collect();
    let (median, p99) = (percentile(&gaps_ms, 50.0), percentile(&gaps_ms, 99.0));
    eprintln!(
        "{backend}: {what} gap vs /sim/trace over {} samples: median {median:.3} ms, p99 {p99:.3} ms",
        pairs.len()
    );
    assert!(median < 1.0, "{backend}: {what} median gap {median:.3} ms");
    p99
}

#[test]
fn serving_sglang_matches_sim_trace() {
    check_serving("sglang");
}

#[test]
fn serving_openai_matches_sim_trace() {
    check_serving("openai");
}

#[test]
#[ignore = "needs root (CPU latency QoS on /dev/cpu_dma_latency); run by .ci/run"]
fn serving_sglang_p99_under_cpu_latency_qos() {
    check_serving_p99("sglang");
}

#[test]
#[ignore = "needs root (CPU latency QoS on /dev/cpu_dma_latency); run by .ci/run"]
fn serving_openai_p99_under_cpu_latency_qos() {
    check_serving_p99("openai");
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
    // The client's latencies are simulated seconds: back to wall time.
    let scale = time_scale(&p);
    let g = |k: &str| v[k].as_f64().expect(k) * scale;
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
    let per_token =
        v["median_decode_throughput"].as_f64().expect("tp") * g("median_decode_latency") / scale;
    assert!((per_token - 4.0).abs() < 1e-6, "throughput = bsz / latency");
}
