//! `matrix plan` and `matrix show-config` end to end on the shipped files.

mod support;

use serde_json::Value;
use std::path::Path;
use support::ROOT;
use support::project::{Project, matrix_at, output, redactions};

fn plan_json(root: &Path, args: &[&str]) -> Value {
    let (code, stdout, stderr) = output(matrix_at(root, &[&["plan", "--json"], args].concat()));
    assert_eq!(code, 0, "stderr: {stderr}");
    serde_json::from_str(&stdout).expect("plan --json is JSON")
}

fn has_pair(argv: &[Value], flag: &str, value: &str) -> bool {
    argv.windows(2).any(|w| w[0] == flag && w[1] == value)
}

#[test]
fn acceptance_qwen_tp8ep8_one_group_per_bsz_seq_line() {
    let root = Path::new(ROOT);
    let plan = plan_json(
        root,
        &["--model", "qwen", "--mconf", "2l", "--deploy", "tp8ep8"],
    );
    let csv = std::fs::read_to_string(root.join("matrices/bsz_seq.csv")).unwrap();
    let lines: Vec<&str> = csv
        .lines()
        .map(|l| l.split('#').next().unwrap().trim())
        .filter(|l| !l.is_empty())
        .collect();
    let groups = plan["groups"].as_array().unwrap();
    assert_eq!(groups.len(), lines.len());
    let mut expected_cells = 0;
    for (g, line) in groups.iter().zip(&lines) {
        let (b, s) = line.split_once(';').unwrap();
        let (nb, ns) = (b.split(',').count(), s.split(',').count());
        expected_cells += nb * ns;
        let argv = g["launch"]["argv"].as_array().unwrap();
        assert!(has_pair(argv, "--tp-size", "8") && has_pair(argv, "--ep-size", "8"));
        assert!(g["launch"]["env"].is_object());
        assert!(g["id"].as_str().unwrap().starts_with('g'));
        let cells = g["cells"].as_array().unwrap();
        assert_eq!(cells.len(), nb * ns);
        for c in cells {
            assert!(c["id"].as_str().unwrap().starts_with('c'));
            assert!(c["axes"]["bsz"].is_u64() && c["axes"]["seq"].is_u64());
            assert!(
                c["client"].is_null(),
                "latency cells have no client of their own"
            );
        }
        // The batch sizes and lengths of the line are passed as lists.
        let pos = argv.iter().position(|a| a == "--batch-size").unwrap();
        assert_eq!(
            argv[pos + 1..pos + 1 + nb]
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect::<Vec<_>>()
                .join(","),
            b.replace(' ', "")
        );
    }
    assert_eq!(
        plan["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["cells"].as_array().unwrap().len())
            .sum::<usize>(),
        expected_cells
    );
}

#[test]
fn acceptance_text_plan_snapshot() {
    let root = Path::new(ROOT);
    let (code, stdout, stderr) = output(matrix_at(
        root,
        &[
            "plan", "--model", "qwen", "--mconf", "2l", "--deploy", "tp8ep8",
        ],
    ));
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("--tp-size 8") && stdout.contains("--ep-size 8"));
    redactions(root).bind(|| insta::assert_snapshot!("plan_qwen_2l_tp8ep8", stdout));
}

#[test]
fn every_shipped_matrix_plans() {
    let root = Path::new(ROOT);
    let mut n = 0;
    for entry in std::fs::read_dir(root.join("matrices")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let rel = path
            .strip_prefix(root)
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        let plan = plan_json(root, &["--matrix", &rel]);
        n += 1;
        for g in plan["groups"].as_array().unwrap() {
            for c in g["cells"].as_array().unwrap() {
                if g["mode"] == "serving" {
                    let argv = c["client"]["argv"]
                        .as_array()
                        .unwrap_or_else(|| panic!("{rel}: serving cell without client"));
                    assert!(argv.iter().any(|a| a == "--num-prompts"), "{rel}");
                }
            }
        }
    }
    assert!(n >= 7, "expected the shipped example matrices, found {n}");
}

#[test]
fn grok_online_derives_num_prompts_and_keeps_repeats() {
    let plan = plan_json(Path::new(ROOT), &["--matrix", "matrices/grok_online.yaml"]);
    let g = &plan["groups"][0];
    assert_eq!(
        plan["groups"].as_array().unwrap().len(),
        1,
        "one server for all rates"
    );
    let got: Vec<(f64, u64)> = g["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["axes"]["request_rate"].as_f64().unwrap(),
                c["workload"]["num_prompts"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (1.0, 300),
            (2.0, 600),
            (4.0, 1200),
            (8.0, 2400),
            (16.0, 2400)
        ]
    );
    for c in g["cells"].as_array().unwrap() {
        assert_eq!(c["workload"]["repeats"], 3);
        assert_eq!(c["workload"]["select"], "best");
    }
}

#[test]
fn plan_is_deterministic_and_ids_are_stable() {
    let root = Path::new(ROOT);
    let ids = |p: &Value| -> Vec<String> {
        p["groups"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|g| {
                std::iter::once(g["id"].as_str().unwrap().to_string()).chain(
                    g["cells"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|c| c["id"].as_str().unwrap().to_string()),
                )
            })
            .collect()
    };
    let a = plan_json(
        root,
        &["--matrix", "matrices/qwen_latency.yaml", "--run-name", "a"],
    );
    let b = plan_json(
        root,
        &["--matrix", "matrices/qwen_latency.yaml", "--run-name", "b"],
    );
    assert_eq!(ids(&a), ids(&b));
    // A changed server setting changes the ids.
    let c = plan_json(
        root,
        &[
            "--matrix",
            "matrices/qwen_latency.yaml",
            "--set",
            "mem_fraction_static=0.8",
        ],
    );
    assert_ne!(ids(&a), ids(&c));
}

#[test]
fn overrides_reach_the_argv_in_order() {
    let p = Project::new();
    let mut cmd = p.matrix(&[
        "plan",
        "--json",
        "--model",
        "qwen",
        "--mconf",
        "2l",
        "--set",
        "mem_fraction_static=0.7",
    ]);
    cmd.env("MATRIX_SERVER__MEM_FRACTION_STATIC", "0.9");
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    let argv = plan["groups"][0]["launch"]["argv"].as_array().unwrap();
    assert!(
        has_pair(argv, "--mem-fraction-static", "0.9"),
        "environment wins over --set"
    );
    assert_eq!(
        plan["groups"][0]["provenance"]["server.mem_fraction_static"],
        "env MATRIX_SERVER__MEM_FRACTION_STATIC"
    );
}

#[test]
fn values_with_spaces_stay_one_argument() {
    let p = Project::new();
    p.write(
        "conf/optional/named.yaml",
        "server:\n  served_model_name: \"my model; echo hi\"\n",
    );
    let plan = plan_json(
        p.path(),
        &["--model", "qwen", "--mconf", "2l", "--optional", "named"],
    );
    let argv = plan["groups"][0]["launch"]["argv"].as_array().unwrap();
    assert!(has_pair(argv, "--served-model-name", "my model; echo hi"));
}

#[test]
fn zip_exclude_include_and_prune() {
    let p = Project::new();
    p.write(
        "m.yaml",
        r#"
axes:
  model: qwen
  mconf: 2l
  mode: serving
  deploy: [tp8, tp8ep8]
  shape:
    zip: {seq: [128, 1024], output_len: [16, 64]}
  request_rate: [1, 4]
derive:
  num_prompts: "{{ 10 * request_rate }}"
exclude:
  - {deploy: tp8, request_rate: 4}
include:
  - {deploy: tp16ep16, request_rate: 1}
constraints:
  - require: "tp * nnodes <= 8 or seq < 1024"
"#,
    );
    let plan = plan_json(
        p.path(),
        &["--matrix", "m.yaml", "--ip", "10.0.0.1", "--rank", "0"],
    );
    let mut cells = Vec::new();
    for g in plan["groups"].as_array().unwrap() {
        for c in g["cells"].as_array().unwrap() {
            let a = &c["axes"];
            cells.push(format!(
                "{} {} {} {}",
                a["deploy"].as_str().unwrap(),
                a["seq"],
                a["output_len"],
                a["request_rate"]
            ));
        }
    }
    // 2 deploys × 2 shapes × 2 rates = 8, minus 2 excluded (tp8 at rate 4),
    // plus tp16ep16 × 2 shapes at rate 1, minus the pruned 1024 one.
    assert_eq!(
        cells,
        vec![
            "tp8 128 16 1",
            "tp8 1024 64 1",
            "tp8ep8 128 16 1",
            "tp8ep8 128 16 4",
            "tp8ep8 1024 64 1",
            "tp8ep8 1024 64 4",
            "tp16ep16 128 16 1",
        ]
    );
    assert_eq!(plan["pruned"].as_array().unwrap().len(), 1);
    assert_eq!(plan["excluded"], 2);
    // The multi-node group carries the dist flags.
    let g16 = plan["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["layers"]["deploy"] == "tp16ep16")
        .unwrap();
    let argv = g16["launch"]["argv"].as_array().unwrap();
    assert!(
        has_pair(argv, "--dist-init-addr", "10.0.0.1:5000") && has_pair(argv, "--node-rank", "0")
    );
    assert!(has_pair(argv, "--nnodes", "2"));
}

#[test]
fn cli_list_sweeps_a_layer() {
    let plan = plan_json(
        Path::new(ROOT),
        &[
            "--model",
            "qwen",
            "--mconf",
            "2l",
            "--deploy",
            "tp8ep8,tp8ep8dp8",
            "--bsz-seq",
            "matrices/bsz_seq.csv",
        ],
    );
    let deploys: std::collections::BTreeSet<String> = plan["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["layers"]["deploy"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        deploys.into_iter().collect::<Vec<_>>(),
        vec!["tp8ep8", "tp8ep8dp8"]
    );
}

#[test]
fn sim_engine_swaps_only_the_program() {
    let root = Path::new(ROOT);
    let a = plan_json(
        root,
        &[
            "--model",
            "qwen",
            "--mconf",
            "2l",
            "--deploy",
            "tp8ep8",
            "--run-name",
            "x",
        ],
    );
    let b = plan_json(
        root,
        &[
            "--model",
            "qwen",
            "--mconf",
            "2l",
            "--deploy",
            "tp8ep8",
            "--engine",
            "sim",
            "--run-name",
            "x",
        ],
    );
    // Group ids differ (the program is part of the launch); mask them.
    // Group ids differ (the program is part of the launch), and so can the
    // run folder (its timestamp may tick between the two plans); mask both.
    let argv = |p: &Value| -> Vec<String> {
        let id = p["groups"][0]["id"].as_str().unwrap();
        let dir = p["run_dir"].as_str().unwrap();
        p["groups"][0]["launch"]["argv"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().replace(dir, "R").replace(id, "G"))
            .collect()
    };
    let (a, b) = (argv(&a), argv(&b));
    assert_eq!(&a[..3], &["python3", "-m", "sglang.benchmark.one_batch"]);
    assert_eq!(&b[1..3], &["sim", "one-batch"]);
    assert_eq!(a[3..], b[3..], "same flags, same order");
}

#[test]
fn show_config_prints_provenance() {
    let root = Path::new(ROOT);
    let (code, stdout, stderr) = output(matrix_at(
        root,
        &[
            "show-config",
            "--model",
            "qwen",
            "--mconf",
            "2l",
            "--deploy",
            "tp8ep8",
        ],
    ));
    assert_eq!(code, 0, "{stderr}");
    redactions(root).bind(|| insta::assert_snapshot!("show_config_qwen_tp8ep8", stdout));
    let (code, stdout, _) = output(matrix_at(
        root,
        &[
            "show-config",
            "--json",
            "--model",
            "qwen",
            "--deploy",
            "tp8ep8",
            "--set",
            "tp_size=4",
        ],
    ));
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["server"]["ep_size"]["source"], "conf/deploy/tp8ep8.yaml");
    assert_eq!(v["server"]["tp_size"]["value"], 4);
    assert_eq!(v["server"]["tp_size"]["source"], "--set tp_size");
    assert_eq!(v["server"]["load_format"]["source"], "conf/base.yaml");
}

/// `--only` keeps the listed rows of an axis (a zip by any member), and
/// `--set` beats `derive:`: together they shrink a shipped matrix.
#[test]
fn only_and_set_shrink_a_shipped_matrix() {
    let (code, stdout, stderr) = output(matrix_at(
        Path::new(ROOT),
        &[
            "plan",
            "--json",
            "--matrix",
            "matrices/sglang_vs_vllm.yaml",
            "--only",
            "seq=4096",
            "--only",
            "request_rate=inf,2",
            "--set",
            "num_prompts=8",
        ],
    ));
    assert_eq!(code, 0, "{stderr}");
    let plan: Value = serde_json::from_str(&stdout).unwrap();
    let cells: Vec<&Value> = plan["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["cells"].as_array().unwrap())
        .collect();
    // 2 engines x 1 shape x 2 rates.
    assert_eq!(cells.len(), 4);
    for c in cells {
        assert_eq!(c["workload"]["seq"], 4096);
        assert_eq!(c["workload"]["output_len"], 1024, "the zip moves together");
        assert_eq!(c["workload"]["num_prompts"], 8, "--set beats derive");
        let rate = &c["axes"]["request_rate"];
        assert!(rate == "inf" || rate == 2, "{rate}");
    }
}

/// `run.server_cpus` / `run.client_cpus` reach the plan as CPU ids (the
/// server launch and every client; `--set` beats cpu_smoke's own pins);
/// unset, the plan has no `cpus` at all.
#[test]
fn cpu_lists_reach_the_launch_and_the_clients() {
    let root = Path::new(ROOT);
    let args = [
        "--matrix",
        "matrices/cpu_smoke.yaml",
        "--only",
        "mode=serving",
    ];
    let plan = plan_json(
        root,
        &[
            &args[..],
            &[
                "--set",
                "run.server_cpus=0-2,5",
                "--set",
                "run.client_cpus=3",
            ],
        ]
        .concat(),
    );
    let group = &plan["groups"][0];
    assert_eq!(group["launch"]["cpus"], serde_json::json!([0, 1, 2, 5]));
    for c in group["cells"].as_array().unwrap() {
        assert_eq!(c["client"]["cpus"], serde_json::json!([3]));
    }
    let plain = plan_json(root, &["--model", "qwen", "--mconf", "2l"]);
    assert!(plain["groups"][0]["launch"].get("cpus").is_none());
    // The text plan shows the pins next to the commands they apply to.
    let (code, text, stderr) = output(matrix_at(root, &[&["plan"], &args[..]].concat()));
    assert_eq!(code, 0, "{stderr}");
    assert!(text.contains("\n  cpus: 1\n"), "{text}");
    assert!(text.contains("\n      client cpus: 0\n"), "{text}");
}

/// The GPU count behind MFU/MBU comes from the launch argv: tp x dp
/// replicas, but tp alone under SGLang's DP attention, whose replicas share
/// the tp GPUs; vLLM's translation of the same deploy runs dp x tp.
#[test]
fn gpu_count_follows_the_launch_argv() {
    let root = Path::new(ROOT);
    let count = |args: &[&str]| -> Vec<Option<u64>> {
        let v = plan_json(
            root,
            &[&["--model", "qwen", "--mconf", "2l"], args].concat(),
        );
        let plan: matrix::plan::Plan = serde_json::from_value(v).expect("plan JSON is a Plan");
        plan.groups.iter().map(|g| g.gpu_count()).collect()
    };
    let all = |v: Vec<Option<u64>>, n: u64| {
        assert!(!v.is_empty());
        assert!(v.iter().all(|c| *c == Some(n)), "{v:?}, expected {n}");
    };
    all(count(&["--deploy", "tp8"]), 8);
    // tp 8, dp 8, attn_dp_size 8: eight GPUs, not 64.
    all(count(&["--deploy", "tp8ep8dp8"]), 8);
    // Plain data parallelism replicates the tp group.
    all(count(&["--deploy", "tp8", "--set", "dp_size=2"]), 16);
    // vLLM spells tp8ep8dp8 as dp 8 x tp 1 with expert parallelism.
    all(
        count(&[
            "--deploy",
            "tp8ep8dp8",
            "--engine",
            "vllm",
            "--mode",
            "serving",
            "--set",
            "seq=16",
            "--set",
            "output_len=4",
            "--set",
            "num_prompts=4",
            "--set",
            "request_rate=inf",
        ]),
        8,
    );
}
