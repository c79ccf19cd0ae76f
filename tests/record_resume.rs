//! Resume correctness: a run killed at any point between or inside the
//! CSV and journal writes resumes with exactly one row per cell, and the
//! final CSV is byte-for-byte the CSV of a run that was never killed.

use std::io::Write;

use camino::Utf8PathBuf;
use indexmap::IndexMap;
use matrix::record::{
    CsvRow, CsvSchema, Journal, JournalEntry, Manifest, Mode, RecordError, Recorder, RunLayout,
    Status,
};

const CELLS: usize = 5;
const KILLED_AT: usize = 2;

#[derive(Debug, Clone, Copy)]
enum Kill {
    /// Killed before cell 2 wrote anything.
    BeforeCell,
    /// Killed while writing cell 2's CSV row.
    TornCsvRow,
    /// Killed after cell 2's CSV row, before its journal line.
    AfterCsvRow,
    /// Killed while writing cell 2's journal line.
    TornJournalLine,
    /// Killed right after cell 2's journal line.
    AfterJournalLine,
    /// The CSV lost its last rows (e.g. restored from an old copy).
    CsvBehindJournal,
    /// Killed while rebuilding the CSV on an earlier resume (a stale .tmp).
    StaleRebuildTemp,
}

const KILLS: [Kill; 7] = [
    Kill::BeforeCell,
    Kill::TornCsvRow,
    Kill::AfterCsvRow,
    Kill::TornJournalLine,
    Kill::AfterJournalLine,
    Kill::CsvBehindJournal,
    Kill::StaleRebuildTemp,
];

fn schema() -> CsvSchema {
    CsvSchema::new(&[Mode::Latency], &["chunked_prefill_size".to_string()])
}

fn manifest(run_id: &str) -> Manifest {
    Manifest {
        matrix_version: env!("CARGO_PKG_VERSION").into(),
        run_id: run_id.into(),
        created_at: "2026-11-22T15:30:00Z".into(),
        argv: vec!["matrix".into(), "run".into()],
        cwd: "/work".into(),
        host: "test".into(),
        git: None,
        gpus: vec![],
        engines: vec![],
        plan: serde_json::json!({}),
        env: IndexMap::new(),
        options: Default::default(),
        sim_time_scale: None,
    }
}

fn row(i: usize) -> CsvRow {
    let mut r = CsvRow::new();
    r.set("run_id", "20261122-153000_t");
    r.set("cell_id", format!("c{i}"));
    let status = if i == 3 { Status::Oom } else { Status::Ok };
    let started: jiff::Timestamp = format!("2026-11-22T15:3{i}:00Z").parse().unwrap();
    r.set_outcome(
        status,
        (i == 3).then_some("CUDA out of memory, \"tried\""),
        Some(started),
        Some(1.25 * i as f64),
    );
    r.set("engine", "sim");
    r.set("chunked_prefill_size", 4096);
    r.set("bsz", 1 << i);
    if status == Status::Ok {
        r.set("prefill_latency_s", 0.001 * (i + 1) as f64);
    }
    r
}

fn layout(dir: &tempfile::TempDir) -> RunLayout {
    RunLayout::new(
        Utf8PathBuf::from_path_buf(dir.path().to_path_buf()).unwrap(),
        "20261122-153000_t",
    )
}

fn append(path: &Utf8PathBuf, bytes: &[u8]) {
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .unwrap()
        .write_all(bytes)
        .unwrap();
}

fn clean_csv() -> String {
    let dir = tempfile::tempdir().unwrap();
    let l = layout(&dir);
    let mut rec = Recorder::create(&l, schema(), &manifest(l.run_id())).unwrap();
    for i in 0..CELLS {
        rec.finish_cell(&row(i)).unwrap();
    }
    std::fs::read_to_string(l.csv()).unwrap()
}

/// Run until the kill point, "die" (drop everything), resume, finish.
fn killed_then_resumed(kill: Kill) -> (String, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let l = layout(&dir);
    {
        let mut rec = Recorder::create(&l, schema(), &manifest(l.run_id())).unwrap();
        for i in 0..KILLED_AT {
            rec.finish_cell(&row(i)).unwrap();
        }
        let line = schema().render(&row(KILLED_AT)).unwrap();
        let entry = serde_json::to_string(&JournalEntry::from_row(&row(KILLED_AT))).unwrap();
        match kill {
            Kill::BeforeCell => {}
            Kill::TornCsvRow => append(&l.csv(), &line.as_bytes()[..line.len() / 2]),
            Kill::AfterCsvRow => rec.csv_mut().write_row(&row(KILLED_AT)).unwrap(),
            Kill::TornJournalLine => {
                rec.csv_mut().write_row(&row(KILLED_AT)).unwrap();
                append(&l.journal(), &entry.as_bytes()[..entry.len() - 3]);
            }
            Kill::AfterJournalLine => rec.finish_cell(&row(KILLED_AT)).unwrap(),
            Kill::CsvBehindJournal => {
                rec.finish_cell(&row(KILLED_AT)).unwrap();
                let text = std::fs::read_to_string(l.csv()).unwrap();
                let keep: Vec<&str> = text.lines().take(2).collect();
                std::fs::write(l.csv(), keep.join("\n") + "\n").unwrap();
            }
            Kill::StaleRebuildTemp => {
                rec.csv_mut().write_row(&row(KILLED_AT)).unwrap();
                std::fs::write(l.csv().with_extension("csv.tmp"), "half a rebu").unwrap();
            }
        }
    }
    // Resume, twice: the second resume must find nothing to repair.
    let (rec, first) = Recorder::resume(&l, schema()).unwrap();
    drop(rec);
    let (mut rec, second) = Recorder::resume(&l, schema()).unwrap();
    assert_eq!(second.dropped_rows + second.restored_rows, 0, "{kill:?}");
    assert!(!second.torn_journal);
    match kill {
        Kill::AfterCsvRow | Kill::StaleRebuildTemp | Kill::TornJournalLine => {
            assert_eq!(first.dropped_rows, 1, "{kill:?}")
        }
        // Header and c0 kept: c1 and c2 come back from the journal.
        Kill::CsvBehindJournal => assert_eq!(first.restored_rows, 2, "{kill:?}"),
        _ => assert_eq!(first.dropped_rows + first.restored_rows, 0, "{kill:?}"),
    }
    assert_eq!(first.torn_journal, matches!(kill, Kill::TornJournalLine));
    for i in 0..CELLS {
        let id = format!("c{i}");
        if !rec.is_done(&id) {
            rec.finish_cell(&row(i)).unwrap();
        }
    }
    let journal: Vec<String> = Journal::read(&l.journal())
        .unwrap()
        .entries
        .into_iter()
        .map(|e| e.cell_id)
        .collect();
    (std::fs::read_to_string(l.csv()).unwrap(), journal)
}

#[test]
fn every_kill_point_resumes_to_exactly_one_row_per_cell() {
    let clean = clean_csv();
    let ids: Vec<String> = (0..CELLS).map(|i| format!("c{i}")).collect();
    for kill in KILLS {
        let (csv, journal) = killed_then_resumed(kill);
        assert_eq!(csv, clean, "{kill:?}");
        assert_eq!(journal, ids, "{kill:?}");
        let rows: Vec<&str> = csv.lines().skip(1).collect();
        assert_eq!(rows.len(), CELLS, "{kill:?}");
    }
}

#[test]
fn a_torn_journal_line_with_no_csv_row_is_just_a_cell_to_rerun() {
    let dir = tempfile::tempdir().unwrap();
    let l = layout(&dir);
    let mut rec = Recorder::create(&l, schema(), &manifest(l.run_id())).unwrap();
    rec.finish_cell(&row(0)).unwrap();
    drop(rec);
    append(&l.journal(), b"{\"cell_id\":\"c1\",");
    let (rec, report) = Recorder::resume(&l, schema()).unwrap();
    assert!(report.torn_journal);
    assert_eq!(report.done, 1);
    assert!(rec.is_done("c0") && !rec.is_done("c1"));
}

#[test]
fn recording_a_cell_twice_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let l = layout(&dir);
    let mut rec = Recorder::create(&l, schema(), &manifest(l.run_id())).unwrap();
    rec.finish_cell(&row(0)).unwrap();
    let err = rec.finish_cell(&row(0)).unwrap_err();
    assert!(matches!(err, RecordError::AlreadyDone { .. }));
    assert_eq!(std::fs::read_to_string(l.csv()).unwrap().lines().count(), 2);
}

#[test]
fn resume_with_other_columns_is_refused_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let l = layout(&dir);
    let mut rec = Recorder::create(&l, schema(), &manifest(l.run_id())).unwrap();
    rec.finish_cell(&row(0)).unwrap();
    drop(rec);
    let other = CsvSchema::new(&[Mode::Latency], &[]);
    let err = Recorder::resume(&l, other).unwrap_err();
    assert!(matches!(err, RecordError::HeaderMismatch { .. }), "{err}");
    let hint = err.hint().unwrap();
    assert!(hint.contains("chunked_prefill_size"), "{hint}");
    assert_eq!(err.exit_code(), 2);
}

#[test]
fn create_refuses_an_existing_run_and_manifest_roundtrips() {
    let dir = tempfile::tempdir().unwrap();
    let l = layout(&dir);
    let mut rec = Recorder::create(&l, schema(), &manifest(l.run_id())).unwrap();
    rec.finish_cell(&row(0)).unwrap();
    drop(rec);
    let err = Recorder::create(&l, schema(), &manifest(l.run_id())).unwrap_err();
    assert!(matches!(err, RecordError::RunExists { .. }), "{err}");
    assert_eq!(Journal::read(&l.journal()).unwrap().entries.len(), 1);
    assert_eq!(Manifest::read(&l.manifest()).unwrap(), manifest(l.run_id()));
    assert_eq!(
        matrix::record::latest(l.results_dir()).unwrap().as_deref(),
        Some(l.run_id())
    );
}
