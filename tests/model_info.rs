//! `matrix model-info` end to end: every shipped model config, JSON output,
//! `--config`, errors, and one text report snapshot.

use assert_cmd::Command;
use predicates::prelude::*;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// `matrix --root <worktree> model-info <args>`.
fn model_info(args: &[&str]) -> Command {
    let mut cmd = Command::cargo_bin("matrix").expect("binary builds");
    cmd.args(["--root", ROOT, "model-info"]).args(args);
    cmd
}

const SHIPPED: &[(&str, &str)] = &[
    ("qwen", "full"),
    ("qwen", "2l"),
    ("deepseek", "full"),
    ("deepseek", "2l"),
    ("grok", "full"),
    ("grok", "2l"),
    ("llama", "8b"),
    ("llama", "8b_2l"),
    ("llama", "70b"),
    ("llama", "70b_2l"),
];

#[test]
fn every_shipped_model_and_mconf_reports() {
    for (model, mconf) in SHIPPED {
        model_info(&["--model", model, "--mconf", mconf])
            .assert()
            .success()
            .stdout(predicate::str::contains("parameters"))
            .stdout(predicate::str::contains("decode"));
    }
}

#[test]
fn json_has_integer_parameter_counts() {
    for (model, mconf) in SHIPPED {
        let out = model_info(&["--model", model, "--mconf", mconf, "--json"])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        let v: serde_json::Value = serde_json::from_slice(&out).expect("valid JSON");
        let total = v["params_total"]
            .as_u64()
            .expect("params_total is an integer");
        let active = v["params_active"]
            .as_u64()
            .expect("params_active is an integer");
        assert!(active > 0 && active <= total, "{model}/{mconf}");
        assert!(v["prefill"]["seconds"].as_f64().is_some_and(|s| s > 0.0));
        assert!(v["kv_bytes_per_token"].as_f64().is_some_and(|b| b > 0.0));
    }
}

#[test]
fn config_path_works() {
    let path = format!("{ROOT}/model_conf/llama/config_8b.json");
    model_info(&["--config", &path, "--gpu", "MI300X", "--json"])
        .assert()
        .success()
        .stdout(predicate::str::contains("\"params_total\": 8030261248"))
        .stdout(predicate::str::contains("\"gpu\": \"MI300X\""));
}

#[test]
fn unknown_gpu_exits_2_with_hint() {
    model_info(&["--model", "llama", "--mconf", "8b", "--gpu", "h201"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("error: unknown GPU `h201`"))
        .stderr(predicate::str::contains("hint: did you mean `h200`?"));
}

#[test]
fn unsupported_model_type_exits_2_naming_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("config.json");
    std::fs::write(&path, r#"{"model_type": "bert", "hidden_size": 8}"#).expect("write");
    let path = path.to_str().expect("utf-8 temp path");
    model_info(&["--config", path])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unsupported model_type `bert`"))
        .stderr(predicate::str::contains(path))
        .stderr(predicate::str::contains("hint:").and(predicate::str::contains("qwen3_moe")));
}

#[test]
fn text_report_snapshot_qwen_full_h200_tp8() {
    let out = model_info(&[
        "--model", "qwen", "--mconf", "full", "--gpu", "h200", "--tp", "8", "--bsz", "8", "--seq",
        "1024",
    ])
    .assert()
    .success()
    .get_output()
    .stdout
    .clone();
    let text = String::from_utf8(out)
        .expect("UTF-8 report")
        .replace(ROOT, "[ROOT]");
    insta::assert_snapshot!(text);
}
