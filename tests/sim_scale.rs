//! The simulator's time scale changes how long a run takes, never the
//! numbers it reports (docs/SIM.md, "Time scale").
//!
//! The same seeded workload runs against the qwen 2l model at
//! `MATRIX_SIM_TIME_SCALE=1` and at `0.05`; the medians of what the client
//! reports must agree within 2 % (the tolerance, fixed). Every
//! forward step costs [`STEP_MS`] simulated milliseconds (the model's own
//! roofline time is microseconds), so at 0.05 a step is 50 ms of wall time
//! and the loopback cost that does not scale (~0.3–1 ms on a busy 2-core
//! machine, 6–20 ms once divided by 0.05) stays within 2 % of the shortest
//! number compared, one step. With 500 ms steps this machine, under other
//! builds, was seen 1–4 % off on TTFT and ITL (docs/SIM.md, "Time scale").
//!
//! Requests go one at a time (`--max-concurrency 1`): with several in
//! flight, an arrival a few simulated ms either side of a step boundary
//! changes which prefills merge, and the medians of TTFT / ITL / E2E jump
//! by a step between two runs at the *same* scale. Arrivals are still a
//! seeded Poisson schedule at 0.5 simulated requests/s, slower than one
//! request's 2 s, so the test fails if the client kept real-time arrivals
//! against the fast server: its duration and throughput would be 20 times
//! off. The batch is one sequence for the same reason.
//!
//! Nothing here has a wall-clock target; the scale-1 runs take ~12 s
//! because the simulated GPU is that slow.

mod support;

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;
use support::run::RunProject;
use support::sim::{Proc, SOON, cpu_latency_qos, server, wait_healthy};
use support::{bin, model_dir, timing_lock};

/// Simulated milliseconds of every forward step.
const STEP_MS: &str = "1000";
/// The fast scale of the issue.
const FAST: &str = "0.05";
/// The tolerance on the medians.
const TOLERANCE: f64 = 0.02;

/// A server at `scale` with [`STEP_MS`] steps (not waited for).
fn start(scale: &str) -> Proc {
    server(
        &["--sim-step-overhead-ms", STEP_MS],
        &[("MATRIX_SIM_TIME_SCALE", scale)],
    )
}

fn wait_up(p: &Proc) {
    let seen = wait_healthy(p.port, SOON);
    assert_eq!(seen.last(), Some(&200), "not healthy: {}", p.stderr());
}

fn run_matrix(args: &[&str]) -> Output {
    let out = Command::new(bin())
        .args(args)
        .env_remove("MATRIX_BENCH_TIME_SCALE")
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
    serde_json::from_str(&line.replace("NaN", "null")).expect("JSON line")
}

/// `matrix bench serving` against `p`: 4 requests of 64 prompt and 2
/// output tokens at 0.5 simulated requests/s, one at a time. Returns the
/// JSON line and stdout.
fn serving(p: &Proc, dir: &Path) -> (Value, String) {
    let out = dir.join(format!("serving-{}.jsonl", p.port));
    let url = format!("http://127.0.0.1:{}", p.port);
    let o = run_matrix(&[
        "bench",
        "serving",
        "--base-url",
        &url,
        "--backend",
        "sglang",
        "--dataset-name",
        "random-ids",
        "--random-input-len",
        "64",
        "--random-output-len",
        "2",
        "--random-range-ratio",
        "1.0",
        "--num-prompts",
        "4",
        "--request-rate",
        "0.5",
        "--max-concurrency",
        "1",
        "--seed",
        "7",
        "--warmup-requests",
        "0",
        "--output-file",
        out.to_str().expect("utf8"),
    ]);
    (
        last_json_line(&out),
        String::from_utf8_lossy(&o.stdout).into_owned(),
    )
}

/// `matrix bench batch` against `p`: one sequence of 32 tokens, 2 out.
fn batch(p: &Proc, dir: &Path) -> Value {
    let out = dir.join(format!("batch-{}.jsonl", p.port));
    let url = format!("http://127.0.0.1:{}", p.port);
    run_matrix(&[
        "bench",
        "batch",
        "--base-url",
        &url,
        "--skip-warmup",
        "--batch-size",
        "1",
        "--input-len",
        "32",
        "--output-len",
        "2",
        "--result-filename",
        out.to_str().expect("utf8"),
    ]);
    last_json_line(&out)
}

/// Relative differences of `keys` between the two runs, and the keys over
/// the tolerance.
fn compare(what: &str, slow: &Value, fast: &Value, keys: &[&str]) -> Vec<String> {
    let mut over = Vec::new();
    for k in keys {
        let a = slow[k]
            .as_f64()
            .unwrap_or_else(|| panic!("{what}: no {k} in {slow}"));
        let b = fast[k]
            .as_f64()
            .unwrap_or_else(|| panic!("{what}: no {k} in {fast}"));
        assert!(a > 0.0, "{what}: {k} = {a} at scale 1");
        let rel = (b - a).abs() / a;
        eprintln!(
            "{what}: {k}: scale 1 {a:.4}, scale {FAST} {b:.4} ({:+.2} %)",
            (b / a - 1.0) * 100.0
        );
        if rel > TOLERANCE {
            over.push(format!("{k}: {a} vs {b}"));
        }
    }
    over
}

#[test]
fn serving_and_batch_report_the_same_numbers_at_any_scale() {
    let _serial = timing_lock();
    let _qos = cpu_latency_qos();
    // The scale-1 server loads (3 simulated s) while the fast one is measured.
    let slow = start("1");
    let fast = start(FAST);
    let dir = tempfile::tempdir().expect("tmp");
    wait_up(&fast);
    let (s2, stdout) = serving(&fast, dir.path());
    let b2 = batch(&fast, dir.path());
    wait_up(&slow);
    let (s1, _) = serving(&slow, dir.path());
    let b1 = batch(&slow, dir.path());
    assert!(
        stdout.contains(&format!("Simulator time scale {FAST}:")),
        "the client says it un-scales: {stdout}"
    );
    assert_eq!(s1["completed"], 4);
    assert_eq!(s2["completed"], 4);
    assert_eq!(s1["total_output_tokens"], s2["total_output_tokens"]);
    let mut over = compare(
        "serving",
        &s1,
        &s2,
        &[
            "median_ttft_ms",
            "median_itl_ms",
            "median_e2e_latency_ms",
            "median_tpot_ms",
            "request_throughput",
            "output_throughput",
        ],
    );

    over.extend(compare(
        "batch",
        &b1,
        &b2,
        &["prefill_latency", "median_decode_latency", "total_latency"],
    ));
    assert!(over.is_empty(), "over {} %: {over:#?}", TOLERANCE * 100.0);
}

/// one-batch prints the cost model's durations, never wall time: the
/// lines and result file are the same at both scales.
#[test]
fn one_batch_prints_simulated_time_at_any_scale() {
    let dir = tempfile::tempdir().expect("tmp");
    let run = |scale: &str| {
        let file = dir.path().join(format!("r-{scale}.jsonl"));
        let out = Command::new(bin())
            .args(["sim", "one-batch", "--model-path"])
            .arg(model_dir())
            .args(["--sim-step-overhead-ms", "100"])
            .args([
                "--batch-size",
                "2",
                "--input-len",
                "32",
                "--output-len",
                "2",
            ])
            .arg("--result-filename")
            .arg(&file)
            .env("MATRIX_SIM_TIME_SCALE", scale)
            .env_remove("MATRIX_SIM_FAULT")
            .output()
            .expect("one-batch");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8(out.stdout).expect("utf8");
        let lines: Vec<String> = stdout
            .lines()
            .filter(|l| l.contains("latency"))
            .map(String::from)
            .collect();
        (lines, std::fs::read_to_string(&file).expect("result file"))
    };
    let (lines_slow, file_slow) = run("1");
    let (lines_fast, file_fast) = run(FAST);
    assert!(
        lines_slow
            .iter()
            .any(|l| l.starts_with("Prefill. latency: 0.10")),
        "a prefill step is 100 simulated ms: {lines_slow:#?}"
    );
    assert_eq!(lines_slow, lines_fast);
    assert_eq!(file_slow, file_fast);
}

/// `matrix run --engine sim` at scale 0.05: the manifest records the scale,
/// and the CSV's serving latencies are simulated time. Every request needs
/// at least its prefill step ({STEP_MS} simulated ms, 50 ms of wall time),
/// so a median TTFT under that would be wall-clock leaking through.
#[test]
fn run_records_the_scale_and_reports_simulated_time() {
    let mut p = RunProject::new();
    p.sim_scale = 0.05;
    p.write(
        "matrices/scaled.yaml",
        "axes:\n  model: qwen\n  mode: serving\n  deploy: tp8\n  request_rate: 4\n\
         set:\n  workload:\n    seq: 16\n    output_len: 4\n    num_prompts: 6\n",
    );
    let step = format!("sim_step_overhead_ms={STEP_MS}");
    let out = p.run(&[
        "-q",
        "--matrix",
        "matrices/scaled.yaml",
        "--mconf",
        "2l",
        "--set",
        &step,
    ]);
    assert_eq!(out.code, 0, "{}", out.text());
    let id = p.only_run();
    assert_eq!(p.manifest(&id)["sim_time_scale"], 0.05);
    let rows = p.rows(&id);
    assert_eq!(rows.len(), 1, "{rows:#?}");
    let ttft: f64 = rows[0]["median_ttft_ms"].parse().expect("median_ttft_ms");
    let step_ms: f64 = STEP_MS.parse().expect("step");
    assert!(
        ttft >= step_ms,
        "median TTFT {ttft} ms < one {STEP_MS} ms step"
    );
}
