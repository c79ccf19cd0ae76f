//! `matrix sim one-batch`: SGLang's line formats, result lines, skipping,
//! roofline-shaped latencies and profiler markers.

mod support;

use std::collections::BTreeSet;
use std::process::{Command, Output};

use camino::Utf8PathBuf;
use matrix::sim::cost::{SeqStep, SimModel};
use matrix::sim::timing::{RooflineTimer, StepTimer};
use serde_json::Value;
use support::{bin, model_dir};

/// Copied from the shared SGLang 0.5.23 fixtures.
const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/sim/one_batch.stdout.txt"
);

fn one_batch(args: &[&str], env: &[(&str, &str)]) -> Output {
    let model = model_dir();
    let mut cmd = Command::new(bin());
    cmd.args(["sim", "one-batch", "--model-path", model.to_str().unwrap()])
        .args(args);
    cmd.env("MATRIX_SIM_TIME_SCALE", "0.001")
        .env_remove("MATRIX_SIM_FAULT");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn results(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A line with every number replaced by `N` and padding runs collapsed
/// (`%9.2f` pads to a width, so the number of spaces varies with the value).
fn shape(line: &str) -> String {
    let line = line
        .split(' ')
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let mut out = String::new();
    let mut in_num = false;
    for c in line.chars() {
        if c.is_ascii_digit() || (in_num && c == '.') {
            if !in_num {
                out.push('N');
            }
            in_num = true;
        } else {
            in_num = false;
            out.push(c);
        }
    }
    out
}

fn regex_like_sglang(out: &str) {
    // SGLang's tests read these with `Prefill\. latency: ([\d.]+) s` etc.
    for prefix in [
        "Prefill. latency: ",
        "Decode.  median latency: ",
        "Total. latency: ",
    ] {
        let line = out
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?}"));
        let num = line[prefix.len()..].trim_start().split(' ').next().unwrap();
        assert!(num.parse::<f64>().is_ok(), "{line}");
        assert!(
            num.chars().all(|c| c.is_ascii_digit() || c == '.'),
            "{line}"
        );
    }
}

#[test]
fn prints_sglang_lines_and_writes_six_results() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.jsonl");
    let o = one_batch(
        &[
            "--tp-size",
            "8",
            "--batch-size",
            "1",
            "2",
            "4",
            "--input-len",
            "128",
            "256",
            "--output-len",
            "8",
            "--result-filename",
            file.to_str().unwrap(),
        ],
        &[],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = stdout(&o);
    regex_like_sglang(&out);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("max_total_num_tokens="));
    assert_eq!(lines[1], "Warmup ...");
    assert_eq!(out.matches("Benchmark ...").count(), 1);
    assert_eq!(
        out.matches("Prefill. latency").count(),
        7,
        "warmup + 6 cases"
    );
    assert_eq!(out.matches("Decode 4. Batch size").count(), 7);
    assert!(
        !out.contains("Decode 5."),
        "only the first five decode steps print"
    );
    let fixture: BTreeSet<String> = std::fs::read_to_string(FIXTURE)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('['))
        .map(shape)
        .collect();
    for line in &lines {
        assert!(
            fixture.contains(&shape(line)),
            "line shape not in SGLang's output: {line:?}"
        );
    }
    let widths = |l: &str| {
        l.find("throughput:")
            .map(|i| l[i..].find(" token/s").unwrap())
    };
    let decode = lines.iter().find(|l| l.starts_with("Decode 0.")).unwrap();
    assert_eq!(
        widths(decode),
        Some("throughput: ".len() + 9),
        "%9.2f throughput: {decode:?}"
    );
    let rs = results(&file);
    assert_eq!(rs.len(), 6);
    let keys = [
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
        "simulated",
    ];
    for r in &rs {
        let got: Vec<&str> = r.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(got, keys);
        assert_eq!(r["simulated"], true);
    }
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.starts_with(r#"{"run_name": "default", "batch_size": 1, "input_len": 128, "output_len": 8, "prefill_latency": "#), "{text}");
}

#[test]
fn output_len_one_has_no_median_and_run_name_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.jsonl");
    let o = one_batch(
        &[
            "--output-len",
            "1",
            "--input-len",
            "64",
            "--run-name",
            "x1",
            "--result-filename",
            file.to_str().unwrap(),
        ],
        &[],
    );
    assert!(o.status.success());
    assert!(!stdout(&o).contains("median"));
    let r = &results(&file)[0];
    assert_eq!(r["run_name"], "x1");
    assert!(r.get("median_decode_latency").is_none());
}

#[test]
fn combinations_too_big_for_the_pool_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.jsonl");
    // Just above the weights: a pool of a few thousand tokens on one H100.
    let model = SimModel::load(&Utf8PathBuf::from_path_buf(model_dir()).unwrap()).unwrap();
    let frac = (model.weight_bytes() + 3000.0 * model.kv_bytes_per_token()) / 80e9;
    let o = one_batch(
        &[
            "--mem-fraction-static",
            &frac.to_string(),
            "--batch-size",
            "1",
            "64",
            "--input-len",
            "128",
            "--output-len",
            "4",
            "--result-filename",
            file.to_str().unwrap(),
        ],
        &[],
    );
    let out = stdout(&o);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mtt: u64 = out
        .lines()
        .next()
        .unwrap()
        .trim_start_matches("max_total_num_tokens=")
        .parse()
        .unwrap();
    assert!(
        64 > mtt / 132 && 1 <= mtt / 132,
        "pool {mtt} does not split the cases"
    );
    assert!(
        out.contains("skipping (64, 128, 4) due to max batch size limit"),
        "{out}"
    );
    assert_eq!(results(&file).len(), 1);
}

/// With no step overhead the printed latencies are the roofline times, so
/// they scale with batch and sequence exactly as the cost model predicts.
#[test]
fn latencies_follow_the_roofline() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.jsonl");
    let o = one_batch(
        &[
            "--sim-step-overhead-ms",
            "0",
            "--batch-size",
            "1",
            "8",
            "--input-len",
            "256",
            "2048",
            "--output-len",
            "4",
            "--result-filename",
            file.to_str().unwrap(),
        ],
        &[],
    );
    assert!(o.status.success());
    let rs = results(&file);
    let model = SimModel::load(&Utf8PathBuf::from_path_buf(model_dir()).unwrap()).unwrap();
    let timer = RooflineTimer {
        model,
        gpu: matrix::sim::cost::gpu("h100").unwrap(),
        n_gpus: 1,
        overhead_s: 0.0,
    };
    let prefill = |bs: u64, il: u64| {
        timer.step_seconds(&vec![
            SeqStep {
                new_tokens: il,
                context: 0
            };
            bs as usize
        ])
    };
    let get = |bs: u64, il: u64| {
        rs.iter()
            .find(|r| r["batch_size"] == bs && r["input_len"] == il)
            .unwrap()
    };
    let base = get(1, 256)["prefill_latency"].as_f64().unwrap();
    for (bs, il) in [(1, 2048), (8, 256), (8, 2048)] {
        let measured = get(bs, il)["prefill_latency"].as_f64().unwrap() / base;
        let predicted = prefill(bs, il) / prefill(1, 256);
        assert!(
            (measured / predicted - 1.0).abs() < 1e-9,
            "({bs},{il}) ratio {measured} vs {predicted}"
        );
        assert!(measured > 1.0);
    }
    let d1 = get(1, 2048)["median_decode_latency"].as_f64().unwrap();
    let d8 = get(8, 2048)["median_decode_latency"].as_f64().unwrap();
    assert!(d8 >= d1, "bigger decode batches are not faster per step");
    assert!(
        get(8, 2048)["median_decode_throughput"].as_f64().unwrap()
            > get(1, 2048)["median_decode_throughput"].as_f64().unwrap()
    );
}

#[test]
fn cuda_profiler_markers_around_the_stage() {
    let o = one_batch(
        &[
            "--output-len",
            "8",
            "--input-len",
            "64",
            "--profile",
            "--profile-activities",
            "CUDA_PROFILER",
            "--profile-stage",
            "decode",
            "--result-filename",
            "",
        ],
        &[],
    );
    assert!(o.status.success());
    let out = stdout(&o);
    let bench = &out[out.find("Benchmark ...").unwrap()..];
    let start = bench.find("CUDA Profiler started").expect("start marker");
    let stop = bench.find("CUDA Profiler stopped").expect("stop marker");
    assert!(bench.find("Prefill.").unwrap() < start && start < stop);
    assert!(bench.contains("CUDA profiler trace for decode completed"));
    assert!(
        !out[..out.find("Benchmark ...").unwrap()].contains("CUDA Profiler"),
        "warmup is not profiled"
    );
}

#[test]
fn bad_bench_flags_exit_2() {
    for args in [
        vec!["--batch-size", "0"],
        vec!["--profile-stage", "middle"],
        vec!["--input-len"],
    ] {
        let o = one_batch(&args, &[]);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
    }
}
