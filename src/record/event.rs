//! The run's typed events: what the run loop emits, and what every output
//! consumes (the CSV + journal recorder, the terminal display, the
//! `matrix run --json` JSON-lines writer, the summary).
//!
//! The JSON form is a stable, documented format (docs/EVENTS.md): one object
//! per line, its kind in `"event"` (snake_case), fields added only at the
//! end of an object and never renamed; `format` in `run_started` says which
//! version of this format a stream follows.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Status;

/// The version of the JSON event format (`run_started.format`).
pub const FORMAT: u32 = 1;

/// Something that happened during a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    RunStarted(RunStarted),
    GroupLaunching(GroupLaunching),
    GroupReady(GroupReady),
    GroupStopped(GroupStopped),
    CellStarted(CellStarted),
    RequestProgress(RequestProgress),
    CellFinished(CellFinished),
    Warning(Warning),
    RunFinished(RunFinished),
}

/// The run begins: how much there is to do, and what is already done.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunStarted {
    /// [`FORMAT`].
    pub format: u32,
    pub run_id: String,
    /// The run folder (`<results>/raw_output/<run_id>`).
    pub run_dir: String,
    /// The run's CSV (`<results>/csv/<run_id>.csv`).
    pub csv: String,
    /// A resume of an earlier, unfinished run.
    pub resumed: bool,
    pub groups: usize,
    /// Cells of the whole plan, finished ones included.
    pub cells: usize,
    /// Cells finished before this session (a resume); not run again.
    pub done_before: usize,
    /// The axes whose value differs between cells, in the plan's order:
    /// the names cells are labelled by.
    pub varying: Vec<String>,
    /// `latency`, `serving`: the modes of the plan's groups.
    pub modes: Vec<String>,
}

/// A group's process (one_batch) or server is being launched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupLaunching {
    pub group: String,
    /// 1-based position of the group in the plan.
    pub index: usize,
    /// Groups in the plan.
    pub groups: usize,
    pub engine: String,
    pub mode: String,
    /// 1 for the first launch of this group in this session; more for a
    /// retry after a failed start or a relaunch after the server died.
    pub attempt: u32,
    /// Cells this launch is for.
    pub cells: usize,
    /// The group's varying axis values shared by all its cells.
    pub axes: IndexMap<String, Value>,
}

/// The group's server answered its readiness check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupReady {
    pub group: String,
    pub after_s: f64,
}

/// The group's process or server is gone (stopped by matrix, exited, or
/// failed to start).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupStopped {
    pub group: String,
    /// Wall time from launch to stopped.
    pub wall_s: f64,
}

/// A cell begins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellStarted {
    pub group: String,
    pub cell: String,
    /// 1-based count of cells started or finished in this run so far,
    /// those finished before a resume included.
    pub index: usize,
    /// Cells of the whole plan.
    pub cells: usize,
    /// The cell's values of the varying axes.
    pub axes: IndexMap<String, Value>,
    /// `bsz=64 seq=1024`: the axes as a person reads them.
    pub label: String,
}

/// A serving cell's client has completed `done` of `total` requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestProgress {
    pub group: String,
    pub cell: String,
    pub done: u64,
    pub total: u64,
}

/// Whose time a cell's `duration_s` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DurationOf {
    /// The cell's own time (its client, or its measured time in the log).
    Cell,
    /// The time of the process that ran several cells together (one_batch
    /// without per-cell times): not this cell's alone.
    Group,
}

/// A cell ended, and its row is recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellFinished {
    pub group: String,
    pub cell: String,
    pub status: Status,
    /// Why it failed, was skipped or pruned (the CSV `error` column).
    pub error: Option<String>,
    /// The cell's values of the varying axes.
    pub axes: IndexMap<String, Value>,
    pub label: String,
    pub duration_s: f64,
    pub duration_of: DurationOf,
    /// The cell's log, relative to the run folder, when it has one.
    pub log: Option<String>,
    /// The CSV row exactly as written: column → text ("" for empty).
    pub row: IndexMap<String, String>,
    /// Every repeat's measured values, in the order they ran: metric (CSV
    /// column) → value. The row records the selected repeat; an ok cell
    /// without repeats has one sample, a cell that failed none (then the
    /// field is left out of the JSON).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub samples: Vec<IndexMap<String, f64>>,
}

/// Something the user should know, shown even with `--quiet`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Warning {
    /// The group it concerns, when it concerns one.
    pub group: Option<String>,
    pub message: String,
}

/// Cell counts of the whole run (cells finished before a resume included).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub ok: usize,
    pub failed: usize,
    pub skipped: usize,
    pub pruned: usize,
    /// Cells left for a resume (interrupted before they ran).
    pub not_run: usize,
}

/// The run ended (all cells done, or interrupted).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunFinished {
    pub run_id: String,
    pub cells: usize,
    pub counts: Counts,
    pub done_before: usize,
    /// Server and one_batch launches of this session.
    pub launches: usize,
    pub interrupted: bool,
    pub wall_s: f64,
    /// Wall time after the setup not spent waiting on engine processes,
    /// per cell run.
    pub overhead_per_cell_ms: f64,
    pub csv: String,
    pub run_dir: String,
    /// `<run_dir>/summary.json`.
    pub summary: String,
    /// Of `wall_s`, the run's setup before its first group: pre-flight,
    /// the manifest, claiming the run folder (not in the per-cell overhead).
    #[serde(default)]
    pub setup_s: f64,
}

/// Something that takes a run's events: a recorder, a display, a writer.
/// Consumers are called in order for each event; an error stops the run
/// (the recorder's failure to write is fatal; a display ignores its own).
pub trait Consumer {
    fn event(&mut self, e: &Event) -> Result<(), super::RecordError>;
}
