//! One test per class of bad input: each a clear message naming the file
//! (and line where known), a hint, exit code 2, and nothing written.

mod support;

use support::project::{Project, output, redactions};

/// Run `matrix plan <args>` in `p`, assert exit 2 and no results folder,
/// and snapshot stderr.
fn fails(p: &Project, name: &str, args: &[&str]) {
    let (code, stdout, stderr) = output(p.matrix(&[&["plan"], args].concat()));
    assert_eq!(code, 2, "{name}: stdout={stdout} stderr={stderr}");
    assert!(stdout.is_empty(), "{name}: nothing on stdout");
    assert!(
        !p.path().join("results").exists(),
        "{name}: nothing written"
    );
    redactions(p.path()).bind(|| insta::assert_snapshot!(name, stderr));
}

#[test]
fn yaml_syntax_error_names_file_line_column() {
    let p = Project::new();
    p.write("conf/deploy/broken.yaml", "server:\n  tp_size: [8\n");
    fails(
        &p,
        "yaml_syntax",
        &["--model", "qwen", "--deploy", "broken"],
    );
}

#[test]
fn wrong_type_of_a_matrix_setting() {
    let p = Project::new();
    p.write(
        "conf/deploy/badport.yaml",
        "server:\n  tp_size: 8\nrun:\n  port: abc\n",
    );
    fails(
        &p,
        "wrong_type_run",
        &["--model", "qwen", "--deploy", "badport"],
    );
}

#[test]
fn wrong_type_of_a_server_flag() {
    let p = Project::new();
    p.write("conf/deploy/badtp.yaml", "server:\n  tp_size: eight\n");
    fails(
        &p,
        "wrong_type_flag",
        &["--model", "qwen", "--deploy", "badtp"],
    );
}

#[test]
fn unknown_section_key_gets_did_you_mean() {
    let p = Project::new();
    p.write("conf/deploy/typo.yaml", "serverr:\n  tp_size: 8\n");
    fails(&p, "unknown_key", &["--model", "qwen", "--deploy", "typo"]);
}

#[test]
fn unknown_layer_lists_available() {
    let p = Project::new();
    fails(
        &p,
        "unknown_layer",
        &["--model", "qwen", "--deploy", "tp8ep9"],
    );
}

#[test]
fn unknown_model_and_mconf() {
    let p = Project::new();
    fails(&p, "unknown_model", &["--model", "qwenn"]);
    fails(&p, "unknown_mconf", &["--model", "qwen", "--mconf", "3l"]);
}

#[test]
fn malformed_bsz_seq_line() {
    let p = Project::new();
    p.write("sweep.csv", "# ok\n1,2;128\n1,2:128\n");
    fails(
        &p,
        "bsz_seq_line",
        &["--model", "qwen", "--bsz-seq", "sweep.csv"],
    );
}

#[test]
fn undefined_template_variable_in_matrix_file() {
    let p = Project::new();
    p.write(
        "m.yaml",
        "axes:\n  model: qwen\n  mconf: 2l\nderive:\n  output_len: \"{{ bsz * sequence_len }}\"\n",
    );
    fails(&p, "undefined_var_derive", &["--matrix", "m.yaml"]);
}

#[test]
fn undefined_template_variable_in_engine_profile() {
    let p = Project::new();
    let profile = std::fs::read_to_string(p.path().join("conf/engine/sglang.yaml")).unwrap();
    let broken = profile.replace(
        "\"{{ group_dir }}/result.jsonl\"\n    results:",
        "\"{{ grup_dir }}/result.jsonl\"\n    results:",
    );
    assert_ne!(
        profile, broken,
        "the profile changed shape; update this test"
    );
    p.write("conf/engine/sglang.yaml", &broken);
    fails(
        &p,
        "undefined_var_profile",
        &["--model", "qwen", "--mconf", "2l"],
    );
}

#[test]
fn unknown_flag_gets_did_you_mean_and_layer() {
    let p = Project::new();
    p.write(
        "conf/deploy/typo.yaml",
        "server:\n  tp_size: 8\n  ep_sise: 8\n",
    );
    fails(&p, "unknown_flag", &["--model", "qwen", "--deploy", "typo"]);
}

#[test]
fn unknown_flag_from_set() {
    let p = Project::new();
    fails(
        &p,
        "unknown_flag_set",
        &["--model", "qwen", "--set", "mem_fraction=0.8"],
    );
}

#[test]
fn bad_choice_lists_choices() {
    let p = Project::new();
    p.write(
        "conf/backend/fa9.yaml",
        "server:\n  attention_backend: fa9\n",
    );
    fails(&p, "bad_choice", &["--model", "qwen", "--backend", "fa9"]);
}

#[test]
fn empty_matrix() {
    let p = Project::new();
    p.write(
        "m.yaml",
        "axes:\n  model: qwen\n  deploy: [tp8]\nexclude:\n  - deploy: tp8\n",
    );
    fails(&p, "empty_matrix", &["--matrix", "m.yaml"]);
}

#[test]
fn matrix_over_the_cap() {
    let p = Project::new();
    fails(&p, "over_cap", &["--model", "qwen", "--max-cells", "10"]);
    p.write(
        "big.yaml",
        "axes:\n  model: qwen\n  mode: serving\n  request_rate: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n  seq: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n  output_len: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n  num_prompts: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n  seed: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n  max_concurrency: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n",
    );
    fails(&p, "over_cap_default", &["--matrix", "big.yaml"]);
}

#[test]
fn duplicate_axis() {
    let p = Project::new();
    p.write(
        "m.yaml",
        "axes:\n  model: qwen\n  seq: [128]\n  shape:\n    zip: {seq: [1, 2], bsz: [1, 2]}\n",
    );
    fails(&p, "duplicate_axis", &["--matrix", "m.yaml"]);
}

#[test]
fn multi_node_needs_ip() {
    let p = Project::new();
    fails(
        &p,
        "multi_node_no_ip",
        &["--model", "qwen", "--deploy", "tp16ep16"],
    );
}

#[test]
fn set_of_a_swept_key_is_refused() {
    let p = Project::new();
    fails(
        &p,
        "set_conflicts_axis",
        &[
            "--matrix",
            "matrices/grok_online.yaml",
            "--set",
            "request_rate=4",
        ],
    );
}

#[test]
fn managed_flag_points_to_run_setting() {
    let p = Project::new();
    fails(
        &p,
        "managed_port",
        &["--model", "qwen", "--set", "port=31000"],
    );
}

#[test]
fn reject_constraint_names_the_cell() {
    let p = Project::new();
    p.write(
        "m.yaml",
        "axes:\n  model: qwen\n  deploy: [tp8, tp16ep16]\nconstraints:\n  - require: \"tp <= run.gpus_per_node\"\n    else: reject\n    message: one node only\n",
    );
    fails(&p, "rejected", &["--matrix", "m.yaml", "--ip", "10.0.0.1"]);
}

#[test]
fn shared_key_without_a_translation_for_vllm() {
    let p = Project::new();
    // An SGLang flag in a shared layer that vLLM's profile does not map.
    p.write(
        "conf/optional/sglang_only.yaml",
        "server:\n  enable_torch_compile: true\n",
    );
    fails(
        &p,
        "untranslated_key",
        &[
            "--engine",
            "vllm",
            "--model",
            "tiny",
            "--mconf",
            "2l",
            "--optional",
            "sglang_only",
            "--bsz-seq",
            "matrices/bsz_seq.csv",
        ],
    );
}

#[test]
fn only_names_an_axis_and_its_values() {
    let p = Project::new();
    fails(
        &p,
        "only_unknown_value",
        &[
            "--matrix",
            "matrices/grok_online.yaml",
            "--only",
            "request_rate=3",
        ],
    );
}

#[test]
fn malformed_cpu_list() {
    let p = Project::new();
    p.write(
        "conf/deploy/pinned.yaml",
        "server:\n  tp_size: 8\nrun:\n  server_cpus: \"4-2\"\n",
    );
    fails(
        &p,
        "bad_cpu_list",
        &["--model", "qwen", "--deploy", "pinned"],
    );
}
