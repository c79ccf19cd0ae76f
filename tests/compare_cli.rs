//! `matrix compare`: the real binary over hand-written CSV folders and a
//! real SQLite database holding runs with repeats.

mod support;

use std::path::Path;

use assert_cmd::Command;
use support::results::{at, cells, ingest, record, write_csv};

fn matrix(dir: &Path) -> Command {
    let mut c = Command::new(support::bin());
    c.current_dir(dir)
        .env_remove("MATRIX_DB")
        .env("NO_COLOR", "1");
    c
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A database with base (run a) and new (run b), 5 repeats, 8 cells; in
/// b the first 4 cells are 10 % slower (e2e up, throughput down).
fn planted_db(dir: &Path) -> std::path::PathBuf {
    let db = dir.join("results/matrix.db");
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    let a = record("run-a", &at(0), &cells(8, 5, 0, |_| 1.0));
    let b = record(
        "run-b",
        &at(1),
        &cells(8, 5, 1, |c| if c < 4 { 1.10 } else { 1.0 }),
    );
    ingest(&db, &[a, b]);
    db
}

#[test]
fn planted_slowdown_is_a_regression_exit_1() {
    let t = tempfile::tempdir().unwrap();
    planted_db(t.path());
    let o = matrix(t.path())
        .args(["compare", "run-a", "run-b", "--json"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["format"], 1);
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 16, "8 cells × 2 judged metrics");
    let regressions: Vec<(&str, &str)> = rows
        .iter()
        .filter(|r| r["comparison"]["verdict"] == "regression")
        .map(|r| (r["label"].as_str().unwrap(), r["metric"].as_str().unwrap()))
        .collect();
    assert_eq!(regressions.len(), 8, "4 cells × 2 metrics: {regressions:?}");
    for (label, _) in &regressions {
        let bsz: u32 = label.trim_start_matches("bsz=").parse().unwrap();
        assert!(bsz <= 4, "{label}");
    }
    // Regressions first.
    assert_eq!(rows[0]["comparison"]["verdict"], "regression");
    assert!(rows.iter().all(|r| r["comparison"]["method"] == "repeats"));
    // The others unchanged.
    assert_eq!(
        rows.iter()
            .filter(|r| r["comparison"]["verdict"] == "unchanged")
            .count(),
        8
    );
}

#[test]
fn identical_runs_exit_0_unchanged_and_same_run_allowed() {
    let t = tempfile::tempdir().unwrap();
    planted_db(t.path());
    let o = matrix(t.path())
        .args(["compare", "run-a", "run-a"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("same run"), "{}", stderr(&o));
    assert!(stdout(&o).contains("0 regressions"), "{}", stdout(&o));
    assert!(!stdout(&o).contains("regression "));
}

#[test]
fn latest_selectors_resolve() {
    let t = tempfile::tempdir().unwrap();
    planted_db(t.path());
    let o = matrix(t.path())
        .args(["compare", "latest~1", "latest", "--json"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["base"]["run_id"], "run-a");
    assert_eq!(v["new"]["run_id"], "run-b");
}

#[test]
fn one_sample_folders_without_history_are_inconclusive_method_none() {
    let t = tempfile::tempdir().unwrap();
    let a = record("run-a", &at(0), &cells(3, 1, 0, |_| 1.0));
    let b = record("run-b", &at(1), &cells(3, 1, 1, |_| 1.2));
    write_csv(&t.path().join("a/run.csv"), &a);
    write_csv(&t.path().join("b/run.csv"), &b);
    let o = matrix(t.path())
        .args(["compare", "a", "b", "--json"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 6);
    for r in rows {
        assert_eq!(r["comparison"]["method"], "none", "{r}");
        assert_eq!(r["comparison"]["verdict"], "inconclusive", "{r}");
    }
}

#[test]
fn one_sample_with_history_uses_history() {
    let t = tempfile::tempdir().unwrap();
    let db = t.path().join("results/matrix.db");
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    let mut runs: Vec<_> = (0..10)
        .map(|i| record(&format!("h{i:02}"), &at(i), &cells(3, 1, i, |_| 1.0)))
        .collect();
    runs.push(record("new", &at(20), &cells(3, 1, 20, |_| 1.25)));
    ingest(&db, &runs);
    let o = matrix(t.path())
        .args(["compare", "h09", "new", "--json"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    for r in v["rows"].as_array().unwrap() {
        assert_eq!(r["comparison"]["method"], "history", "{r}");
        assert_eq!(r["comparison"]["verdict"], "regression", "{r}");
    }
    // The method shows in the terminal table too.
    let o = matrix(t.path())
        .args(["compare", "h09", "new"])
        .output()
        .unwrap();
    assert!(stdout(&o).contains("history"), "{}", stdout(&o));
}

#[test]
fn md_and_html_outputs() {
    let t = tempfile::tempdir().unwrap();
    planted_db(t.path());
    let o = matrix(t.path())
        .args(["compare", "run-a", "run-b", "--format", "md"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let md = stdout(&o);
    assert!(md.contains("## median_e2e_ms"), "{md}");
    assert!(md.contains("🔴"), "{md}");
    assert!(md.contains("⚪"), "{md}");
    assert!(md.contains("methods: repeats"), "{md}");
    let out = t.path().join("r.html");
    let o = matrix(t.path())
        .args(["compare", "run-a", "run-b", "--format", "html", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let html = std::fs::read_to_string(&out).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("<style>"));
    assert!(!html.contains("http"), "self-contained");
    assert!(!html.contains("src="), "self-contained");
    assert!(html.contains("class=\"regression\""));
}

#[test]
fn manifest_differences_listed() {
    let t = tempfile::tempdir().unwrap();
    let db = t.path().join("results/matrix.db");
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    let a = record("run-a", &at(0), &cells(2, 3, 0, |_| 1.0));
    let mut b = record("run-b", &at(1), &cells(2, 3, 1, |_| 1.0));
    b.engine_version = Some("1.1".into());
    b.image = Some("img:2".into());
    ingest(&db, &[a, b]);
    let o = matrix(t.path())
        .args(["compare", "run-a", "run-b"])
        .output()
        .unwrap();
    let s = stdout(&o);
    assert!(s.contains("engine version: 1.0 → 1.1"), "{s}");
    assert!(s.contains("image: - → img:2"), "{s}");
}

#[test]
fn bad_inputs_exit_2() {
    let t = tempfile::tempdir().unwrap();
    // No database and a run id.
    let o = matrix(t.path())
        .args(["compare", "run-a", "run-b"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("hint"), "{}", stderr(&o));
    planted_db(t.path());
    // Unknown run.
    let o = matrix(t.path())
        .args(["compare", "run-a", "run-zz"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    // Unknown metric: the list in the hint.
    let o = matrix(t.path())
        .args(["compare", "run-a", "run-b", "--metric", "nope"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("median_e2e_ms"), "{}", stderr(&o));
    // Unknown --only axis.
    let o = matrix(t.path())
        .args(["compare", "run-a", "run-b", "--only", "nope=1"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("bsz"), "{}", stderr(&o));
    // A file that is no result.
    std::fs::write(t.path().join("x.csv"), "a,b\n1,2\n").unwrap();
    let o = matrix(t.path())
        .args(["compare", "x.csv", "run-b"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn only_and_metric_filter() {
    let t = tempfile::tempdir().unwrap();
    planted_db(t.path());
    let o = matrix(t.path())
        .args([
            "compare",
            "run-a",
            "run-b",
            "--json",
            "--only",
            "bsz=1,5",
            "--metric",
            "output_throughput",
        ])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(o.status.code(), Some(1));
}
