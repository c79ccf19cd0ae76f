//! What every part of a run shares: the plan's layout on disk, the
//! outputs (recorder and consumers), the stop flag, the launcher and clock,
//! options and counters.

use std::time::Duration;

use camino::Utf8PathBuf;
use indexmap::IndexMap;

use crate::Error;
use crate::config::engine::Exec;
use crate::exec::{Clock, Launcher, Stamp, StopFlag};
use crate::plan::{Group, PlanCell};
use crate::record::csv::{CsvRow, CsvSchema, value_text};
use crate::record::event::{
    CellFinished, CellStarted, Consumer, DurationOf, Event, GroupLaunching, GroupStopped, Warning,
};
use crate::record::{Recorder, RunLayout, Status};

/// Options of `matrix run` beyond the plan.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Keep larger batch sizes after an OOM (`--no-prune`).
    pub no_prune: bool,
    /// Accelerator for the MFU/MBU columns (`--gpu`, else from nvidia-smi).
    pub gpu: Option<String>,
    /// SIGTERM → SIGKILL grace period when stopping a process.
    pub grace: Duration,
    /// Extra launches after a failed server start.
    pub startup_retries: u32,
    /// The command line, for the manifest.
    pub argv: Vec<String>,
    /// The environment, for the manifest.
    pub env_vars: Vec<(String, String)>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            no_prune: false,
            gpu: None,
            grace: Duration::from_secs(10),
            startup_retries: 1,
            argv: Vec::new(),
            env_vars: Vec::new(),
        }
    }
}

/// Counts for the final summary.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Counts {
    pub ok: usize,
    pub failed: usize,
    pub skipped: usize,
    pub pruned: usize,
    /// Cells left for a resume (interrupted before they ran).
    pub not_run: usize,
    pub launches: usize,
    /// Time spent waiting on engine processes (startup, one_batch, clients).
    #[serde(skip)]
    pub busy: Duration,
}

impl Counts {
    /// Cell counts by status, as the summary shows them.
    pub fn of(statuses: impl IntoIterator<Item = Status>) -> Counts {
        let mut c = Counts::default();
        for s in statuses {
            match s {
                Status::Ok => c.ok += 1,
                Status::Skipped => c.skipped += 1,
                Status::Pruned => c.pruned += 1,
                _ => c.failed += 1,
            }
        }
        c
    }
}

/// How long a cell took, for its CSV `duration_s` and its event.
#[derive(Debug, Clone, Copy)]
pub enum Took {
    /// The cell's own wall time, from this stamp to now (a serving cell,
    /// a cell that failed before anything ran).
    Since(Stamp),
    /// Measured by the engine for this cell (one_batch's `total_latency`),
    /// inside a process that ran for `process` (the CSV's `duration_s`,
    /// docs/RESULTS.md).
    Measured { secs: f64, process: Duration },
    /// Only the time of the process that ran it with others is known.
    Process(Duration),
}

/// Where a run's events go: the recorder first (a cell's row is on disk
/// before any other consumer sees it), then the other consumers in order.
pub struct Outputs {
    pub recorder: Recorder,
    pub consumers: Vec<Box<dyn Consumer>>,
}

impl Outputs {
    pub fn emit(&mut self, e: &Event) -> Result<(), Error> {
        self.recorder.event(e)?;
        for c in &mut self.consumers {
            c.event(e)?;
        }
        Ok(())
    }
}

/// The state a run threads through its groups.
pub struct Ctx<'r> {
    pub run_id: String,
    pub layout: RunLayout,
    pub schema: CsvSchema,
    pub out: Outputs,
    pub stop: StopFlag,
    pub opts: RunOptions,
    pub counts: Counts,
    pub started: Stamp,
    pub launcher: &'r mut dyn Launcher,
    pub clock: &'r dyn Clock,
    /// The plan's varying axes (cells' labels).
    pub varying: Vec<String>,
    /// Cells of the whole plan.
    pub cells: usize,
    /// Cells started or finished so far, those before a resume included.
    pub index: usize,
    /// The cell whose `cell_started` was emitted and whose
    /// `cell_finished` was not yet.
    pub current: Option<String>,
    /// 1-based position of the current group in the plan, and the plan's
    /// groups.
    pub group_index: usize,
    pub groups: usize,
    /// Launches of the current group in this session.
    pub attempt: u32,
}

impl Ctx<'_> {
    pub fn now(&self) -> Stamp {
        self.clock.now()
    }

    /// Emit an event to every output.
    pub fn emit(&mut self, e: Event) -> Result<(), Error> {
        self.out.emit(&e)
    }

    /// A warning (a consumer's failure to show it stops the run like any).
    pub fn warn(&mut self, group: Option<&Group>, message: String) -> Result<(), Error> {
        self.emit(Event::Warning(Warning {
            group: group.map(|g| g.id.clone()),
            message,
        }))
    }

    /// A launch of `group`'s process or server for `cells` cells.
    pub fn launching(&mut self, group: &Group, cells: usize) -> Result<(), Error> {
        self.attempt += 1;
        self.emit(Event::GroupLaunching(GroupLaunching {
            group: group.id.clone(),
            index: self.group_index,
            groups: self.groups,
            engine: group.engine.clone(),
            mode: group.mode.clone(),
            attempt: self.attempt,
            cells,
            axes: group.shared_axes(&self.varying),
        }))
    }

    /// The group's process or server launched at `since` is gone.
    pub fn stopped(&mut self, group: &Group, since: Stamp) -> Result<(), Error> {
        let wall_s = self.now().since(since).as_secs_f64();
        self.emit(Event::GroupStopped(GroupStopped {
            group: group.id.clone(),
            wall_s,
        }))
    }

    /// Emit `cell_started` for `cell` unless it is the current cell.
    pub fn cell_started(&mut self, group: &Group, cell: &PlanCell) -> Result<(), Error> {
        if self.current.as_deref() == Some(cell.id.as_str()) {
            return Ok(());
        }
        self.index += 1;
        self.current = Some(cell.id.clone());
        self.emit(Event::CellStarted(CellStarted {
            group: group.id.clone(),
            cell: cell.id.clone(),
            index: self.index,
            cells: self.cells,
            axes: cell.axes_of(&self.varying),
            label: cell.label(&self.varying),
        }))
    }

    /// Record a cell of a profiled plan that has no profile passes as a
    /// plan error (it cannot run as written); both modes refuse it alike.
    pub fn no_profile_passes(&mut self, group: &Group, cell: &PlanCell) -> Result<(), Error> {
        let now = self.now();
        let msg = super::profile::NO_PASSES.to_string();
        self.finish(
            group,
            cell,
            Status::PlanError,
            Some(msg),
            now,
            Took::Since(now),
            |_| {},
        )
    }

    /// Record one finished cell: `cell_started` first when the runner could
    /// not see it start (one_batch runs many cells in one process), then
    /// `cell_finished`, whose row the recorder writes (CSV row then journal
    /// line, both synced) before any other consumer sees it. `at` is the
    /// CSV's `started_at`.
    /// An ok cell's one sample is the numeric metric columns of its row;
    /// other cells have none. A cell with repeats:
    /// [`finish_sampled`](Self::finish_sampled).
    #[allow(clippy::too_many_arguments)]
    pub fn finish(
        &mut self,
        group: &Group,
        cell: &PlanCell,
        status: Status,
        error: Option<String>,
        at: Stamp,
        took: Took,
        fill: impl FnOnce(&mut CsvRow),
    ) -> Result<(), Error> {
        self.finish_with(group, cell, status, error, at, took, None, fill)
    }

    /// [`finish`](Self::finish) with every repeat's measured values
    /// (metric → value, in the order the repeats ran; see [`sample_of`]),
    /// kept in the event and the journal. The CSV row (`fill`) records the
    /// selected repeat as before. Samples of a cell that is not ok are
    /// dropped.
    #[allow(clippy::too_many_arguments)]
    pub fn finish_sampled(
        &mut self,
        group: &Group,
        cell: &PlanCell,
        status: Status,
        error: Option<String>,
        at: Stamp,
        took: Took,
        samples: Vec<IndexMap<String, f64>>,
        fill: impl FnOnce(&mut CsvRow),
    ) -> Result<(), Error> {
        self.finish_with(group, cell, status, error, at, took, Some(samples), fill)
    }

    #[allow(clippy::too_many_arguments)]
    fn finish_with(
        &mut self,
        group: &Group,
        cell: &PlanCell,
        status: Status,
        error: Option<String>,
        at: Stamp,
        took: Took,
        samples: Option<Vec<IndexMap<String, f64>>>,
        fill: impl FnOnce(&mut CsvRow),
    ) -> Result<(), Error> {
        self.cell_started(group, cell)?;
        let mut row = CsvRow::for_cell(&self.run_id, group, cell, &self.schema);
        fill(&mut row);
        let samples = match (status, samples) {
            (Status::Ok, Some(s)) => s,
            (Status::Ok, None) => {
                let one = sample_of(&row);
                if one.is_empty() {
                    Vec::new()
                } else {
                    vec![one]
                }
            }
            _ => Vec::new(),
        };
        self.planned_columns(group, cell, &mut row);
        let (csv_s, event_s, of) = match took {
            Took::Since(t) => {
                let d = round3(self.now().since(t).as_secs_f64());
                (d, d, DurationOf::Cell)
            }
            Took::Measured { secs, process } => {
                (round3(process.as_secs_f64()), secs, DurationOf::Cell)
            }
            Took::Process(d) => {
                let d = round3(d.as_secs_f64());
                (d, d, DurationOf::Group)
            }
        };
        row.set_outcome(status, error.as_deref(), Some(at.wall), Some(csv_s));
        let log = if group.exec == Exec::Server {
            self.layout.cell_log(&group.id, &cell.id)
        } else {
            self.layout.server_log(&group.id)
        };
        let row = self.out.recorder.row_text(&row);
        // The row's `log` (checked to exist by the recorder); a resumed run
        // whose CSV predates that column: the path the cell's log has.
        let log = match row.get("log") {
            Some(l) => (!l.is_empty()).then(|| l.clone()),
            None => log
                .strip_prefix(self.layout.run_dir())
                .ok()
                .map(|p| p.to_string()),
        };
        self.current = None;
        // Counted at the end from the journal (`Counts::of`), which also
        // holds the cells finished before a resume.
        self.emit(Event::CellFinished(CellFinished {
            group: group.id.clone(),
            cell: cell.id.clone(),
            status,
            error,
            axes: cell.axes_of(&self.varying),
            label: cell.label(&self.varying),
            duration_s: event_s,
            duration_of: of,
            log,
            row,
            samples,
        }))
    }

    /// The workload columns the engine's output did not fill (a failed,
    /// pruned or timed-out cell has no output; bench_serving's JSON has no
    /// `num_prompts`) come from the plan, so every row says what it was.
    fn planned_columns(&self, group: &Group, cell: &PlanCell, row: &mut CsvRow) {
        const LATENCY: &[(&str, &str)] = &[
            ("bsz", "bsz"),
            ("input_len", "seq"),
            ("output_len", "output_len"),
        ];
        const SERVING: &[(&str, &str)] = &[
            ("input_len", "seq"),
            ("output_len", "output_len"),
            ("request_rate", "request_rate"),
            ("max_concurrency", "max_concurrency"),
            ("num_prompts", "num_prompts"),
        ];
        let pairs = if group.mode != "serving" {
            LATENCY
        } else {
            SERVING
        };
        for (column, key) in pairs {
            if row.get(column).is_some() || !self.schema.columns().iter().any(|c| c == column) {
                continue;
            }
            match cell.workload.get(*key) {
                None | Some(serde_json::Value::Null) => {}
                Some(v) => row.set(column, value_text(v)),
            }
        }
    }

    pub fn group_dir(&self, group: &Group) -> Utf8PathBuf {
        self.layout.group_dir(&group.id)
    }

    /// Time spent waiting on engine processes since `t`, for the overhead.
    pub fn busy_since(&mut self, t: Stamp) {
        let now = self.now();
        self.counts.busy += now.since(t);
    }
}

/// One repeat's measured values: the numeric, finite metric columns
/// ([`is_metric`](crate::record::db::model::is_metric)) of a row filled
/// from it.
pub fn sample_of(row: &CsvRow) -> IndexMap<String, f64> {
    row.values()
        .iter()
        .filter(|(k, _)| crate::record::db::model::is_metric(k))
        .filter_map(|(k, v)| {
            let x: f64 = v.parse().ok()?;
            x.is_finite().then(|| (k.clone(), x))
        })
        .collect()
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The per-cell timeout of a group (`run.cell_timeout_s`).
pub fn cell_timeout(group: &Group) -> Duration {
    let s = group
        .run
        .get("cell_timeout_s")
        .and_then(serde_json::Value::as_f64)
        .unwrap_or(3600.0);
    Duration::from_secs_f64(s.max(0.001))
}

/// Append `line` to a log (a group's server.log) so a warning shown on the
/// terminal is in the log too. Logs are opened in append mode by the
/// processes writing them, so the line lands whole between theirs.
pub fn note_in_log(path: &camino::Utf8Path, line: &str) {
    use std::io::Write;
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = f.write_all(format!("{line}\n").as_bytes());
    }
}
