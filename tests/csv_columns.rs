//! The CSV columns that restate a setting (`tp`, `ep`, `dp`, `nnodes`) come
//! from the launch argv that ran, as recorded in the plan JSON, never from
//! the merged settings; and the engine profile's `columns:` is checked.

mod support;

use serde_json::Value;
use support::run::{Row, RunProject};

/// The value argparse keeps for any of `flags` in `argv` (the last
/// occurrence, `--flag value` or `--flag=value`), read here independently
/// of matrix; `default` when none is given.
fn last_value(argv: &[String], flags: &[&str], default: &str) -> String {
    let mut found = default.to_string();
    for (i, a) in argv.iter().enumerate() {
        for f in flags {
            if a == f {
                found = argv[i + 1].clone();
            } else if let Some(v) = a.strip_prefix(&format!("{f}=")) {
                found = v.to_string();
            }
        }
    }
    found
}

fn argv_of(group: &Value) -> Vec<String> {
    group["launch"]["argv"]
        .as_array()
        .expect("launch.argv")
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

/// SGLang's (and the simulator's) flags, as conf/engine/sglang.yaml declares them.
fn sglang_columns(argv: &[String]) -> [(&'static str, String); 4] {
    [
        (
            "tp",
            last_value(argv, &["--tp-size", "--tensor-parallel-size"], "1"),
        ),
        (
            "ep",
            last_value(argv, &["--ep-size", "--expert-parallel-size", "--ep"], "1"),
        ),
        (
            "dp",
            last_value(argv, &["--dp-size", "--data-parallel-size"], "1"),
        ),
        ("nnodes", last_value(argv, &["--nnodes"], "1")),
    ]
}

/// Every row's tp/ep/dp/nnodes equal what its group's launch argv says;
/// returns the groups' columns for further checks.
fn check_rows(p: &RunProject, id: &str) -> Vec<(Value, [(&'static str, String); 4])> {
    let manifest = p.manifest(id);
    let groups = manifest["plan"]["groups"].as_array().expect("plan.groups");
    let rows: Vec<Row> = p.rows(id);
    let planned: usize = groups
        .iter()
        .map(|g| g["cells"].as_array().unwrap().len())
        .sum();
    assert!(planned > 0);
    assert_eq!(rows.len(), planned, "one row per planned cell");
    for r in &rows {
        let g = groups
            .iter()
            .find(|g| {
                g["cells"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|c| c["id"] == r["cell_id"].as_str())
            })
            .expect("the row's group");
        assert_eq!(r["status"], "ok", "{r:#?}");
        for (col, want) in sglang_columns(&argv_of(g)) {
            assert_eq!(r[col], want, "{col} of {r:#?}");
            // The plan JSON says the same next to the argv.
            assert_eq!(g[col].to_string(), want, "plan's {col}");
        }
    }
    groups
        .iter()
        .map(|g| (g.clone(), sglang_columns(&argv_of(g))))
        .collect()
}

/// The simulator's latency launch with one more `--tp-size 4` after the
/// server flags (as two spellings of one key once rendered): argparse keeps
/// the last, so the rows say 4 while the merged settings say 8.
#[test]
fn latency_rows_restate_the_last_flag_of_the_launch_argv() {
    let p = RunProject::new();
    let sim = std::fs::read_to_string(p.path().join("conf/engine/sim.yaml")).unwrap();
    p.write(
        "conf/engine/sim.yaml",
        &format!(
            "{sim}\nmodes:\n  latency:\n    launch:\n      argv:\n\
             \x20       - splice: latency_program\n\
             \x20       - --model-path\n\
             \x20       - \"{{{{ model_path }}}}\"\n\
             \x20       - splice: server_flags\n\
             \x20       - splice: dist_flags\n\
             \x20       - --tp-size\n\
             \x20       - \"4\"\n\
             \x20       - --batch-size\n\
             \x20       - splice: bszs\n\
             \x20       - --input-len\n\
             \x20       - splice: seqs\n\
             \x20       - --output-len\n\
             \x20       - splice: output_lens\n\
             \x20       - --result-filename\n\
             \x20       - \"{{{{ group_dir }}}}/result.jsonl\"\n"
        ),
    );
    p.write("bsz_seq.csv", "1,2;16\n");
    let out = p.run(&[
        "-q",
        "--model",
        "qwen",
        "--mconf",
        "2l",
        "--mode",
        "latency",
        "--deploy",
        "tp8",
        "--bsz-seq",
        "bsz_seq.csv",
        "--set",
        "workload.output_len=4",
    ]);
    assert_eq!(out.code, 0, "{}", out.text());
    let id = p.only_run();
    let groups = check_rows(&p, &id);
    assert_eq!(groups.len(), 1);
    let (g, cols) = &groups[0];
    assert_eq!(g["server"]["tp_size"], 8, "the settings say 8");
    let argv = argv_of(g);
    assert!(argv.windows(2).any(|w| w == ["--tp-size", "8"]), "{argv:?}");
    assert_eq!(cols[0], ("tp", "4".to_string()), "the argv's last says 4");
}

/// A server launch (serving mode) with every size set.
#[test]
fn serving_rows_restate_the_server_argv() {
    let p = RunProject::new();
    let out = p.run(&[
        "-q",
        "--model",
        "qwen",
        "--mconf",
        "2l",
        "--mode",
        "serving",
        "--deploy",
        "tp8ep8dp8",
        "--set",
        "workload.seq=16",
        "--set",
        "workload.output_len=4",
        "--set",
        "workload.num_prompts=2",
    ]);
    assert_eq!(out.code, 0, "{}", out.text());
    let id = p.only_run();
    let groups = check_rows(&p, &id);
    let values: Vec<String> = groups[0].1.iter().map(|(_, v)| v.clone()).collect();
    assert_eq!(values, ["8", "8", "8", "1"]);
    // The load settings as the client ran them.
    for r in p.rows(&id) {
        assert_eq!(r["num_prompts"], "2", "{r:#?}");
        assert_eq!(r["request_rate"], "inf", "{r:#?}");
    }
}

fn plan_json(p: &RunProject, args: &[&str]) -> Value {
    let out = p
        .matrix(&[&["plan", "--json"], args].concat())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&String::from_utf8_lossy(&out.stdout)).unwrap()
}

/// vLLM: tp 8 over 8 attention replicas renders `--tensor-parallel-size 1
/// --data-parallel-size 8 --enable-expert-parallel`: ep is tp x dp = 8.
#[test]
fn vllm_expert_parallel_is_tp_times_dp() {
    let p = RunProject::new();
    let plan = plan_json(
        &p,
        &[
            "--engine",
            "vllm",
            "--model",
            "qwen",
            "--mconf",
            "2l",
            "--mode",
            "serving",
            "--deploy",
            "tp8ep8dp8",
            "--set",
            "workload.seq=16",
            "--set",
            "workload.num_prompts=2",
        ],
    );
    let g = &plan["groups"][0];
    let argv = argv_of(g);
    assert!(
        argv.iter().any(|a| a == "--enable-expert-parallel"),
        "{argv:?}"
    );
    assert_eq!(
        last_value(&argv, &["--tensor-parallel-size", "-tp"], "1"),
        "1"
    );
    assert_eq!(
        last_value(&argv, &["--data-parallel-size", "-dp"], "1"),
        "8"
    );
    let sizes: Vec<&Value> = ["tp", "ep", "dp", "nnodes"]
        .iter()
        .map(|c| &g[*c])
        .collect();
    assert_eq!(
        sizes,
        [
            &Value::from(1),
            &Value::from(8),
            &Value::from(8),
            &Value::from(1)
        ]
    );
}

/// A profile declaring a column that is not one is refused, naming the file.
#[test]
fn unknown_profile_column_is_a_config_error() {
    let p = RunProject::new();
    let sim = std::fs::read_to_string(p.path().join("conf/engine/sim.yaml")).unwrap();
    p.write(
        "conf/engine/sim.yaml",
        &format!("{sim}\ncolumns:\n  pp: {{flags: [--pp-size], default: 1}}\n"),
    );
    let out = p
        .matrix(&[
            "plan", "--engine", "sim", "--model", "qwen", "--mconf", "2l",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr).replace(p.path().to_str().unwrap(), "[ROOT]");
    insta::assert_snapshot!(stderr);
}
