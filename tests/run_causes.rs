//! `matrix run` failures carry the engine's own error line, failures a
//! retry cannot change are not retried, and admin calls come from the
//! engine profile, a failed one being a warning on the terminal and in the
//! server log.

mod support;

use std::path::{Path, PathBuf};

use support::run::{Out, Row, RunProject, assert_unique_cells, fault_matrix};

/// The `N launch(es), wall ...` of the run's summary (on stderr).
fn launches(out: &Out) -> usize {
    out.stderr
        .lines()
        .filter(|l| l.contains(", wall "))
        .find_map(|l| l.split_once(" launch").map(|(n, _)| n.trim().to_string()))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no `N launches` summary line\n{}", out.text()))
}

/// A matrix of `mode` cells of deepseek's full config on one GPU: the
/// weights (about 670 GB) do not fit, so the simulator refuses to start
/// with `not enough memory`. Planning refuses that for the simulator
/// itself (pre-flight), so the simulator runs here behind a wrapper script,
/// as a real engine that fails at load: what is tested is the run's
/// handling of an engine's out-of-memory start.
fn too_big(p: &RunProject, mode: &str) -> (Out, Vec<Row>) {
    use std::os::unix::fs::PermissionsExt;
    let exe = assert_cmd::cargo::cargo_bin("matrix");
    let mut programs = Vec::new();
    for sub in ["launch-server", "one-batch"] {
        let script = p.write(
            &format!("engine-{sub}.sh"),
            &format!("#!/bin/sh\nexec '{}' sim {sub} \"$@\"\n", exe.display()),
        );
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        programs.push(script.display().to_string());
    }
    p.write(
        "conf/engine/sim.yaml",
        &format!(
            "extends: sglang\nvars:\n  server_program: [\"{}\"]\n  latency_program: [\"{}\"]\n\
             flags:\n  extra: [sim_gpu, sim_seed, sim_step_overhead_ms]\n  installed: null\n",
            programs[0], programs[1]
        ),
    );
    let body = match mode {
        "serving" => {
            "  request_rate: [4, 8]\nset:\n  workload:\n    seq: 16\n    output_len: 4\n    num_prompts: 8\n    dataset: random-ids\n"
        }
        _ => "  bsz: [1, 2]\n  seq: [16]\nset:\n  workload:\n    output_len: 4\n",
    };
    p.write(
        "matrices/big.yaml",
        &format!("axes:\n  model: deepseek\n  mconf: full\n  mode: {mode}\n  deploy: tp1\n{body}"),
    );
    let out = p.run(&["--matrix", "matrices/big.yaml"]);
    let rows = p.rows(&p.only_run());
    assert_eq!(rows.len(), 2, "one row per cell\n{}", out.text());
    assert_unique_cells(&rows);
    (out, rows)
}

fn assert_not_enough_memory(out: &Out, rows: &[Row]) {
    assert_eq!(out.code, 1, "{}", out.text());
    for r in rows {
        assert_eq!(r["status"], "oom", "{r:#?}");
        let e = &r["error"];
        assert!(e.contains("not enough memory: weights need"), "{e}");
        // The simulator's own hint follows its error line, not instead of it.
        let line = e.find("not enough memory").unwrap();
        let hint = e.find("; hint: raise --mem-fraction-static").expect(e);
        assert!(line < hint, "{e}");
        assert!(!e.starts_with("hint"), "{e}");
    }
    // The terminal line of each failed cell carries the same cause.
    assert!(
        out.stderr.contains("  oom  ") && out.stderr.contains("not enough memory: weights need"),
        "{}",
        out.stderr
    );
    assert_eq!(
        launches(out),
        1,
        "launched once, not retried\n{}",
        out.text()
    );
    assert!(!out.stderr.contains("retrying"), "{}", out.stderr);
}

#[test]
fn serving_oom_at_start_is_oom_with_the_engines_line_and_not_retried() {
    let p = RunProject::new();
    let (out, rows) = too_big(&p, "serving");
    assert_not_enough_memory(&out, &rows);
    p.assert_no_leftovers();
}

#[test]
fn latency_oom_at_start_is_oom_with_the_engines_line_and_not_retried() {
    let p = RunProject::new();
    let (out, rows) = too_big(&p, "latency");
    assert_not_enough_memory(&out, &rows);
    p.assert_no_leftovers();
}

/// A stand-in for a Python engine that is not installed: prints the
/// traceback Python prints, counts its launches, exits 1.
fn missing_engine(p: &RunProject) -> (PathBuf, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let count = p.path().join("launched.txt");
    let script = p.write(
        "fake-python.sh",
        &format!(
            "#!/bin/sh\necho launched >> '{}'\n\
             echo 'Loading: 100%|##########| 1/1' \n\
             echo 'Traceback (most recent call last):' >&2\n\
             echo '  File \"<frozen runpy>\", line 189, in _run_module_as_main' >&2\n\
             echo \"ModuleNotFoundError: No module named 'sglang'\" >&2\n\
             echo Killed >&2\nexit 1\n",
            count.display()
        ),
    );
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    (script, count)
}

fn sim_profile_with(p: &RunProject, extra: &str) {
    let path = p.path().join("conf/engine/sim.yaml");
    let base = std::fs::read_to_string(&path).unwrap();
    p.write("conf/engine/sim.yaml", &format!("{base}\n{extra}"));
}

fn count_lines(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

#[test]
fn missing_module_is_launched_once_and_named() {
    for mode in ["serving", "latency"] {
        let p = RunProject::new();
        let (script, count) = missing_engine(&p);
        let s = script.display();
        // The simulator's profile with both programs swapped for the script.
        p.write(
            "conf/engine/sim.yaml",
            &format!(
                "extends: sglang\nvars:\n  server_program: [\"{s}\"]\n  latency_program: [\"{s}\"]\n\
                 flags:\n  extra: [sim_gpu, sim_seed, sim_step_overhead_ms]\n  installed: null\n"
            ),
        );
        let body = match mode {
            "serving" => "  request_rate: [4, 8]\n",
            _ => "  bsz: [1, 2]\n  seq: [16]\n",
        };
        p.write(
            "matrices/m.yaml",
            &format!(
                "axes:\n  model: qwen\n  mconf: 2l\n  mode: {mode}\n  deploy: tp8\n{body}\
                 set:\n  workload:\n    output_len: 4\n    seq: 16\n    num_prompts: 8\n"
            ),
        );
        let out = p.run(&["--matrix", "matrices/m.yaml"]);
        assert_eq!(out.code, 1, "{mode}: {}", out.text());
        let rows = p.rows(&p.only_run());
        assert_eq!(rows.len(), 2, "{mode}: {}", out.text());
        for r in &rows {
            assert_eq!(r["status"], "startup_crash", "{mode}: {r:#?}");
            let e = &r["error"];
            assert!(
                e.contains("(exit status: 1): ModuleNotFoundError: No module named 'sglang'"),
                "{mode}: {e}"
            );
            assert!(e.contains("; hint: "), "{mode}: {e}");
            assert!(!e.contains("Killed"), "{mode}: {e}");
        }
        assert_eq!(
            count_lines(&count),
            1,
            "{mode}: launched once\n{}",
            out.text()
        );
        assert_eq!(launches(&out), 1, "{mode}");
        assert!(!out.stderr.contains("retrying"), "{mode}: {}", out.stderr);
        p.assert_no_leftovers();
    }
}

/// A bad `MATRIX_SIM_FAULT` is a usage error of the simulator (exit 2,
/// `error: bad MATRIX_SIM_FAULT=...`): the same on every launch, so the
/// group is launched once; the healthy group after it still runs.
#[test]
fn bad_argument_is_not_retried() {
    let p = RunProject::new();
    let fault = "explode";
    p.write("matrices/fault.yaml", &fault_matrix(fault, &[4]));
    let out = p.run(&["--matrix", "matrices/fault.yaml", "--mconf", "2l"]);
    assert_eq!(out.code, 1, "{}", out.text());
    let rows = p.rows(&p.only_run());
    assert_eq!(rows.len(), 2);
    let bad: Vec<&Row> = rows
        .iter()
        .filter(|r| r["env.MATRIX_SIM_FAULT"] == fault)
        .collect();
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0]["status"], "startup_crash", "{:#?}", bad[0]);
    let e = &bad[0]["error"];
    assert!(e.contains("(exit status: 2): bad MATRIX_SIM_FAULT"), "{e}");
    assert!(e.contains("unknown fault"), "{e}");
    assert!(
        e.contains("; hint: see docs/SIM.md"),
        "the simulator's hint: {e}"
    );
    assert!(
        rows.iter()
            .filter(|r| r["env.MATRIX_SIM_FAULT"] != fault)
            .all(|r| r["status"] == "ok"),
        "{rows:#?}"
    );
    assert_eq!(launches(&out), 2, "once for each group\n{}", out.text());
    assert!(!out.stderr.contains("retrying"), "{}", out.stderr);
    p.assert_no_leftovers();
}

/// A flush_cache the server does not serve: each cell still runs and is
/// ok, and each failed call is a warning on stderr (naming the call and the
/// HTTP status) and a line in the group's server.log.
#[test]
fn failed_admin_call_is_a_warning_and_a_log_line() {
    let p = RunProject::new();
    sim_profile_with(
        &p,
        "admin:\n  flush_cache: {method: POST, path: /no_such_admin}\n",
    );
    p.write("matrices/fault.yaml", &fault_matrix("", &[4, 8]));
    let out = p.run(&["--matrix", "matrices/fault.yaml", "--mconf", "2l"]);
    assert_eq!(out.code, 0, "{}", out.text());
    let id = p.only_run();
    let rows = p.rows(&id);
    assert!(rows.iter().all(|r| r["status"] == "ok"), "{rows:#?}");
    let warnings: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("warning: ") && l.contains("admin call flush_cache"))
        .collect();
    assert_eq!(warnings.len(), rows.len(), "one per cell\n{}", out.stderr);
    for w in &warnings {
        assert!(w.contains("POST http://127.0.0.1:"), "{w}");
        assert!(w.contains("/no_such_admin"), "{w}");
        assert!(w.ends_with("failed: HTTP 404"), "{w}");
    }
    let logged: usize = std::fs::read_dir(p.run_dir(&id))
        .unwrap()
        .flatten()
        .map(|e| e.path().join("server.log"))
        .filter(|l| l.is_file())
        .map(|l| {
            std::fs::read_to_string(l)
                .unwrap()
                .lines()
                .filter(|l| {
                    l.starts_with("matrix: warning: ") && l.contains("admin call flush_cache")
                })
                .count()
        })
        .sum();
    assert_eq!(logged, rows.len(), "one log line per failed call");
    p.assert_no_leftovers();
}

/// The shipped profiles: SGLang (and the simulator, which extends it) flush
/// between cells and drive the profiler range; vLLM makes no admin call.
#[test]
fn plan_carries_the_profiles_admin_calls() {
    let p = support::project::Project::new();
    p.write(
        "m.yaml",
        "axes:\n  model: qwen\n  mconf: 2l\n  deploy: tp8\n\
         set:\n  workload:\n    bsz: 1\n    seq: 16\n    output_len: 4\n    num_prompts: 8\n",
    );
    let plan = |engine: &str, mode: &str| -> serde_json::Value {
        let out = p
            .matrix(&["plan", "--json", "--matrix", "m.yaml"])
            .args(["--engine", engine, "--mode", mode])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    for engine in ["sglang", "sim"] {
        let g = &plan(engine, "serving")["groups"][0];
        for (call, path) in [
            ("flush_cache", "/flush_cache"),
            ("start_profile", "/start_profile"),
            ("stop_profile", "/stop_profile"),
        ] {
            assert_eq!(g["admin"][call]["method"], "POST", "{engine} {call}");
            let url = g["admin"][call]["url"].as_str().unwrap();
            assert!(url.starts_with("http://") && url.ends_with(path), "{url}");
        }
        // one_batch runs no server: nothing to call.
        let g = &plan(engine, "latency")["groups"][0];
        assert_eq!(g["admin"], serde_json::json!({}), "{engine} latency");
    }
    let g = &plan("vllm", "serving")["groups"][0];
    assert_eq!(g["admin"], serde_json::json!({}), "vllm");
}

#[test]
fn admin_path_without_slash_is_a_profile_error() {
    let p = support::project::Project::new();
    p.write(
        "conf/engine/badadmin.yaml",
        "extends: sim\nadmin:\n  flush_cache: {method: POST, path: flush_cache}\n",
    );
    let (code, stdout, stderr) = support::project::output(p.matrix(&[
        "plan", "--engine", "badadmin", "--model", "qwen", "--mconf", "2l",
    ]));
    assert_eq!(code, 2, "stdout={stdout} stderr={stderr}");
    assert!(stdout.is_empty());
    assert!(!p.path().join("results").exists(), "nothing written");
    support::project::redactions(p.path())
        .bind(|| insta::assert_snapshot!("admin_path_without_slash", stderr));
}
