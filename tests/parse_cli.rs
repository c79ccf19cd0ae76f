//! `matrix parse`: SGLang 0.5.23 result files and logs → the CSV rows
//! `matrix run` writes (snapshots), `-o`, and its errors.

use std::path::PathBuf;

use assert_cmd::Command;

fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/parse")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

fn matrix(args: &[&str]) -> Command {
    let mut cmd = Command::cargo_bin("matrix").unwrap();
    cmd.current_dir(std::env::temp_dir())
        .arg("parse")
        .args(args);
    cmd
}

fn ok(args: &[&str]) -> String {
    let out = matrix(args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn fail(args: &[&str]) -> (i32, String) {
    let out = matrix(args).output().unwrap();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/parse");
    let stderr = String::from_utf8_lossy(&out.stderr).replace(dir.to_str().unwrap(), "[FIXTURES]");
    (out.status.code().unwrap_or(-1), stderr)
}

#[test]
fn one_batch_result_jsonl() {
    let csv = ok(&[
        "--format",
        "sglang-one-batch",
        "--run-id",
        "ext",
        &fixture("one_batch.result.jsonl"),
    ]);
    insta::assert_snapshot!(csv);
}

#[test]
fn one_batch_stdout_with_lists_and_a_skipped_combination() {
    let csv = ok(&[
        "--format",
        "sglang-one-batch",
        "--batch-size",
        "1,2,4,8",
        "--input-len",
        "1024",
        "--output-len",
        "128",
        &fixture("one_batch.skipped.stdout.txt"),
    ]);
    insta::assert_snapshot!(csv);
}

/// The printed numbers are the JSON ones rounded as one_batch prints them.
#[test]
fn one_batch_stdout_agrees_with_its_result_file() {
    let lists = [
        "--batch-size",
        "1,2,4",
        "--input-len",
        "1024",
        "--output-len",
        "128",
    ];
    let mut args = vec!["--format", "sglang-one-batch"];
    args.extend(lists);
    let log = fixture("one_batch.stdout.txt");
    let printed = ok(&[args.as_slice(), &[log.as_str()]].concat());
    let json = ok(&[
        "--format",
        "sglang-one-batch",
        &fixture("one_batch.result.jsonl"),
    ]);
    let rows = |t: &str| -> Vec<Vec<String>> {
        t.lines()
            .skip(1)
            .map(|l| l.split(',').map(String::from).collect())
            .collect()
    };
    let (p, j) = (rows(&printed), rows(&json));
    assert_eq!(p.len(), 3);
    let header: Vec<&str> = printed.lines().next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    for (a, b) in p.iter().zip(&j) {
        for c in ["bsz", "input_len", "output_len"] {
            assert_eq!(a[col(c)], b[col(c)], "{c}");
        }
        for (c, tol) in [
            ("prefill_latency_s", 5e-6),
            ("prefill_throughput", 5e-3),
            ("median_decode_latency_s", 5e-6),
            ("median_decode_throughput", 5e-3),
            ("e2e_latency_s", 5e-4),
            ("e2e_throughput", 5e-3),
        ] {
            let x: f64 = a[col(c)].parse().unwrap();
            let y: f64 = b[col(c)].parse().unwrap();
            assert!((x - y).abs() <= tol * 1.0001, "{c}: {x} vs {y}");
        }
    }
}

#[test]
fn serving_output_files_of_both_backends() {
    let csv = ok(&[
        "--format",
        "sglang-serving",
        &fixture("serving.sglang.jsonl"),
        &fixture("serving.sglang-oai.jsonl"),
    ]);
    insta::assert_snapshot!(csv);
}

#[test]
fn output_file_holds_what_stdout_prints() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sub/out.csv");
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    std::fs::write(&out, "stale\n").unwrap();
    let file = fixture("serving.sglang.jsonl");
    let printed = ok(&["--format", "sglang-serving", &file]);
    let quiet = ok(&[
        "--format",
        "sglang-serving",
        &file,
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(quiet, "");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), printed);
}

#[test]
fn a_log_without_lists_that_cannot_be_inferred_is_a_usage_error() {
    let (code, stderr) = fail(&[
        "--format",
        "sglang-one-batch",
        &fixture("one_batch.stdout.txt"),
    ]);
    assert_eq!(code, 2);
    insta::assert_snapshot!(stderr);
}

#[test]
fn a_serving_file_read_as_one_batch_names_the_missing_key() {
    let (code, stderr) = fail(&[
        "--format",
        "sglang-one-batch",
        &fixture("serving.sglang.jsonl"),
    ]);
    assert_eq!(code, 2);
    insta::assert_snapshot!(stderr);
}

#[test]
fn lists_must_come_together() {
    let (code, stderr) = fail(&[
        "--format",
        "sglang-one-batch",
        "--batch-size",
        "1",
        &fixture("one_batch.stdout.txt"),
    ]);
    assert_eq!(code, 2);
    assert!(stderr.contains("--input-len"), "{stderr}");
}

/// The printed results are attributed to the lists in one_batch's order;
/// lists that do not fit the numbers are refused with the line named, and
/// nothing is written to `-o`.
#[test]
fn lists_that_do_not_fit_the_printed_numbers_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.csv");
    let log = fixture("one_batch.stdout.txt");
    let run = |bszs: &str| {
        fail(&[
            "--format",
            "sglang-one-batch",
            "--batch-size",
            bszs,
            "--input-len",
            "1024",
            "--output-len",
            "128",
            "-o",
            out.to_str().unwrap(),
            &log,
        ])
    };
    // The right lists pass.
    let good = ok(&[
        "--format",
        "sglang-one-batch",
        "--batch-size",
        "1,2,4",
        "--input-len",
        "1024",
        "--output-len",
        "128",
        &log,
    ]);
    assert_eq!(good.lines().count(), 4, "{good}");
    // Wrong order: the first result (batch 1, line 13) taken for batch 2.
    let (code, stderr) = run("2,1,4");
    assert_eq!(code, 2);
    assert!(!out.exists(), "nothing half-way");
    insta::assert_snapshot!("wrong_order", stderr);
    // Batch size 2 left out: the second result (line 21) taken for batch 4.
    let (code, stderr) = run("1,4");
    assert_eq!(code, 2);
    assert!(!out.exists(), "nothing half-way");
    assert!(
        stderr.contains("one_batch.stdout.txt:21: the result printed here is not (batch 4, input 1024, output 128), combination 2 of the lists"),
        "{stderr}"
    );
}
