//! What every part of a run shares: the plan's layout on disk, the
//! recorder, the stop flag, the reporter, options and counters.

use std::time::{Duration, Instant};

use camino::Utf8PathBuf;

use crate::Error;
use crate::exec::StopFlag;
use crate::plan::{Group, PlanCell};
use crate::record::csv::{CsvRow, CsvSchema, value_text};
use crate::record::{Recorder, RunLayout, Status};

use super::progress::{Event, Reporter};

/// Options of `matrix run` beyond the plan.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Keep larger batch sizes after an OOM (`--no-prune`).
    pub no_prune: bool,
    pub quiet: bool,
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
            quiet: false,
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

/// The state a run threads through its groups.
pub struct Ctx {
    pub run_id: String,
    pub layout: RunLayout,
    pub schema: CsvSchema,
    pub recorder: Recorder,
    pub stop: StopFlag,
    pub reporter: Reporter,
    pub opts: RunOptions,
    pub counts: Counts,
    pub started: Instant,
}

impl Ctx {
    /// Record one finished cell (CSV row then journal line, both synced).
    pub fn finish(
        &mut self,
        group: &Group,
        cell: &PlanCell,
        status: Status,
        error: Option<String>,
        started: (jiff::Timestamp, Instant),
        fill: impl FnOnce(&mut CsvRow),
    ) -> Result<(), Error> {
        let mut row = CsvRow::for_cell(&self.run_id, group, cell, &self.schema);
        fill(&mut row);
        self.planned_columns(group, cell, &mut row);
        let duration = started.1.elapsed();
        row.set_outcome(
            status,
            error.as_deref(),
            Some(started.0),
            Some(round3(duration.as_secs_f64())),
        );
        // Counted at the end from the journal (`Counts::of`), which also
        // holds the cells finished before a resume.
        self.recorder.finish_cell(&row)?;
        self.reporter.event(&Event::CellDone {
            id: cell.id.clone(),
            status: status.to_string(),
            error,
            duration,
        });
        Ok(())
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

    pub fn event(&mut self, e: Event) {
        self.reporter.event(&e);
    }

    pub fn group_dir(&self, group: &Group) -> Utf8PathBuf {
        self.layout.group_dir(&group.id)
    }
}

/// Now, as a (wall-clock timestamp, monotonic instant) pair.
pub fn now() -> (jiff::Timestamp, Instant) {
    (jiff::Timestamp::now(), Instant::now())
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
