//! `matrix run` and the results database: cells land as they finish with
//! every repeat, a killed run keeps what it recorded, two runs share one
//! database, a corrupt or newer database never costs the CSV, and
//! `matrix db rebuild` / `matrix ingest` reproduce the same rows.

mod support;

use std::time::Duration;

use camino::{Utf8Path, Utf8PathBuf};
use matrix::record::db::{Db, RunRecord};
use nix::sys::signal::Signal;
use support::run::{Out, RunProject, run_to_end};
use support::wait_for;

fn db_path(p: &RunProject) -> Utf8PathBuf {
    Utf8PathBuf::from_path_buf(p.results().join("matrix.db")).unwrap()
}

fn cmd(p: &RunProject, args: &[&str]) -> Out {
    run_to_end(p.matrix(args), Duration::from_secs(60))
}

/// The cells and samples of a stored run, without run-level fields that a
/// live run and a rebuild fill differently (finished_at, path).
fn cells(run: &RunRecord) -> Vec<(String, String, usize, String)> {
    run.cells
        .iter()
        .map(|c| {
            (
                c.cell_id.clone(),
                c.status.clone(),
                c.samples.len(),
                // Every repeat's exact values: the journal's JSON floats
                // round-trip (serde_json's float_roundtrip).
                serde_json::to_string(&(&c.key, &c.row, &c.samples)).unwrap(),
            )
        })
        .collect()
}

const ONLINE: &[&str] = &[
    "-q",
    "--matrix",
    "matrices/grok_online.yaml",
    "--mconf",
    "2l",
    "--set",
    "output_len=4",
    "--set",
    "seq=16",
];

#[test]
fn a_sim_run_lands_with_every_repeat_and_rebuild_and_ingest_reproduce_it() {
    let p = RunProject::new();
    let out = p.run(ONLINE);
    assert_eq!(out.code, 0, "{}", out.text());
    let id = p.only_run();
    let db = Db::open_existing(&db_path(&p)).unwrap();
    let run = db.load_run(&id).unwrap();
    assert_eq!(run.source, "run");
    assert_eq!(run.cells.len(), 5);
    for c in &run.cells {
        assert_eq!(c.status, "ok");
        // grok_online.yaml: best of three repeats.
        assert_eq!(c.samples.len(), 3, "{}", c.cell_id);
        assert!(
            c.samples
                .iter()
                .all(|s| s.contains_key("output_throughput"))
        );
    }
    // The journal keeps them too.
    let journal = p.journal(&id);
    assert!(
        journal
            .iter()
            .all(|e| e["samples"].as_array().unwrap().len() == 3)
    );
    let before = cells(&run);
    drop(db);

    let runs = cmd(&p, &["runs", "--json"]);
    assert_eq!(runs.code, 0, "{}", runs.text());
    let listed: serde_json::Value = serde_json::from_str(&runs.stdout).unwrap();
    assert_eq!(listed[0]["run_id"], id.as_str());
    assert_eq!(listed[0]["cells_ok"], 5);

    let rebuilt = cmd(&p, &["db", "rebuild"]);
    assert_eq!(rebuilt.code, 0, "{}", rebuilt.text());
    let db = Db::open_existing(&db_path(&p)).unwrap();
    assert_eq!(cells(&db.load_run(&id).unwrap()), before);
    let counts = db.counts().unwrap();
    drop(db);

    let folder = p.run_dir(&id);
    let folder = folder.to_str().unwrap();
    let first = cmd(&p, &["ingest", folder]);
    assert_eq!(first.code, 0, "{}", first.text());
    assert!(
        first.stdout.contains("unchanged, 5 cells"),
        "{}",
        first.text()
    );
    let db = Db::open_existing(&db_path(&p)).unwrap();
    assert_eq!(db.counts().unwrap(), counts);
    assert_eq!(cells(&db.load_run(&id).unwrap()), before);
}

#[test]
fn a_killed_run_keeps_the_cells_it_recorded() {
    let mut p = RunProject::new();
    p.sim_scale = 0.1;
    p.write(
        "matrices/slow.yaml",
        "axes:\n  model: qwen\n  mode: serving\n  deploy: [tp8, tp8ep8]\n  request_rate: [4, 8, 16]\n\
         set:\n  workload:\n    seq: 16\n    output_len: 4\n    num_prompts: 12\n",
    );
    let run = p.spawn(&["--matrix", "matrices/slow.yaml", "--mconf", "2l"]);
    let path = db_path(&p);
    let ok = wait_for(Duration::from_secs(30), || {
        let Some(id) = p.run_ids().pop() else {
            return false;
        };
        Db::open_existing(&path)
            .and_then(|db| db.load_run(&id))
            .is_ok_and(|r| !r.cells.is_empty())
    });
    assert!(ok, "no cell reached the database");
    run.signal(Signal::SIGKILL);
    let _ = run.wait(Duration::from_secs(30));
    p.kill_leftovers();
    let id = p.only_run();
    let stored = Db::open_existing(&path).unwrap().load_run(&id).unwrap();
    let journal: Vec<String> = p
        .journal(&id)
        .iter()
        .map(|e| e["cell_id"].as_str().unwrap().to_string())
        .collect();
    assert!(!stored.cells.is_empty());
    assert!(stored.cells.len() < 6, "killed part-way");
    for c in &stored.cells {
        assert!(
            journal.contains(&c.cell_id),
            "{} is in the journal",
            c.cell_id
        );
    }
}

#[test]
fn two_runs_write_the_same_database_at_once() {
    let mut p = RunProject::new();
    p.sim_scale = 0.01;
    let args = [
        "-q", "--model", "qwen", "--mconf", "2l", "--deploy", "tp8ep8",
    ];
    let a = p.spawn(&args);
    let b = p.spawn(&args);
    let a = a.wait(Duration::from_secs(120));
    let b = b.wait(Duration::from_secs(120));
    assert_eq!(a.code, 0, "{}", a.text());
    assert_eq!(b.code, 0, "{}", b.text());
    assert!(!a.stderr.contains("results database"), "{}", a.text());
    assert!(!b.stderr.contains("results database"), "{}", b.text());
    let ids = p.run_ids();
    assert_eq!(ids.len(), 2);
    let db = Db::open_existing(&db_path(&p)).unwrap();
    for id in &ids {
        let rows = p.rows(id).len();
        assert_eq!(db.load_run(id).unwrap().cells.len(), rows, "{id}");
    }
}

#[test]
fn a_corrupt_database_warns_keeps_the_csv_and_is_refused_by_runs() {
    let mut p = RunProject::new();
    p.sim_scale = 0.01;
    std::fs::create_dir_all(p.results()).unwrap();
    std::fs::write(db_path(&p), vec![b'x'; 8192]).unwrap();
    let out = p.run(&[
        "-q", "--model", "qwen", "--mconf", "2l", "--deploy", "tp8ep8",
    ]);
    assert_eq!(out.code, 0, "{}", out.text());
    assert_eq!(
        out.stderr.matches("warning: results database").count(),
        1,
        "{}",
        out.text()
    );
    assert!(out.stderr.contains("matrix db rebuild"), "{}", out.text());
    let id = p.only_run();
    assert!(!p.rows(&id).is_empty(), "the CSV is written");

    let runs = cmd(&p, &["runs"]);
    assert_eq!(runs.code, 2, "{}", runs.text());
    assert!(runs.stderr.contains("is not readable"), "{}", runs.text());
    assert!(runs.stderr.contains("matrix db rebuild"), "{}", runs.text());
}

#[test]
fn a_newer_schema_is_refused_with_exit_2() {
    let p = RunProject::new();
    let path = db_path(&p);
    drop(Db::open(&path).unwrap());
    let conn = rusqlite::Connection::open(path.as_std_path()).unwrap();
    conn.execute_batch("PRAGMA user_version = 99").unwrap();
    drop(conn);
    let runs = cmd(&p, &["runs"]);
    assert_eq!(runs.code, 2, "{}", runs.text());
    assert!(runs.stderr.contains("schema version 99"), "{}", runs.text());
    assert!(matches!(
        Db::open(&path),
        Err(matrix::record::db::DbError::NewerSchema { found: 99, .. })
    ));
}

#[test]
fn no_db_and_db_flag() {
    let mut p = RunProject::new();
    p.sim_scale = 0.01;
    let out = p.run(&[
        "-q", "--no-db", "--model", "qwen", "--mconf", "2l", "--deploy", "tp8",
    ]);
    assert_eq!(out.code, 0, "{}", out.text());
    assert!(!db_path(&p).exists());
    let other = Utf8Path::from_path(p.path())
        .unwrap()
        .join("elsewhere/x.db");
    let out = p.run(&[
        "-q",
        "--db",
        other.as_str(),
        "--model",
        "qwen",
        "--mconf",
        "2l",
        "--deploy",
        "tp8",
    ]);
    assert_eq!(out.code, 0, "{}", out.text());
    assert_eq!(
        Db::open_existing(&other)
            .unwrap()
            .list_runs()
            .unwrap()
            .len(),
        1
    );
    let empty = cmd(&p, &["runs"]);
    assert_eq!(empty.code, 0, "{}", empty.text());
    assert!(empty.stdout.contains("no runs in"), "{}", empty.text());
}
