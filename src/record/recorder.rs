//! Writing a run's per-cell records and resuming a killed run.
//!
//! Order of writes when a cell ends: the CSV row (written, flushed,
//! synced), then the journal line (same). The journal decides what is done.
//! A kill can leave, at most:
//!
//! 1. a torn CSV row (killed while writing the row): not journaled;
//! 2. a complete CSV row whose journal line is missing (killed between the
//!    two writes): not journaled;
//! 3. a torn journal line (killed while writing it): ignored, so not done.
//!
//! [`Recorder::resume`] reads the journal (cutting a torn last line), then
//! compares the CSV's cell ids with the journal's. If they differ, the CSV is
//! rebuilt from the journal — every entry carries its exact row — written to
//! `<csv>.tmp`, synced, and renamed over the CSV (then the folder is
//! synced), so a kill during the rebuild leaves either the old or the new
//! file. Cells not in the journal run again and get their row then: no row
//! is lost and none is written twice.

use std::fs::OpenOptions;

use camino::{Utf8Path, Utf8PathBuf};
use indexmap::IndexMap;

use super::RecordError;
use super::commands::{CommandLog, Executed, ScriptBuilder, ScriptContext, write_script};
use super::csv::{CsvRow, CsvSchema, CsvSink, read_records, write_synced};
use super::journal::{Journal, JournalEntry};
use super::layout::RunLayout;
use super::manifest::Manifest;

/// The open CSV and journal of a run.
#[derive(Debug)]
pub struct Recorder {
    run_dir: Utf8PathBuf,
    csv: CsvSink,
    journal: Journal,
    commands: CommandLog,
    done: IndexMap<String, JournalEntry>,
    /// `commands.sh`, built from the manifest's groups and every record
    /// of `commands.jsonl` (kept here, so a spawn adds its lines and the
    /// script is rewritten without reading anything again).
    script_path: Utf8PathBuf,
    script: ScriptBuilder,
    /// When `commands.sh` was last written, and whether spawns came since.
    script_written: std::time::Instant,
    script_dirty: bool,
}

/// `commands.sh` is rewritten at most this often while spawns come in
/// (each rewrite copies the whole script), and always when a group stops
/// and the run ends; a resume rebuilds it from `commands.jsonl`.
const SCRIPT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// What [`Recorder::resume`] found and repaired.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResumeReport {
    /// Cells already finished (skipped on resume).
    pub done: usize,
    /// CSV rows dropped because their cell was not journaled.
    pub dropped_rows: usize,
    /// Journaled rows missing from the CSV and restored from the journal.
    pub restored_rows: usize,
    /// Whether the journal had a torn last line.
    pub torn_journal: bool,
}

impl Recorder {
    /// Start a new run: claim its folder ([`RunLayout::claim`]), create its
    /// CSV (header only) with `create_new`, write the manifest, open the
    /// journal and the command log. Fails with [`RecordError::RunExists`]
    /// when the run folder or the CSV is already there; then nothing that
    /// existed is removed or written (the caller picks the next id, see
    /// [`super::layout::numbered_run_id`]).
    pub fn create(
        layout: &RunLayout,
        schema: CsvSchema,
        manifest: &Manifest,
    ) -> Result<Recorder, RecordError> {
        layout.claim()?;
        let csv_path = layout.csv();
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&csv_path)
        {
            Ok(_) => {}
            Err(e) => {
                // The folder is ours and still empty: give the id back.
                let _ = std::fs::remove_dir(layout.run_dir());
                return Err(if e.kind() == std::io::ErrorKind::AlreadyExists {
                    RecordError::RunExists {
                        run_id: layout.run_id().to_string(),
                        path: csv_path,
                    }
                } else {
                    RecordError::io(format!("cannot create {csv_path}"), e)
                });
            }
        }
        manifest.write(&layout.manifest())?;
        let csv = CsvSink::open(&csv_path, schema)?;
        let (journal, _) = Journal::open(&layout.journal())?;
        let commands = CommandLog::open(&layout.commands())?;
        let mut recorder = Recorder {
            run_dir: layout.run_dir(),
            csv,
            journal,
            commands,
            done: IndexMap::new(),
            script_path: layout.commands_script(),
            script_written: std::time::Instant::now(),
            script_dirty: false,
            script: ScriptBuilder::new(ScriptContext::from_manifest(manifest)),
        };
        recorder.write_script()?;
        Ok(recorder)
    }

    /// Reopen a run after a kill or Ctrl-C: repair the CSV against the
    /// journal (see the module docs) and open both for appending.
    pub fn resume(
        layout: &RunLayout,
        schema: CsvSchema,
    ) -> Result<(Recorder, ResumeReport), RecordError> {
        layout.create_dirs()?;
        let (journal, state) = Journal::open(&layout.journal())?;
        let mut report = ResumeReport {
            done: state.entries.len(),
            torn_journal: state.torn_bytes > 0,
            ..ResumeReport::default()
        };
        let csv_path = layout.csv();
        let text = match std::fs::read_to_string(&csv_path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(RecordError::io(format!("cannot read {csv_path}"), e)),
        };
        let records = read_records(&text);
        // A CSV written before the trace columns existed keeps its header:
        // its rows go on without them (`CsvSchema::following`).
        let schema = match records.first() {
            None => schema,
            Some(header) => match schema.following(header) {
                Some(s) => s,
                None => {
                    return Err(RecordError::HeaderMismatch {
                        path: csv_path,
                        expected: schema.columns().to_vec(),
                        found: header.clone(),
                    });
                }
            },
        };
        let id_col = 1; // "cell_id", after "run_id"
        let csv_ids: Vec<&str> = records
            .iter()
            .skip(1)
            .map(|r| r.get(id_col).map_or("", String::as_str))
            .collect();
        let journal_ids: Vec<&str> = state.entries.iter().map(|e| e.cell_id.as_str()).collect();
        if csv_ids != journal_ids {
            report.dropped_rows = csv_ids
                .iter()
                .enumerate()
                .filter(|(i, id)| !journal_ids.contains(id) || csv_ids[..*i].contains(id))
                .count();
            report.restored_rows = journal_ids
                .iter()
                .filter(|id| !csv_ids.contains(id))
                .count();
            rebuild_csv(&csv_path, &schema, &state.entries)?;
        }
        let csv = CsvSink::open(&csv_path, schema)?;
        let commands = CommandLog::open(&layout.commands())?;
        // A killed run's commands.sh may lag behind commands.jsonl: rebuilt
        // now, before anything runs.
        let mut script = ScriptBuilder::new(ScriptContext::from_manifest(&Manifest::read(
            &layout.manifest(),
        )?));
        for e in CommandLog::read(&layout.commands())? {
            script.push(&e);
        }
        let done = state
            .entries
            .into_iter()
            .map(|e| (e.cell_id.clone(), e))
            .collect();
        let mut recorder = Recorder {
            run_dir: layout.run_dir(),
            csv,
            journal,
            commands,
            done,
            script_path: layout.commands_script(),
            script_written: std::time::Instant::now(),
            script_dirty: false,
            script,
        };
        recorder.write_script()?;
        Ok((recorder, report))
    }

    /// Has this cell finished in this run (before or since the resume)?
    pub fn is_done(&self, cell_id: &str) -> bool {
        self.done.contains_key(cell_id)
    }

    /// Finished cells, in the order they finished.
    pub fn done(&self) -> &IndexMap<String, JournalEntry> {
        &self.done
    }

    /// Record a finished cell: CSV row first, then the journal line, each
    /// synced. The row must carry `cell_id` and `status`. Its `log` column
    /// names a log that exists: a serving cell whose client never ran (its
    /// server did not start) names the group's `server.log` instead, and a
    /// cell with neither gets an empty `log`.
    pub fn finish_cell(&mut self, row: &CsvRow) -> Result<(), RecordError> {
        self.finish_cell_sampled(row, Vec::new())
    }

    /// [`finish_cell`](Self::finish_cell) with every repeat's measured
    /// values, kept in the journal line (the CSV records the selected one).
    pub fn finish_cell_sampled(
        &mut self,
        row: &CsvRow,
        samples: Vec<IndexMap<String, f64>>,
    ) -> Result<(), RecordError> {
        let row = &self.existing_log(row);
        let mut entry = JournalEntry::from_row(row);
        entry.samples = samples;
        if self.done.contains_key(&entry.cell_id) {
            return Err(RecordError::AlreadyDone {
                cell_id: entry.cell_id,
            });
        }
        self.csv.write_row(row)?;
        self.journal.append(&entry)?;
        self.done.insert(entry.cell_id.clone(), entry);
        Ok(())
    }

    /// The CSV row of a [`CellFinished`](super::event::CellFinished) event:
    /// every column of the schema, "" for an empty one, exactly as
    /// [`finish_cell`](Self::finish_cell) will write it (its `log` checked).
    pub fn row_text(&self, row: &CsvRow) -> IndexMap<String, String> {
        let row = self.existing_log(row);
        self.csv
            .schema()
            .columns()
            .iter()
            .map(|c| (c.clone(), row.get(c).unwrap_or("").to_string()))
            .collect()
    }

    fn existing_log(&self, row: &CsvRow) -> CsvRow {
        let mut row = row.clone();
        if let Some(log) = row.get("log").filter(|l| !self.run_dir.join(l).is_file()) {
            let server = row
                .get("group_id")
                .map(super::layout::server_log_in_run)
                .filter(|s| s != log && self.run_dir.join(s).is_file());
            row.set_opt("log", server);
        }
        row
    }

    /// Record a process about to be spawned (`commands.jsonl`, synced),
    /// then add it to `commands.sh`, rewritten at most once a second during
    /// the run and whenever a group stops or the run ends (docs/RESULTS.md,
    /// "commands.sh": when it is written, its cost).
    pub fn executed(&mut self, e: &Executed) -> Result<(), RecordError> {
        self.commands.append(e)?;
        self.script.push(e);
        self.script_dirty = true;
        if self.script_written.elapsed() >= SCRIPT_EVERY {
            self.write_script()?;
        }
        Ok(())
    }

    fn write_script(&mut self) -> Result<(), RecordError> {
        write_script(&self.script_path, &self.script.text())?;
        self.script_written = std::time::Instant::now();
        self.script_dirty = false;
        Ok(())
    }

    /// The CSV writer (for tests that simulate a kill between the writes).
    pub fn csv_mut(&mut self) -> &mut CsvSink {
        &mut self.csv
    }
}

/// The recorder is the first consumer of a run's events: a cell's row is on
/// disk (CSV, then journal, each synced) before any other consumer sees its
/// `cell_finished`. Other events it does not record.
impl super::event::Consumer for Recorder {
    fn event(&mut self, e: &super::event::Event) -> Result<(), RecordError> {
        use super::event::Event;
        match e {
            Event::CellFinished(f) => {
                let mut row = CsvRow::new();
                for (k, v) in &f.row {
                    row.set(k, v);
                }
                self.finish_cell_sampled(&row, f.samples.clone())?;
            }
            Event::GroupStopped(_) | Event::RunFinished(_) if self.script_dirty => {
                self.write_script()?;
            }
            _ => {}
        }
        Ok(())
    }
}

/// Write header + the journal's rows to `<csv>.tmp`, sync, rename over the
/// CSV, sync the folder.
fn rebuild_csv(
    path: &Utf8Path,
    schema: &CsvSchema,
    entries: &[JournalEntry],
) -> Result<(), RecordError> {
    let mut text = schema.header_line();
    for e in entries {
        text.push_str(&schema.render(&e.row)?);
    }
    atomic_write(path, text.as_bytes())
}

/// Write a file via a synced temporary file in the same folder and a rename.
pub(crate) fn atomic_write(path: &Utf8Path, bytes: &[u8]) -> Result<(), RecordError> {
    let tmp = path.with_extension(format!("{}.tmp", path.extension().unwrap_or_default()));
    let mut f = std::fs::File::create(&tmp)
        .map_err(|e| RecordError::io(format!("cannot create {tmp}"), e))?;
    write_synced(&mut f, bytes).map_err(|e| RecordError::io(format!("cannot write {tmp}"), e))?;
    drop(f);
    std::fs::rename(&tmp, path)
        .map_err(|e| RecordError::io(format!("cannot rename {tmp} to {path}"), e))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_str().is_empty()) {
        // Make the rename durable; not every filesystem allows syncing a folder.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::csv::Mode;

    fn manifest(run_id: &str) -> Manifest {
        Manifest {
            matrix_version: "0".into(),
            run_id: run_id.into(),
            created_at: "2026-11-22T15:30:00Z".into(),
            argv: vec![],
            cwd: "/".into(),
            host: "h".into(),
            git: None,
            gpus: vec![],
            engines: vec![],
            plan: serde_json::json!({"mine": true}),
            env: IndexMap::new(),
            options: Default::default(),
            sim_time_scale: None,
        }
    }

    /// Every file under `dir` with its bytes.
    fn snapshot(dir: &Utf8Path) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_owned()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = camino::Utf8PathBuf::from_path_buf(e.unwrap().path()).unwrap();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    out.push((p.to_string(), std::fs::read(&p).unwrap()));
                }
            }
        }
        out.sort();
        out
    }

    #[test]
    fn create_over_an_existing_run_deletes_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let root = Utf8Path::from_path(dir.path()).unwrap();
        let l = RunLayout::new(root, "20261122-153000_t");
        let schema = CsvSchema::new(&[Mode::Latency], &[]);
        let mut row = CsvRow::new();
        row.set("run_id", l.run_id());
        row.set("cell_id", "c0");
        row.set("status", "ok");
        // An earlier run with a header-only CSV (no finished cell yet) ...
        drop(Recorder::create(&l, schema.clone(), &manifest(l.run_id())).unwrap());
        let before = snapshot(root);
        let err = Recorder::create(&l, schema.clone(), &manifest("other")).unwrap_err();
        assert!(matches!(err, RecordError::RunExists { .. }), "{err}");
        assert_eq!(snapshot(root), before);
        // ... and one whose folder is gone but whose CSV is still there.
        let mut first = Recorder::create(
            &RunLayout::new(root, "20261122-153001_t"),
            schema.clone(),
            &manifest("x"),
        )
        .unwrap();
        first.finish_cell(&row).unwrap();
        drop(first);
        std::fs::remove_dir_all(root.join("raw_output/20261122-153001_t")).unwrap();
        let before = snapshot(root);
        let l2 = RunLayout::new(root, "20261122-153001_t");
        let err = Recorder::create(&l2, schema, &manifest("other")).unwrap_err();
        assert!(matches!(err, RecordError::RunExists { .. }), "{err}");
        assert_eq!(snapshot(root), before);
        assert!(!l2.run_dir().exists(), "the claimed folder is given back");
    }
}
