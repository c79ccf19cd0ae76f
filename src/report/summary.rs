//! `<run_dir>/summary.json`: what a run ended with, written when it ends
//! (temp file + rename, so a reader never sees half of it). Its shape is
//! documented in docs/RESULTS.md ("summary.json").

use std::io::Write;

use camino::{Utf8Path, Utf8PathBuf};
use indexmap::IndexMap;
use serde::Serialize;

use super::table::{self, ModeTable, Rows};
use crate::record::RecordError;
use crate::record::event::{Consumer, Counts, Event, RunFinished};

/// The version of summary.json's shape.
pub const SUMMARY_FORMAT: u32 = 1;

/// The file's content.
#[derive(Debug, Clone, Serialize)]
pub struct Summary<'a> {
    pub format: u32,
    pub run_id: &'a str,
    pub run_dir: &'a str,
    pub csv: &'a str,
    pub cells: usize,
    pub done_before: usize,
    pub launches: usize,
    pub interrupted: bool,
    pub wall_s: f64,
    pub setup_s: f64,
    pub overhead_per_cell_ms: f64,
    /// The run's counts (ok, failed, skipped, pruned, not_run).
    pub counts: &'a Counts,
    /// Rows of the CSV by their exact status (`ok`, `oom`, ...).
    pub statuses: IndexMap<String, usize>,
    /// One table per mode: the varying axes and each cell's headline
    /// metrics in the CSV's own units, by CSV column.
    pub tables: Vec<SummaryTable<'a>>,
    /// Set when the CSV could not be read (statuses and tables are empty).
    pub csv_error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SummaryTable<'a> {
    pub mode: &'a str,
    pub axes: &'a [String],
    /// The headline metric columns, as `{column, label}`.
    pub metrics: &'a [table::Metric],
    pub rows: &'a [table::TableRow],
}

/// Writes summary.json at `run_finished`, from the event and the run's CSV
/// (which holds the rows of earlier sessions of a resumed run as well).
#[derive(Debug, Default)]
pub struct SummaryFile {
    written: Option<Utf8PathBuf>,
    /// The plan's varying axes (`run_started`): the tables' axes.
    varying: Option<Vec<String>>,
}

impl SummaryFile {
    pub fn new() -> Self {
        SummaryFile::default()
    }

    /// The file written, once the run finished.
    pub fn written(&self) -> Option<&Utf8Path> {
        self.written.as_deref()
    }
}

/// The summary of a finished run as JSON text (pretty, newline-terminated).
/// `varying`: the plan's varying axes ([`table::tables`]).
pub fn render(f: &RunFinished, rows: Result<&Rows, String>, varying: Option<&[String]>) -> String {
    let (tables, statuses, csv_error): (Vec<ModeTable>, IndexMap<String, usize>, Option<String>) =
        match rows {
            Ok(rows) => {
                let mut statuses: IndexMap<String, usize> = IndexMap::new();
                for r in &rows.records {
                    let s = r.get("status").cloned().unwrap_or_default();
                    *statuses.entry(s).or_default() += 1;
                }
                (table::tables(rows, varying), statuses, None)
            }
            Err(e) => (Vec::new(), IndexMap::new(), Some(e)),
        };
    let s = Summary {
        format: SUMMARY_FORMAT,
        run_id: &f.run_id,
        run_dir: &f.run_dir,
        csv: &f.csv,
        cells: f.cells,
        done_before: f.done_before,
        launches: f.launches,
        interrupted: f.interrupted,
        wall_s: f.wall_s,
        setup_s: f.setup_s,
        overhead_per_cell_ms: f.overhead_per_cell_ms,
        counts: &f.counts,
        statuses,
        tables: tables
            .iter()
            .map(|t| SummaryTable {
                mode: &t.mode,
                axes: &t.axes,
                metrics: &t.metrics,
                rows: &t.rows,
            })
            .collect(),
        csv_error,
    };
    let mut text = serde_json::to_string_pretty(&s).unwrap_or_default();
    text.push('\n');
    text
}

/// Write `text` to `path` atomically: a temp file next to it, synced, then
/// renamed over it.
pub fn write_atomic(path: &Utf8Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    let res = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res
}

impl Consumer for SummaryFile {
    fn event(&mut self, e: &Event) -> Result<(), RecordError> {
        let f = match e {
            Event::RunStarted(r) => {
                self.varying = Some(r.varying.clone());
                return Ok(());
            }
            Event::RunFinished(f) => f,
            _ => return Ok(()),
        };
        let rows = table::read_csv(Utf8Path::new(&f.csv)).map_err(|e| e.to_string());
        let text = render(
            f,
            rows.as_ref().map_err(Clone::clone),
            self.varying.as_deref(),
        );
        let path = Utf8PathBuf::from(&f.summary);
        write_atomic(&path, &text)
            .map_err(|err| RecordError::io(format!("cannot write {path}"), err))?;
        self.written = Some(path);
        Ok(())
    }
}
