//! The one_batch parsers against what `matrix sim one-batch` prints and
//! writes: stdout and result file agree, skipped combinations are found,
//! output length 1 leaves the decode fields empty.

mod support;

use std::process::Command;

use camino::Utf8PathBuf;
use matrix::parse::one_batch::{self, Combos, Entry};
use matrix::sim::cost::SimModel;
use support::{bin, model_dir};

#[test]
fn sim_stdout_and_result_file_parse_to_the_same_results() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("result.jsonl");
    // A KV pool of about 3000 tokens: bs 1 and 2 fit at 128+4, bs 64 does not.
    let model = SimModel::load(&Utf8PathBuf::from_path_buf(model_dir()).unwrap()).unwrap();
    let frac = (model.weight_bytes() + 3000.0 * model.kv_bytes_per_token()) / 80e9;
    let out = Command::new(bin())
        .args(["sim", "one-batch", "--model-path"])
        .arg(model_dir())
        .args(["--mem-fraction-static", &frac.to_string()])
        .args(["--batch-size", "1", "2", "64"])
        .args(["--input-len", "128", "--output-len", "1", "4"])
        .arg("--result-filename")
        .arg(&file)
        .env("MATRIX_SIM_TIME_SCALE", "0")
        .env_remove("MATRIX_SIM_FAULT")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(!one_batch::oom_in(&stdout));

    let combos = Combos {
        batch_size: vec![1, 2, 64],
        input_len: vec![128],
        output_len: vec![1, 4],
    };
    let printed = one_batch::parse_stdout(&stdout, "stdout", Some(&combos)).unwrap();
    let keys: Vec<_> = printed.iter().map(Entry::key).collect();
    assert_eq!(keys, combos.all());
    let skipped: Vec<_> = printed
        .iter()
        .filter(|e| matches!(e, Entry::Skipped(_)))
        .map(Entry::key)
        .collect();
    assert_eq!(skipped, [(64, 128, 1), (64, 128, 4)]);

    let text = std::fs::read_to_string(&file).unwrap();
    let json = one_batch::parse_result_jsonl(&text, "result.jsonl").unwrap();
    assert_eq!(json.len(), 4);
    for r in &json {
        let Some(Entry::Measured(p)) =
            one_batch::find(&printed, r.batch_size, r.input_len, r.output_len)
        else {
            panic!("no printed result for {r:?}");
        };
        assert_eq!(r.output_len == 1, r.median_decode_latency.is_none());
        assert_eq!(
            p.median_decode_latency.is_none(),
            r.median_decode_latency.is_none()
        );
        let close = |a: f64, b: f64, decimals: i32| {
            assert!(
                (a - b).abs() <= 0.5 * 10f64.powi(-decimals) * 1.0001,
                "{a} vs {b} ({r:?})"
            )
        };
        close(p.prefill_latency, r.prefill_latency, 5);
        close(p.prefill_throughput, r.prefill_throughput, 2);
        close(p.total_latency, r.total_latency, 3);
        close(p.overall_throughput, r.overall_throughput, 2);
        if let (Some(a), Some(b)) = (p.median_decode_latency, r.median_decode_latency) {
            close(a, b, 5);
        }
    }
}

#[test]
fn sim_oom_is_recognised() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(bin())
        .args(["sim", "one-batch", "--model-path"])
        .arg(model_dir())
        .args([
            "--batch-size",
            "16",
            "--input-len",
            "64",
            "--output-len",
            "2",
        ])
        .arg("--result-filename")
        .arg(dir.path().join("r.jsonl"))
        .env("MATRIX_SIM_TIME_SCALE", "0")
        .env("MATRIX_SIM_FAULT", "oom_above=8")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(one_batch::oom_in(&log), "{log}");
}
