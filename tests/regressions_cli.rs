//! `matrix regressions`: the real binary over a real SQLite database of a
//! 20-run history.

mod support;

use std::path::Path;

use assert_cmd::Command;
use support::results::{at, cells, ingest, record};

fn matrix(dir: &Path) -> Command {
    let mut c = Command::new(support::bin());
    c.current_dir(dir).env_remove("MATRIX_DB");
    c
}

/// 20 runs (r00..r19) of 3 cells, one sample each; `factor(run)` scales
/// cell bsz=1's e2e latency (the others stay flat).
fn history_db(dir: &Path, factor: impl Fn(usize) -> f64) {
    let db = dir.join("results/matrix.db");
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    let runs: Vec<_> = (0..20)
        .map(|i| {
            let f = factor(i);
            record(
                &format!("r{i:02}"),
                &at(i),
                &cells(3, 1, i, |c| if c == 0 { f } else { 1.0 }),
            )
        })
        .collect();
    ingest(&db, &runs);
}

fn json(o: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stderr)))
}

#[test]
fn step_at_run_12_is_one_open_regression() {
    let t = tempfile::tempdir().unwrap();
    history_db(t.path(), |i| if i >= 12 { 1.10 } else { 1.0 });
    let o = matrix(t.path())
        .args(["regressions", "--json"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let v = json(&o);
    assert_eq!(v["format"], 1);
    let regs = v["regressions"].as_array().unwrap();
    // e2e up (regression) and throughput down (regression) of bsz=1.
    assert_eq!(regs.len(), 2, "{v}");
    for r in regs {
        assert_eq!(r["run_id"], "r12", "{r}");
        assert_eq!(r["open"], true);
        assert_eq!(r["label"], "bsz=1");
        assert_eq!(r["started_at"], at(12));
    }
    let o = matrix(t.path()).args(["regressions"]).output().unwrap();
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(s.contains("OPEN regression"), "{s}");
    assert!(s.contains("2 open regression(s)"), "{s}");
}

#[test]
fn since_filters_steps_but_keeps_the_baseline() {
    let t = tempfile::tempdir().unwrap();
    history_db(t.path(), |i| if i >= 12 { 1.10 } else { 1.0 });
    // A date after run 12 started: the step is not reported.
    let o = matrix(t.path())
        .args(["regressions", "--json", "--since", &at(13)])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(json(&o)["regressions"].as_array().unwrap().len(), 0);
    // At run 12: reported (the points before still make the baseline).
    let o = matrix(t.path())
        .args(["regressions", "--json", "--since", &at(12)])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(json(&o)["regressions"].as_array().unwrap().len(), 2);
    // A day form and a bad form.
    let o = matrix(t.path())
        .args(["regressions", "--since", "2026-10-01"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let o = matrix(t.path())
        .args(["regressions", "--since", "last tuesday"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("7d"));
}

#[test]
fn step_undone_later_is_not_open() {
    let t = tempfile::tempdir().unwrap();
    // Up 10 % at run 4, then down below the old level at run 12 (written
    // against plain binary segmentation, which misses a bump back to
    // exactly the old level: the first split's t is ~3 at this noise).
    history_db(t.path(), |i| match i {
        0..4 => 1.0,
        4..12 => 1.10,
        _ => 0.95,
    });
    let o = matrix(t.path())
        .args(["regressions", "--json"])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert_eq!(json(&o)["regressions"].as_array().unwrap().len(), 0);
    let o = matrix(t.path())
        .args(["regressions", "--json", "--all"])
        .output()
        .unwrap();
    let v = json(&o);
    let regs = v["regressions"].as_array().unwrap();
    assert!(
        regs.iter()
            .any(|r| r["run_id"] == "r04" && r["open"] == false && r["direction"] == "regression"),
        "{v}"
    );
}

#[test]
fn flat_history_and_empty_db() {
    let t = tempfile::tempdir().unwrap();
    // No DB at all: exit 2 with a hint.
    let o = matrix(t.path()).args(["regressions"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    history_db(t.path(), |_| 1.0);
    let o = matrix(t.path())
        .args(["regressions", "--json", "--metric", "median_e2e_ms"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(json(&o)["regressions"].as_array().unwrap().len(), 0);
    let o = matrix(t.path())
        .args(["regressions", "--metric", "nope"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    // An empty database: a message, exit 0.
    let e = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(e.path().join("results")).unwrap();
    ingest(&e.path().join("results/matrix.db"), &[]);
    let o = matrix(e.path()).args(["regressions"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stdout).contains("no runs"));
}
