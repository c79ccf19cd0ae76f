//! Server keys written as on the engine's command line (`tp-size`) are the
//! same keys as `tp_size`, wherever they enter: a layer, a matrix file's
//! `set:` or axes, `--set`, `MATRIX_SERVER__*`. And a layer written in the
//! flat style of ltp-sglang's `conf/*.yaml` is refused with where each key
//! belongs.

mod support;

use serde_json::Value;
use support::project::{Project, output, redactions};

/// One bsz_seq product, so each plan has one group.
const ONE: &str = "1;128\n";

/// `matrix plan --json` in `p` with `args`, `env` set; must succeed.
fn plan(p: &Project, args: &[&str], env: &[(&str, &str)]) -> Value {
    p.write("one.csv", ONE);
    let mut cmd = p.matrix(
        &[
            &["plan", "--json", "--model", "qwen", "--mconf", "2l"],
            args,
            &["--bsz-seq", "one.csv"],
        ]
        .concat(),
    );
    for (k, v) in env {
        cmd.env(k, v);
    }
    let (code, stdout, stderr) = output(cmd);
    assert_eq!(code, 0, "stderr: {stderr}");
    serde_json::from_str(&stdout).expect("plan --json is JSON")
}

/// The values that follow each `--tp-size` in the group's launch argv.
fn tp_flags(plan: &Value) -> Vec<String> {
    let groups = plan["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1, "one bsz_seq product, one group");
    let argv: Vec<&str> = groups[0]["launch"]["argv"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    argv.windows(2)
        .filter(|w| w[0] == "--tp-size")
        .map(|w| w[1].to_string())
        .collect()
}

/// Exactly one `--tp-size 4`, the group's `tp` (what the CSV records) is 4,
/// and provenance names `source` as the setter of `server.tp_size`.
fn one_tp_size_4(plan: &Value, source: &str) {
    assert_eq!(tp_flags(plan), vec!["4"]);
    let g = &plan["groups"][0];
    assert_eq!(g["tp"], 4);
    assert_eq!(g["provenance"]["server.tp_size"], source);
    let keys: Vec<&String> = g["provenance"].as_object().unwrap().keys().collect();
    assert!(
        !keys
            .iter()
            .any(|k| k.contains('-') && k.starts_with("server.")),
        "no second spelling of a server key: {keys:?}"
    );
}

#[test]
fn kebab_key_in_a_later_layer_overrides_the_snake_key() {
    let p = Project::new();
    p.write("conf/optional/tp4.yaml", "server:\n  tp-size: 4\n");
    let plan = plan(&p, &["--deploy", "tp8", "--optional", "tp4"], &[]);
    one_tp_size_4(&plan, "conf/optional/tp4.yaml");
}

#[test]
fn kebab_key_in_set_overrides_the_layer() {
    let p = Project::new();
    for (arg, source) in [
        ("server.tp-size=4", "--set server.tp-size"),
        ("tp-size=4", "--set tp-size"),
    ] {
        let plan = plan(&p, &["--deploy", "tp8", "--set", arg], &[]);
        one_tp_size_4(&plan, source);
    }
}

#[test]
fn kebab_key_in_a_matrix_set_overrides_the_layer() {
    let p = Project::new();
    p.write(
        "matrices/tp4.yaml",
        "axes:\n  deploy: tp8\nset:\n  server:\n    tp-size: 4\n",
    );
    let plan = plan(&p, &["--matrix", "matrices/tp4.yaml"], &[]);
    one_tp_size_4(&plan, "matrices/tp4.yaml");
}

#[test]
fn environment_override_replaces_the_layer_key() {
    let p = Project::new();
    let plan = plan(&p, &["--deploy", "tp8"], &[("MATRIX_SERVER__TP_SIZE", "4")]);
    one_tp_size_4(&plan, "env MATRIX_SERVER__TP_SIZE");
}

#[test]
fn show_config_names_the_file_that_set_the_kebab_key() {
    let p = Project::new();
    p.write("conf/optional/tp4.yaml", "server:\n  tp-size: 4\n");
    let (code, stdout, stderr) = output(p.matrix(&[
        "show-config",
        "--json",
        "--deploy",
        "tp8",
        "--optional",
        "tp4",
    ]));
    assert_eq!(code, 0, "{stderr}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["server"]["tp_size"]["value"], 4);
    assert_eq!(v["server"]["tp_size"]["source"], "conf/optional/tp4.yaml");
    assert!(v["server"].get("tp-size").is_none(), "{stdout}");
}

/// An axis named as on the command line is the server key: `--only` finds
/// it by either spelling, and each cell launches with one `--tp-size`.
#[test]
fn kebab_axis_is_the_server_key() {
    let p = Project::new();
    p.write(
        "matrices/tp_axis.yaml",
        "axes:\n  deploy: tp8\n  tp-size: [2, 4]\n",
    );
    for only in ["tp-size=4", "tp_size=4"] {
        let plan = plan(
            &p,
            &["--matrix", "matrices/tp_axis.yaml", "--only", only],
            &[],
        );
        assert_eq!(tp_flags(&plan), vec!["4"], "--only {only}");
        assert_eq!(plan["groups"][0]["tp"], 4);
        assert_eq!(plan["groups"][0]["cells"][0]["axes"]["tp_size"], 4);
    }
}

/// Run `matrix <args>` in `p`, assert exit 2, nothing on stdout, no results
/// folder, and snapshot stderr.
fn fails(p: &Project, name: &str, args: &[&str]) {
    let (code, stdout, stderr) = output(p.matrix(args));
    assert_eq!(code, 2, "{name}: stdout={stdout} stderr={stderr}");
    assert!(stdout.is_empty(), "{name}: nothing on stdout");
    assert!(
        !p.path().join("results").exists(),
        "{name}: nothing written"
    );
    redactions(p.path()).bind(|| insta::assert_snapshot!(name, stderr));
}

#[test]
fn both_spellings_in_one_file_name_both_lines() {
    let p = Project::new();
    p.write(
        "conf/deploy/twice.yaml",
        "description: tp twice\nserver:\n  tp_size: 8\n  ep_size: 8\n  tp-size: 4\n",
    );
    fails(
        &p,
        "duplicate_spellings",
        &["plan", "--model", "qwen", "--deploy", "twice"],
    );
    p.write(
        "matrices/twice.yaml",
        "axes:\n  deploy: tp8\nset:\n  engines:\n    sglang:\n      server:\n        tp-size: 4\n        tp_size: 2\n",
    );
    fails(
        &p,
        "duplicate_spellings_matrix_set",
        &["plan", "--model", "qwen", "--matrix", "matrices/twice.yaml"],
    );
}

#[test]
fn flat_layer_is_told_where_each_key_belongs() {
    let p = Project::new();
    // ltp-sglang style: engine flags at the top level, no `server:`.
    p.write(
        "conf/deploy/flat.yaml",
        "tp_size: 8\nep-size: 8\nmem_fracton_static: 0.8\nport: 31000\noutput_len: 64\nmodel_path: /models/x\n",
    );
    fails(
        &p,
        "flat_layer",
        &["plan", "--model", "qwen", "--deploy", "flat"],
    );
    fails(
        &p,
        "flat_layer_show_config",
        &["show-config", "--deploy", "flat"],
    );
}

#[test]
fn flat_matrix_set_points_at_set_server() {
    let p = Project::new();
    p.write(
        "matrices/flatset.yaml",
        "axes:\n  deploy: tp8\nset:\n  tp-size: 4\n",
    );
    fails(
        &p,
        "flat_matrix_set",
        &[
            "plan",
            "--model",
            "qwen",
            "--matrix",
            "matrices/flatset.yaml",
        ],
    );
}

/// A misspelt section is still a misspelt section, not a flat layer.
#[test]
fn misspelt_section_keeps_its_did_you_mean() {
    let p = Project::new();
    p.write("conf/deploy/typo.yaml", "sever:\n  tp_size: 8\n");
    let (code, _, stderr) = output(p.matrix(&["plan", "--model", "qwen", "--deploy", "typo"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("unknown key `sever`"), "{stderr}");
    assert!(stderr.contains("did you mean `server`?"), "{stderr}");
}
