//! Stopping `matrix run` part-way: one Ctrl-C (graceful, exit 130, finished
//! cells kept, then `--resume latest`), two Ctrl-Cs (everything killed at
//! once), and SIGKILL followed by `--resume <run_id>`.

mod support;

use std::time::Duration;

use nix::sys::signal::Signal;
use support::run::{RunProject, assert_unique_cells, statuses};
use support::wait_for;

/// 2 deploys × 3 rates, each cell a few hundred milliseconds of wall time
/// (time scale 0.1) so a signal lands mid-run.
fn slow_project() -> RunProject {
    let mut p = RunProject::new();
    p.sim_scale = 0.1;
    p.write(
        "matrices/slow.yaml",
        "axes:\n  model: qwen\n  mode: serving\n  deploy: [tp8, tp8ep8]\n  request_rate: [4, 8, 16]\n\
         set:\n  workload:\n    seq: 16\n    output_len: 4\n    num_prompts: 12\n",
    );
    p
}

const ARGS: &[&str] = &["--matrix", "matrices/slow.yaml", "--mconf", "2l"];
const CELLS: usize = 6;

/// The id of the (only) run once its journal has at least `n` lines, and
/// how many it had.
fn wait_journal(p: &RunProject, n: usize) -> (String, usize) {
    let mut found = None;
    let ok = wait_for(Duration::from_secs(30), || {
        let Some(id) = p.run_ids().pop() else {
            return false;
        };
        let lines = p.journal(&id).len();
        found = Some((id, lines));
        lines >= n
    });
    assert!(ok, "the journal never reached {n} lines: {found:?}");
    found.unwrap()
}

#[test]
fn ctrl_c_once_keeps_finished_cells_and_resume_completes() {
    let p = slow_project();
    let run = p.spawn(ARGS);
    let (id, seen) = wait_journal(&p, 1);
    run.signal(Signal::SIGINT);
    let out = run.wait(Duration::from_secs(30));
    assert_eq!(out.code, 130, "{}", out.text());
    assert!(out.stderr.contains("interrupted"), "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!("--resume {id}")),
        "{}",
        out.stderr
    );
    p.assert_no_leftovers();

    let rows = p.rows(&id);
    let journal = p.journal(&id);
    assert!(rows.len() >= seen, "finished cells are kept");
    assert!(
        rows.len() < CELLS,
        "the run was stopped part-way: {rows:#?}"
    );
    assert_eq!(journal.len(), rows.len(), "journal and CSV agree");
    assert!(
        rows.iter().all(|r| r["status"] == "ok"),
        "the cell in progress is not recorded: {rows:#?}"
    );

    let out = p.resume("latest");
    assert_eq!(out.code, 0, "{}", out.text());
    assert_eq!(p.only_run(), id, "resume appends to the same run");
    let rows = p.rows(&id);
    assert_eq!(rows.len(), CELLS, "{rows:#?}");
    assert_unique_cells(&rows);
    assert_eq!(statuses(&rows).get("ok"), Some(&CELLS));
    assert_eq!(p.journal(&id).len(), CELLS);
    p.assert_no_leftovers();
}

/// Two Ctrl-Cs kill everything at once: the server ignores SIGTERM and the
/// grace period is 60 s, so only the second signal can end the run quickly.
#[test]
fn ctrl_c_twice_kills_everything_at_once() {
    let mut p = slow_project();
    p.grace = "60".into();
    let mut args = ARGS.to_vec();
    args.extend(["--set", "env.MATRIX_SIM_FAULT=ignore_sigterm"]);
    let run = p.spawn(&args);
    let (id, _) = wait_journal(&p, 1);
    run.signal(Signal::SIGINT);
    // The second Ctrl-C must find the graceful stop under way: wait until
    // matrix has acknowledged the first one.
    assert!(
        wait_for(Duration::from_secs(10), || run
            .stderr()
            .contains("press Ctrl-C again")),
        "the first SIGINT was never acknowledged:\n{}",
        run.stderr()
    );
    run.signal(Signal::SIGINT);
    let out = run.wait(Duration::from_secs(20));
    assert_eq!(out.code, 130, "{}", out.text());
    p.assert_no_leftovers();
    assert!(!p.port_busy());
    let rows = p.rows(&id);
    assert_eq!(p.journal(&id).len(), rows.len());
    assert!(rows.iter().all(|r| r["status"] == "ok"), "{rows:#?}");
}

/// SIGKILL gives `matrix` no chance to clean up, but the kernel kills its
/// direct children with it (parent-death signal), so the server and the
/// client do not outlive it; `--resume <id>` then runs exactly the missing
/// cells and never relaunches the group that was complete.
#[test]
fn sigkill_then_resume_runs_only_what_is_missing() {
    let p = slow_project();
    let run = p.spawn(ARGS);
    let (id, seen) = wait_journal(&p, 3);
    run.signal(Signal::SIGKILL);
    let out = run.wait(Duration::from_secs(10));
    assert_eq!(out.code, 128 + 9);
    assert!(seen < CELLS, "killed too late to test a resume");
    // The server and client die with matrix: nothing to clean up.
    p.assert_no_leftovers();

    let manifest = p.manifest(&id);
    let groups = manifest["plan"]["groups"].as_array().unwrap().clone();
    let done: Vec<String> = p
        .journal(&id)
        .iter()
        .map(|j| j["cell_id"].as_str().unwrap().to_string())
        .collect();
    let complete: Vec<String> = groups
        .iter()
        .filter(|g| {
            g["cells"]
                .as_array()
                .unwrap()
                .iter()
                .all(|c| done.iter().any(|d| c["id"] == d.as_str()))
        })
        .map(|g| g["id"].as_str().unwrap().to_string())
        .collect();
    assert!(!complete.is_empty(), "the first group was complete");
    let log_size = |g: &str| {
        std::fs::metadata(p.run_dir(&id).join(g).join("server.log"))
            .map(|m| m.len())
            .unwrap_or(0)
    };
    let sizes: Vec<u64> = complete.iter().map(|g| log_size(g)).collect();
    let starts_before = p.starts().len();

    let out = p.resume(&id);
    assert_eq!(out.code, 0, "{}", out.text());
    let rows = p.rows(&id);
    assert_eq!(rows.len(), CELLS, "{rows:#?}");
    assert_unique_cells(&rows);
    assert_eq!(statuses(&rows).get("ok"), Some(&CELLS));
    assert_eq!(p.journal(&id).len(), CELLS);
    let relaunched = p.starts().len() - starts_before;
    assert_eq!(
        relaunched,
        groups.len() - complete.len(),
        "one launch per group with missing cells"
    );
    let after: Vec<u64> = complete.iter().map(|g| log_size(g)).collect();
    assert_eq!(sizes, after, "a complete group was launched again");
    p.assert_no_leftovers();
}

/// A worker rank (`--rank 1` of a two-node deployment) launches its server,
/// records no cell, and keeps it until `matrix` is stopped; then nothing of
/// it remains.
#[test]
fn worker_rank_holds_its_server_until_stopped() {
    let p = RunProject::new();
    let mut run = p.spawn(&[
        "--model",
        "qwen",
        "--mconf",
        "2l",
        "--deploy",
        "tp16ep16",
        "--mode",
        "serving",
        "--ip",
        "127.0.0.1",
        "--rank",
        "1",
        "--set",
        "seq=16",
        "--set",
        "output_len=4",
        "--set",
        "num_prompts=4",
    ]);
    let started = wait_for(Duration::from_secs(20), || {
        p.starts()
            .iter()
            .any(|s| s["entry"] == "launch-server" && s["rank"] == 1)
    });
    assert!(started, "worker server started: {}", run.stderr());
    assert!(!run.exited(), "matrix keeps the worker running");
    run.signal(Signal::SIGINT);
    let out = run.wait(Duration::from_secs(20));
    assert_eq!(out.code, 130, "{}", out.text());
    let id = p.only_run();
    assert!(p.rows(&id).is_empty(), "a worker records no cells");
    p.assert_no_leftovers();
}
