//! `matrix run` against a failing simulator. Each test runs two groups
//! (an `env.MATRIX_SIM_FAULT` axis: the fault for the first, none for the
//! second) and checks the first group's cells get the right status, the
//! second group still runs and passes, the CSV has one row per cell, and no
//! process of the run is left.

mod support;

use std::time::Duration;

use support::run::{Out, Row, RunProject, assert_unique_cells, fault_matrix, statuses};

const FAULT_COL: &str = "env.MATRIX_SIM_FAULT";

/// Run the two-group serving matrix with `fault` in the first group.
fn run_fault(p: &RunProject, fault: &str, rates: &[u32], extra: &[&str]) -> (Out, Vec<Row>) {
    p.write("matrices/fault.yaml", &fault_matrix(fault, rates));
    let mut args = vec!["--matrix", "matrices/fault.yaml", "--mconf", "2l"];
    args.extend_from_slice(extra);
    let out = p.run(&args);
    let rows = p.rows(&p.only_run());
    assert_eq!(
        rows.len(),
        2 * rates.len(),
        "one row per cell\n{}",
        out.text()
    );
    assert_unique_cells(&rows);
    (out, rows)
}

/// The rows of the faulty group and of the healthy one.
fn split(rows: &[Row], fault: &str) -> (Vec<Row>, Vec<Row>) {
    let (a, b): (Vec<Row>, Vec<Row>) = rows.iter().cloned().partition(|r| r[FAULT_COL] == fault);
    (a, b)
}

/// The second group ran after the first and all its cells are ok.
fn assert_second_group_ok(rows: &[Row], fault: &str, out: &Out) {
    let (first, second) = split(rows, fault);
    assert!(!second.is_empty(), "{}", out.text());
    assert!(
        second.iter().all(|r| r["status"] == "ok"),
        "second group: {second:#?}\n{}",
        out.text()
    );
    let last_first = first.iter().map(|r| r["started_at"].clone()).max();
    let first_second = second.iter().map(|r| r["started_at"].clone()).min();
    assert!(last_first <= first_second, "groups ran in plan order");
}

fn launches(p: &RunProject) -> usize {
    p.starts()
        .iter()
        .filter(|s| s["entry"] == "launch-server")
        .count()
}

#[test]
fn startup_crash_is_retried_once_then_recorded() {
    let p = RunProject::new();
    let fault = "crash_at_start=3";
    let (out, rows) = run_fault(&p, fault, &[4, 8], &[]);
    assert_eq!(out.code, 1, "{}", out.text());
    let (first, _) = split(&rows, fault);
    for r in &first {
        assert_eq!(r["status"], "startup_crash", "{r:#?}");
        assert!(r["error"].contains("exit status: 3"), "{}", r["error"]);
        // The engine's own error line (the traceback's last), not a frame.
        assert!(
            r["error"].contains(
                "(exit status: 3): RuntimeError: simulated crash during model loading (MATRIX_SIM_FAULT crash_at_start)"
            ),
            "log tail: {}",
            r["error"]
        );
    }
    assert_second_group_ok(&rows, fault, &out);
    assert_eq!(
        launches(&p),
        3,
        "2 tries for the first group, 1 for the second"
    );
    // A crash may not happen again: retried, and the warning says why.
    assert!(
        out.stderr.lines().any(|l| l.starts_with("warning: ")
            && l.contains("RuntimeError: simulated crash")
            && l.ends_with("; retrying")),
        "{}",
        out.stderr
    );
    p.assert_no_leftovers();
}

#[test]
fn startup_retries_zero_launches_once() {
    let p = RunProject::new();
    let fault = "crash_at_start=3";
    let (out, _) = run_fault(&p, fault, &[4], &["--startup-retries", "0"]);
    assert_eq!(out.code, 1, "{}", out.text());
    assert_eq!(launches(&p), 2);
    p.assert_no_leftovers();
}

#[test]
fn startup_hang_times_out() {
    let p = RunProject::new();
    let fault = "hang_at_start";
    let (out, rows) = run_fault(&p, fault, &[4, 8], &["--set", "run.startup_timeout_s=1"]);
    assert_eq!(out.code, 1, "{}", out.text());
    let (first, _) = split(&rows, fault);
    for r in &first {
        assert_eq!(r["status"], "startup_timeout", "{r:#?}");
        assert!(r["error"].contains("not ready after"), "{}", r["error"]);
    }
    assert_second_group_ok(&rows, fault, &out);
    assert_eq!(launches(&p), 3);
    p.assert_no_leftovers();
}

/// One client run sends 1 warmup + 8 requests; `crash_after=12` serves the
/// first cell, dies in the second, and a relaunched server (same fault,
/// fresh count) serves the third.
#[test]
fn server_crash_mid_cell_is_server_died_and_relaunched() {
    let p = RunProject::new();
    let fault = "crash_after=12";
    let (out, rows) = run_fault(&p, fault, &[2, 4, 8], &[]);
    assert_eq!(out.code, 1, "{}", out.text());
    let (first, _) = split(&rows, fault);
    let st: Vec<&str> = first.iter().map(|r| r["status"].as_str()).collect();
    assert_eq!(st, ["ok", "server_died", "ok"], "{first:#?}");
    assert!(
        first[1]["error"].contains("server died"),
        "{}",
        first[1]["error"]
    );
    assert_second_group_ok(&rows, fault, &out);
    assert_eq!(launches(&p), 3, "relaunch after the crash, then group 2");
    p.assert_no_leftovers();
}

/// `hang_after=12`: the second cell's client waits forever on a silent
/// server until `cell_timeout_s`; the hung server is replaced.
#[test]
fn server_hang_mid_request_is_cell_timeout() {
    let p = RunProject::new();
    let fault = "hang_after=12";
    let (out, rows) = run_fault(&p, fault, &[2, 4, 8], &["--set", "run.cell_timeout_s=2"]);
    assert_eq!(out.code, 1, "{}", out.text());
    let (first, _) = split(&rows, fault);
    let st: Vec<&str> = first.iter().map(|r| r["status"].as_str()).collect();
    assert_eq!(st, ["ok", "cell_timeout", "ok"], "{first:#?}");
    assert_second_group_ok(&rows, fault, &out);
    assert_eq!(launches(&p), 3, "relaunch after the hang, then group 2");
    p.assert_no_leftovers();
}

/// Someone else's server holds the port: pre-flight refuses the run (exit
/// 2, naming the port), nothing is written or launched, and theirs survives.
#[test]
fn port_in_use_is_refused_before_the_run_and_the_holder_survives() {
    let p = RunProject::new();
    let model = p.path().join("model_conf/qwen/config_2l.json");
    let mut other = std::process::Command::new(assert_cmd::cargo::cargo_bin("matrix"));
    other
        .args(["sim", "launch-server", "--model-path"])
        .arg(&model)
        .args(["--port", &p.port.to_string()])
        .env("MATRIX_SIM_TIME_SCALE", "0")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut other = other.spawn().unwrap();
    let up = support::wait_for(Duration::from_secs(10), || p.port_busy());
    assert!(up, "the other server did not bind its port");

    p.write("matrices/fault.yaml", &fault_matrix("jitter=1", &[4]));
    let out = p.run(&["--matrix", "matrices/fault.yaml", "--mconf", "2l"]);
    let alive = other.try_wait().unwrap().is_none();
    let _ = other.kill();
    let _ = other.wait();
    assert_eq!(out.code, 2, "{}", out.text());
    assert!(
        out.text().contains(&format!("port {} ", p.port)),
        "message names the port: {}",
        out.text()
    );
    assert!(!p.results().exists(), "no run folder, no CSV");
    assert_eq!(launches(&p), 0, "nothing launched onto a busy port");
    assert!(alive, "the run killed a process that was not its own");
    p.assert_no_leftovers();
}

/// A server that ignores SIGTERM is SIGKILLed after the grace period and
/// the next group starts on the same port.
#[test]
fn server_ignoring_sigterm_is_killed_after_grace() {
    let p = RunProject::new();
    let fault = "ignore_sigterm";
    let (out, rows) = run_fault(&p, fault, &[4, 8], &[]);
    assert_eq!(out.code, 0, "{}", out.text());
    assert_eq!(statuses(&rows).get("ok"), Some(&4), "{rows:#?}");
    assert_second_group_ok(&rows, fault, &out);
    assert_eq!(launches(&p), 2);
    p.assert_no_leftovers();
    assert!(!p.port_busy());
}

/// A grandchild in the server's process group keeps the listening socket;
/// stopping the group frees the port for the next group.
#[test]
fn grandchild_holding_the_port_is_stopped_with_its_group() {
    let p = RunProject::new();
    let fault = "grandchild_port";
    let (out, rows) = run_fault(&p, fault, &[4, 8], &[]);
    assert_eq!(out.code, 0, "{}", out.text());
    assert_eq!(statuses(&rows).get("ok"), Some(&4), "{rows:#?}");
    assert_second_group_ok(&rows, fault, &out);
    assert!(!out.stderr.contains("still busy"), "{}", out.stderr);
    assert_eq!(launches(&p), 2);
    p.assert_no_leftovers();
    assert!(!p.port_busy());
}

/// The client fails (the built-in client cannot load the model's broken
/// tokenizer.json for `sharegpt`; pre-flight checks only that it exists) in
/// the first group only: `client_error`, the server is kept for the next
/// cell (no relaunch), and the second group runs.
#[test]
fn client_failure_is_client_error() {
    let p = RunProject::new();
    p.write("model_conf/qwen/tokenizer.json", "not a tokenizer");
    p.write(
        "matrices/client.yaml",
        "axes:\n  model: qwen\n  mode: serving\n  deploy: [tp8, tp8ep8]\n  request_rate: [4, 8]\n\
         derive:\n  dataset: \"{{ 'sharegpt' if deploy == 'tp8' else 'random-ids' }}\"\n\
         set:\n  workload:\n    seq: 16\n    output_len: 4\n    num_prompts: 8\n",
    );
    let out = p.run(&["--matrix", "matrices/client.yaml", "--mconf", "2l"]);
    assert_eq!(out.code, 1, "{}", out.text());
    let rows = p.rows(&p.only_run());
    assert_eq!(rows.len(), 4);
    assert_unique_cells(&rows);
    for r in &rows {
        let want = if r["deploy"] == "tp8" {
            "client_error"
        } else {
            "ok"
        };
        assert_eq!(r["status"], want, "{r:#?}");
    }
    let failed: Vec<&Row> = rows.iter().filter(|r| r["deploy"] == "tp8").collect();
    assert!(
        failed[0]["error"].contains("client failed"),
        "{}",
        failed[0]["error"]
    );
    assert_eq!(
        launches(&p),
        2,
        "a client error does not relaunch the server"
    );
    p.assert_no_leftovers();
}

/// Latency mode, `oom_above=2`: batch size 4 runs out of memory at both
/// lengths, 8 is pruned, 1 and 2 are measured; the second group is clean.
fn oom_run(no_prune: bool) -> (RunProject, Out, Vec<Row>) {
    let p = RunProject::new();
    p.write("bsz_seq.csv", "1,2,4,8;16,32\n");
    p.write(
        "matrices/oom.yaml",
        "axes:\n  model: qwen\n  mode: latency\n  deploy: tp8\n  \
         env.MATRIX_SIM_FAULT: [\"oom_above=2\", \"\"]\nset:\n  workload:\n    output_len: 4\n",
    );
    let mut args = vec![
        "--matrix",
        "matrices/oom.yaml",
        "--mconf",
        "2l",
        "--bsz-seq",
        "bsz_seq.csv",
    ];
    if no_prune {
        args.push("--no-prune");
    }
    let out = p.run(&args);
    let rows = p.rows(&p.only_run());
    assert_eq!(rows.len(), 16, "one row per cell\n{}", out.text());
    assert_unique_cells(&rows);
    (p, out, rows)
}

fn bsz_status(rows: &[Row], fault: &str) -> Vec<(u64, u64, String)> {
    let mut v: Vec<(u64, u64, String)> = rows
        .iter()
        .filter(|r| r[FAULT_COL] == fault)
        .map(|r| {
            (
                r["bsz"].parse().unwrap(),
                r["input_len"].parse().unwrap(),
                r["status"].clone(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn oom_prunes_larger_batch_sizes() {
    let (p, out, rows) = oom_run(false);
    assert_eq!(out.code, 1, "{}", out.text());
    let got = bsz_status(&rows, "oom_above=2");
    let want: Vec<(u64, u64, String)> = [
        (1, 16, "ok"),
        (1, 32, "ok"),
        (2, 16, "ok"),
        (2, 32, "ok"),
        (4, 16, "oom"),
        (4, 32, "oom"),
        (8, 16, "pruned"),
        (8, 32, "pruned"),
    ]
    .iter()
    .map(|(b, s, st)| (*b, *s, st.to_string()))
    .collect();
    assert_eq!(got, want);
    for r in rows.iter().filter(|r| r["status"] == "pruned") {
        assert!(r["error"].contains("batch size 4"), "{}", r["error"]);
    }
    for r in rows.iter().filter(|r| r["status"] == "oom") {
        assert!(r["error"].contains("out of memory"), "{}", r["error"]);
    }
    assert_second_group_ok(&rows, "oom_above=2", &out);
    p.assert_no_leftovers();
}

#[test]
fn no_prune_runs_larger_batch_sizes_into_oom() {
    let (p, out, rows) = oom_run(true);
    assert_eq!(out.code, 1, "{}", out.text());
    let got = bsz_status(&rows, "oom_above=2");
    for (b, _, st) in &got {
        let want = if *b <= 2 { "ok" } else { "oom" };
        assert_eq!(st, want, "{got:?}");
    }
    assert!(!rows.iter().any(|r| r["status"] == "pruned"));
    assert_second_group_ok(&rows, "oom_above=2", &out);
    p.assert_no_leftovers();
}

/// A one_batch process that dies before measuring anything is retried once,
/// then every cell of its group is `startup_crash`; the next group runs.
#[test]
fn latency_startup_crash_fails_the_group_not_the_sweep() {
    let p = RunProject::new();
    p.write(
        "m.yaml",
        "axes:\n  model: qwen\n  mode: latency\n  deploy: tp8\n  \
         env.MATRIX_SIM_FAULT: [\"crash_at_start=3\", \"\"]\n  bsz: [1, 2]\n  seq: [16]\n\
         set:\n  workload:\n    output_len: 4\n",
    );
    let out = p.run(&["--matrix", "m.yaml", "--mconf", "2l"]);
    assert_eq!(out.code, 1, "{}", out.text());
    let id = p.only_run();
    let rows = p.rows(&id);
    assert_eq!(rows.len(), 4);
    let crashed: Vec<_> = rows
        .iter()
        .filter(|r| r["status"] == "startup_crash")
        .collect();
    assert_eq!(crashed.len(), 2, "{rows:#?}");
    assert!(
        crashed.iter().all(|r| r["error"]
            .contains("one_batch failed to start (exit status: 3): RuntimeError: simulated crash")),
        "{crashed:#?}"
    );
    assert_eq!(rows.iter().filter(|r| r["status"] == "ok").count(), 2);
    assert!(out.stderr.contains("retrying"), "{}", out.stderr);
    let one_batch = p
        .starts()
        .iter()
        .filter(|s| s["entry"] == "one-batch")
        .count();
    assert_eq!(
        one_batch, 3,
        "2 tries for the crashing group, 1 for the other"
    );
    p.assert_no_leftovers();
}
