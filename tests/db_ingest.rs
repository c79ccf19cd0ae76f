//! `matrix ingest` of foreign result files through the real binary: the
//! runs it stores (`matrix runs --json`), idempotency, all-or-nothing on
//! bad input, and run selectors over what it stored (`matrix compare`).

mod support;

use std::path::{Path, PathBuf};

use assert_cmd::Command;

const SERVING: &str = "bench_serving.jsonl";
const OFFLINE: &str = "20250429_DeepSeek-V3-0324_FP8_offline.csv";
const SERVING_RUN: &str = "bench_serving-12b2517a";
const OFFLINE_RUN: &str = "20250429_DeepSeek-V3-0324_FP8_offline-9ca198f5";

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/foreign")
        .join(name)
        .to_str()
        .unwrap()
        .to_string()
}

/// The binary with `--db <dir>/matrix.db`, run in `dir`.
fn matrix(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(support::bin())
        .current_dir(dir)
        .env_remove("MATRIX_DB")
        .env("NO_COLOR", "1")
        .arg("--db")
        .arg(db(dir))
        .args(args)
        .output()
        .unwrap()
}

fn db(dir: &Path) -> PathBuf {
    dir.join("matrix.db")
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ingest(dir: &Path, files: &[&str]) -> std::process::Output {
    let mut args = vec!["ingest".to_string()];
    args.extend(files.iter().map(|f| f.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    matrix(dir, &args)
}

/// `matrix runs --json` as (run_id, source, cells_ok, cells_failed), and
/// the raw text.
fn runs(dir: &Path) -> (Vec<(String, String, u64, u64)>, String) {
    let o = matrix(dir, &["runs", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let rows = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["run_id"].as_str().unwrap().to_string(),
                r["source"].as_str().unwrap().to_string(),
                r["cells_ok"].as_u64().unwrap(),
                r["cells_failed"].as_u64().unwrap(),
            )
        })
        .collect();
    (rows, text)
}

/// Rows in runs, cells and metrics.
fn counts(dir: &Path) -> (i64, i64, i64) {
    let c = rusqlite::Connection::open(db(dir)).unwrap();
    c.query_row(
        "SELECT (SELECT count(*) FROM runs), (SELECT count(*) FROM cells),
                (SELECT count(*) FROM metrics)",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
    .unwrap()
}

fn both() -> Vec<(String, String, u64, u64)> {
    vec![
        (SERVING_RUN.into(), "bench_serving".into(), 2, 0),
        (OFFLINE_RUN.into(), "sglang_ci_offline".into(), 2, 0),
    ]
}

#[test]
fn ingested_foreign_files_are_listed_with_their_cells() {
    let dir = tempfile::tempdir().unwrap();
    let o = ingest(dir.path(), &[&fixture(SERVING), &fixture(OFFLINE)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains(&format!(
            "{}: run {SERVING_RUN}: ingested, 2 cells",
            fixture(SERVING)
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "{}: run {OFFLINE_RUN}: ingested, 2 cells",
            fixture(OFFLINE)
        )),
        "{out}"
    );
    // Oldest first: the bench_serving file has no start time.
    assert_eq!(runs(dir.path()).0, both());
}

#[test]
fn ingesting_the_same_files_twice_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let files = [fixture(SERVING), fixture(OFFLINE)];
    let files: Vec<&str> = files.iter().map(String::as_str).collect();
    let o = ingest(dir.path(), &files);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let (_, before) = runs(dir.path());
    let counts_before = counts(dir.path());

    let o = ingest(dir.path(), &files);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert_eq!(out.matches(": unchanged, 2 cells").count(), 2, "{out}");
    assert!(
        !out.contains("ingested,") && !out.contains("replaced,"),
        "{out}"
    );
    let (rows, after) = runs(dir.path());
    assert_eq!(after, before);
    assert_eq!(rows, both());
    assert_eq!(counts(dir.path()), counts_before);
    assert_eq!(counts_before.0, 2);
    assert_eq!(counts_before.1, 4);
}

#[test]
fn a_csv_of_an_unknown_header_fails_the_whole_ingest() {
    let dir = tempfile::tempdir().unwrap();
    let o = ingest(dir.path(), &[&fixture(SERVING)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let before = counts(dir.path());
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "foo,bar\n1,2\n").unwrap();
    let bad = bad.to_str().unwrap();

    // A valid new file before it in the same invocation is not ingested.
    let o = ingest(dir.path(), &[&fixture(OFFLINE), bad]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains(&format!("error: {bad}: not a format matrix can ingest")),
        "{err}"
    );
    assert!(err.contains("hint: "), "{err}");
    assert_eq!(stdout(&o), "");
    assert_eq!(counts(dir.path()), before);
    assert_eq!(
        runs(dir.path()).0,
        vec![(SERVING_RUN.into(), "bench_serving".into(), 2, 0)]
    );
}

#[test]
fn a_broken_jsonl_line_names_file_and_line_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read_to_string(fixture(SERVING)).unwrap();
    let mut lines = good.lines();
    let torn = dir.path().join("torn.jsonl");
    // A broken line between two good ones (a torn *last* line is left out
    // on purpose: a run being written).
    std::fs::write(
        &torn,
        format!(
            "{}\n{{\"backend\": \"sglang\", broken\n{}\n",
            lines.next().unwrap(),
            lines.next().unwrap()
        ),
    )
    .unwrap();
    let torn = torn.to_str().unwrap();

    let o = ingest(dir.path(), &[&fixture(OFFLINE), torn]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains(&format!("error: {torn}:2: ")), "{err}");
    assert!(err.contains("hint: "), "{err}");
    assert_eq!(stdout(&o), "");
    // Nothing written: no database was created at all.
    assert!(!db(dir.path()).exists());
}

#[test]
fn latest_selectors_resolve_after_two_ingests_and_an_unknown_run_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for f in [SERVING, OFFLINE] {
        let o = ingest(dir.path(), &[&fixture(f)]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    }
    let o = matrix(dir.path(), &["compare", "latest~1", "latest", "--json"]);
    assert!(matches!(o.status.code(), Some(0 | 1)), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["base"]["run_id"], SERVING_RUN, "{v}");
    assert_eq!(v["new"]["run_id"], OFFLINE_RUN, "{v}");

    let o = matrix(dir.path(), &["compare", "latest~2", "latest"]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("latest~2"), "{err}");
    assert!(
        err.contains("hint: the database holds 2 run(s); `latest~1` is the oldest"),
        "{err}"
    );

    // Not a prefix of any id, but part of one: did-you-mean.
    let o = matrix(dir.path(), &["compare", "12b2517a", "latest"]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("12b2517a"), "{err}");
    assert!(
        err.contains(&format!("hint: did you mean {SERVING_RUN}?")),
        "{err}"
    );
}
