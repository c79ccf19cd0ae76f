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

use camino::Utf8Path;
use indexmap::IndexMap;

use super::RecordError;
use super::csv::{CsvRow, CsvSchema, CsvSink, read_records, write_synced};
use super::journal::{Journal, JournalEntry};
use super::layout::RunLayout;
use super::manifest::Manifest;

/// The open CSV and journal of a run.
#[derive(Debug)]
pub struct Recorder {
    csv: CsvSink,
    journal: Journal,
    done: IndexMap<String, JournalEntry>,
}

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
    /// Start a new run: create the folders, write the manifest, open an
    /// empty CSV (header only) and journal. Fails with
    /// [`RecordError::RunExists`] when the run already has finished cells.
    pub fn create(
        layout: &RunLayout,
        schema: CsvSchema,
        manifest: &Manifest,
    ) -> Result<Recorder, RecordError> {
        layout.create_dirs()?;
        let state = Journal::read(&layout.journal())?;
        if !state.entries.is_empty() {
            return Err(RecordError::RunExists {
                run_id: layout.run_id().to_string(),
                cells: state.entries.len(),
                journal: layout.journal(),
            });
        }
        manifest.write(&layout.manifest())?;
        let csv_path = layout.csv();
        remove_if_exists(&csv_path)?;
        let csv = CsvSink::open(&csv_path, schema)?;
        let (journal, _) = Journal::open(&layout.journal())?;
        Ok(Recorder {
            csv,
            journal,
            done: IndexMap::new(),
        })
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
        if let Some(header) = records.first().filter(|h| *h != schema.columns()) {
            return Err(RecordError::HeaderMismatch {
                path: csv_path,
                expected: schema.columns().to_vec(),
                found: header.clone(),
            });
        }
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
        let done = state
            .entries
            .into_iter()
            .map(|e| (e.cell_id.clone(), e))
            .collect();
        Ok((Recorder { csv, journal, done }, report))
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
    /// synced. The row must carry `cell_id` and `status`.
    pub fn finish_cell(&mut self, row: &CsvRow) -> Result<(), RecordError> {
        let entry = JournalEntry::from_row(row);
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

    /// The CSV writer (for tests that simulate a kill between the writes).
    pub fn csv_mut(&mut self) -> &mut CsvSink {
        &mut self.csv
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

fn remove_if_exists(path: &Utf8Path) -> Result<(), RecordError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(RecordError::io(format!("cannot remove {path}"), e)),
    }
}
