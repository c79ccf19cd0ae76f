//! Every shipped matrix file runs on the simulator, end to end: each one,
//! sliced with `--only` (and a few prompts with `--set`), in a temporary
//! copy of the project, must plan and run with every cell ok and its
//! headline metrics present. The table below must name every file of
//! `matrices/`, so a new matrix cannot be shipped without coverage.
//!
//! Also `--gpu NAME`: the simulated GPU of `--engine sim`.

mod support;

use std::path::Path;

use serde_json::Value;
use support::ROOT;
use support::run::{Row, RunProject};

/// How one shipped matrix is run on the simulator.
struct Shipped {
    file: &'static str,
    /// `--only` slices and `--set`s that keep the run to a few cells.
    args: &'static [&'static str],
    /// Cells the slice must plan (checked against `matrix plan` and the CSV).
    cells: usize,
}

/// Every file of `matrices/*.yaml`, in name order.
const SHIPPED: &[Shipped] = &[
    Shipped {
        // The real-engine tier's matrix; its SGLang-client cells need SGLang's
        // Python package (tests/real_engines.rs), the builtin ones run anywhere.
        file: "cpu_smoke.yaml",
        args: &["--only", "client=builtin"],
        cells: 3,
    },
    Shipped {
        file: "deepseek_online.yaml",
        args: &["--only", "max_concurrency=4", "--set", "num_prompts=8"],
        cells: 1,
    },
    Shipped {
        // The smallest and the largest batch (the memory-critical one).
        file: "grok_offline.yaml",
        args: &["--only", "bsz=1,256"],
        cells: 2,
    },
    Shipped {
        file: "grok_offline_dummy.yaml",
        args: &[],
        cells: 1,
    },
    Shipped {
        // The longest context: past Grok-1's max_position_embeddings.
        file: "grok_offline_long.yaml",
        args: &["--only", "seq=32768"],
        cells: 1,
    },
    Shipped {
        // Three repeats, best kept, at the highest rate.
        file: "grok_online.yaml",
        args: &["--only", "request_rate=16", "--set", "num_prompts=16"],
        cells: 1,
    },
    Shipped {
        // One deployment, every bsz x seq product of matrices/bsz_seq.csv.
        file: "qwen_latency.yaml",
        args: &["--only", "deploy=tp8ep8dp8"],
        cells: 30,
    },
    Shipped {
        // `--engine sim` replaces the file's engine axis [sglang, vllm].
        file: "sglang_vs_vllm.yaml",
        args: &[
            "--only",
            "seq=1024",
            "--only",
            "request_rate=inf,4",
            "--set",
            "num_prompts=8",
        ],
        cells: 2,
    },
];

/// Metrics every ok row of a mode must carry: (column, must be > 0).
/// Latencies between tokens can round to 0 at a compressed time scale (a
/// simulated decode step of 1 ms is 10 us of wall time), so those must only
/// be present; throughputs, end-to-end latencies and counts must be positive.
fn headline(mode: &str) -> &'static [(&'static str, bool)] {
    match mode {
        "latency" => &[
            ("prefill_latency_s", true),
            ("median_decode_latency_s", true),
            ("e2e_latency_s", true),
            ("prefill_throughput", true),
            ("e2e_throughput", true),
        ],
        "serving" => &[
            ("completed", true),
            ("request_throughput", true),
            ("output_throughput", true),
            ("median_e2e_ms", true),
            ("median_ttft_ms", false),
            ("median_itl_ms", false),
        ],
        other => panic!("no headline metrics known for mode {other}"),
    }
}

#[test]
fn every_matrix_file_is_in_the_table() {
    let mut on_disk: Vec<String> = std::fs::read_dir(Path::new(ROOT).join("matrices"))
        .expect("matrices/")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml") || n.ends_with(".yml"))
        .collect();
    on_disk.sort();
    let table: Vec<String> = SHIPPED.iter().map(|s| s.file.to_string()).collect();
    assert_eq!(
        on_disk, table,
        "tests/shipped_matrices.rs SHIPPED must list every matrices/*.yaml (in name order) \
         with the slice that runs it on the simulator"
    );
}

#[test]
fn every_shipped_matrix_runs_on_the_simulator() {
    let failures: Vec<String> = SHIPPED.iter().filter_map(|s| check(s).err()).collect();
    assert!(
        failures.is_empty(),
        "{} of {} shipped matrices failed on --engine sim:\n\n{}",
        failures.len(),
        SHIPPED.len(),
        failures.join("\n\n")
    );
}

/// Plan and run one matrix; every problem as an error naming the file.
fn check(s: &Shipped) -> Result<(), String> {
    let mut p = RunProject::new();
    // 100x faster than real time; at 1000x an inter-token latency of a few
    // simulated ms is below the client's microsecond resolution.
    p.sim_scale = 0.01;
    let matrix = format!("matrices/{}", s.file);
    let mut args = vec!["--matrix", matrix.as_str()];
    args.extend_from_slice(s.args);
    let fail = |what: String| format!("{}: {what}", s.file);

    let planned = planned_cells(&p, &args).map_err(fail)?;
    if planned != s.cells {
        return Err(fail(format!(
            "the slice plans {planned} cells, the table expects {}",
            s.cells
        )));
    }
    let out = p.run(&args);
    p.assert_no_leftovers();
    if out.code != 0 {
        return Err(fail(format!("matrix run failed:\n{}", out.text())));
    }
    let run = p.only_run();
    let rows = p.rows(&run);
    if rows.len() != planned {
        return Err(fail(format!(
            "{} CSV rows for {planned} planned cells",
            rows.len()
        )));
    }
    for row in &rows {
        check_row(row).map_err(|e| fail(format!("cell {}: {e}", cell(row))))?;
    }
    Ok(())
}

/// `matrix plan --json --engine sim ...`: the number of cells.
fn planned_cells(p: &RunProject, args: &[&str]) -> Result<usize, String> {
    let all = [&["plan", "--json", "--engine", "sim"], args].concat();
    let out = p.matrix(&all).output().expect("matrix runs");
    if !out.status.success() {
        return Err(format!(
            "matrix plan failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let plan: Value = serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
    Ok(plan["groups"]
        .as_array()
        .map(|gs| {
            gs.iter()
                .map(|g| g["cells"].as_array().map_or(0, Vec::len))
                .sum()
        })
        .unwrap_or(0))
}

fn cell(row: &Row) -> String {
    row.get("cell_id").cloned().unwrap_or_default()
}

/// Status ok, engine sim, every headline metric a number (see
/// [`headline`]); serving cells completed every prompt.
fn check_row(row: &Row) -> Result<(), String> {
    let get = |k: &str| row.get(k).map(String::as_str).unwrap_or("");
    if get("status") != "ok" {
        return Err(format!(
            "status {:?}, error {:?}",
            get("status"),
            get("error")
        ));
    }
    if get("engine") != "sim" {
        return Err(format!("engine {:?}, expected sim", get("engine")));
    }
    for &(key, positive) in headline(get("mode")) {
        let v: f64 = get(key)
            .parse()
            .map_err(|_| format!("{key} is {:?}, not a number", get(key)))?;
        if !v.is_finite() || v < 0.0 || (positive && v == 0.0) {
            return Err(format!("{key} is {v}"));
        }
    }
    if get("mode") == "serving" && get("completed") != get("num_prompts") {
        return Err(format!(
            "completed {} of {} prompts",
            get("completed"),
            get("num_prompts")
        ));
    }
    Ok(())
}

/// The launch argv's `--sim-gpu` value, and where `sim_gpu` came from.
fn sim_gpu(p: &RunProject, args: &[&str]) -> (Option<String>, Option<String>) {
    let all = [&["plan", "--json"], args].concat();
    let out = p.matrix(&all).output().expect("matrix runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan: Value = serde_json::from_slice(&out.stdout).expect("plan JSON");
    let g = &plan["groups"][0];
    let argv: Vec<&str> = g["launch"]["argv"]
        .as_array()
        .expect("argv")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let value = argv
        .iter()
        .position(|a| *a == "--sim-gpu")
        .map(|i| argv[i + 1].to_string());
    let source = g["provenance"]["server.sim_gpu"]
        .as_str()
        .map(str::to_string);
    (value, source)
}

#[test]
fn gpu_selects_the_simulated_gpu_and_beats_the_matrix_file() {
    let p = RunProject::new();
    let grok = ["--matrix", "matrices/grok_offline.yaml", "--only", "bsz=1"];
    let sim = [&grok[..], &["--engine", "sim"]].concat();
    // The matrix file's own choice (the GPU the workflow ran on)...
    let (gpu, source) = sim_gpu(&p, &sim);
    assert_eq!(gpu.as_deref(), Some("mi300x"));
    assert_eq!(source.as_deref(), Some("matrices/grok_offline.yaml"));
    // ...replaced by --gpu, on `plan` as on `run`.
    let (gpu, source) = sim_gpu(&p, &[&sim[..], &["--gpu", "MI325X"]].concat());
    assert_eq!(gpu.as_deref(), Some("mi325x"));
    assert_eq!(source.as_deref(), Some("--gpu"));
    // The same GPU given twice is no conflict.
    let (gpu, _) = sim_gpu(
        &p,
        &[&sim[..], &["--gpu", "mi325x", "--set", "sim_gpu=MI325X"]].concat(),
    );
    assert_eq!(gpu.as_deref(), Some("mi325x"));
    // A real engine has no simulated GPU: --gpu leaves its argv alone.
    let (gpu, source) = sim_gpu(&p, &[&grok[..], &["--gpu", "mi325x"]].concat());
    assert_eq!((gpu, source), (None, None));
}

#[test]
fn gpu_reaches_the_simulator() {
    // The simulator logs the GPU memory it simulates (98 % of it, as SGLang
    // reports what is free): 256 GB for an MI325X, not the matrix file's
    // MI300X (192 GB, 188.16).
    let mut p = RunProject::new();
    p.sim_scale = 0.01;
    let out = p.run(&[
        "--matrix",
        "matrices/grok_offline.yaml",
        "--only",
        "bsz=1",
        "--gpu",
        "mi325x",
    ]);
    p.assert_no_leftovers();
    assert_eq!(out.code, 0, "{}", out.text());
    let logs = read_logs(&p.run_dir(&p.only_run()));
    assert!(
        logs.contains("Load weight begin. avail mem=250.88 GB"),
        "{logs}"
    );
    assert!(!logs.contains("avail mem=188.16 GB"), "{logs}");
}

/// Every `*.log` under a run folder, concatenated.
fn read_logs(dir: &Path) -> String {
    let mut out = String::new();
    for e in std::fs::read_dir(dir).expect("run dir").flatten() {
        let path = e.path();
        if path.is_dir() {
            out.push_str(&read_logs(&path));
        } else if path.extension().is_some_and(|x| x == "log") {
            out.push_str(&std::fs::read_to_string(&path).unwrap_or_default());
        }
    }
    out
}

/// `matrix plan <args>` must fail with exit 2, write nothing, and say why.
fn plan_fails(name: &str, args: &[&str], matrix_file: Option<&str>) {
    let p = support::project::Project::new();
    if let Some(text) = matrix_file {
        p.write("matrices/gpus.yaml", text);
    }
    let (code, stdout, stderr) = support::project::output(p.matrix(&[&["plan"], args].concat()));
    assert_eq!(code, 2, "{name}: stdout={stdout} stderr={stderr}");
    assert!(stdout.is_empty(), "{name}: nothing on stdout");
    assert!(
        !p.path().join("results").exists(),
        "{name}: nothing written"
    );
    support::project::redactions(p.path()).bind(|| insta::assert_snapshot!(name, stderr));
}

#[test]
fn unknown_gpu_is_a_usage_error() {
    plan_fails(
        "gpu_unknown",
        &[
            "--engine", "sim", "--model", "qwen", "--mconf", "2l", "--gpu", "h201",
        ],
        None,
    );
}

#[test]
fn gpu_conflicting_with_set_sim_gpu_is_a_usage_error() {
    plan_fails(
        "gpu_conflicts_with_set",
        &[
            "--engine",
            "sim",
            "--model",
            "qwen",
            "--mconf",
            "2l",
            "--gpu",
            "h200",
            "--set",
            "sim_gpu=b200",
        ],
        None,
    );
}

#[test]
fn gpu_on_a_matrix_sweeping_sim_gpu_is_a_usage_error() {
    plan_fails(
        "gpu_conflicts_with_axis",
        &["--matrix", "matrices/gpus.yaml", "--gpu", "h200"],
        Some("axes:\n  engine: sim\n  model: qwen\n  mconf: 2l\n  sim_gpu: [h100, b200]\n"),
    );
}
