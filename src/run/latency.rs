//! Latency mode: a group is one one_batch process running every batch size
//! and input length of the group (the model is loaded once). Each cell's
//! numbers come from its JSON line; skipped combinations come from the
//! printed `skipping (...)` lines. When the process fails part-way, the cell
//! it failed on gets the failure's status, larger batch sizes of the same
//! length are pruned after an OOM, and the rest run in a new process. A
//! process that measured nothing is retried (`startup_retries`) unless its
//! log shows a failure a retry cannot change (not enough memory to load,
//! missing module, bad argument, program not found). Failure messages carry
//! the engine's own error line.

use std::time::Duration;

use camino::Utf8Path;

use crate::Error;
use crate::exec::{CmdOutcome, Job, Spec, Stamp};
use crate::parse::Failure;
use crate::parse::one_batch::{self, Combos, Entry};
use crate::plan::{Group, PlanCell};
use crate::record::{Status, Utilisation, fill_latency, fill_skipped};

use super::context::{Ctx, Took, cell_timeout};
use super::files::{last_lines, read_from, size_of};
use super::latency_repeats as repeats;
use super::profile::replace_lists;
use super::retry::{Retries, StartFailure};

/// Run the unfinished cells of a latency group.
pub fn run_group(
    ctx: &mut Ctx,
    group: &Group,
    todo: Vec<&PlanCell>,
    util: Option<&Utilisation<'_>>,
    profiled: bool,
) -> Result<(), Error> {
    if profiled {
        return run_profiled(ctx, group, todo, util);
    }
    let mut remaining = todo;
    let mut retries = Retries::new(ctx.opts.startup_retries);
    while !remaining.is_empty() && !ctx.stop.is_stopping() {
        let batch = next_batch(&remaining);
        let (bszs, seqs) = lists(&batch);
        let argv = replace_lists(&group.launch.argv, &bszs, &seqs);
        let result_file = result_file(group);
        let launch = launch(ctx, group, &batch, &argv, &result_file, 0)?;
        let entries = launch.entries(&bszs, &seqs, output_len(&batch));
        let mut missing = Vec::new();
        let mut repeated = Vec::new();
        for cell in &batch {
            match find(&entries, cell) {
                Some(Entry::Measured(r)) if repeats::of(cell) > 1 => {
                    repeated.push((*cell, r.clone()));
                }
                Some(Entry::Measured(r)) => {
                    let r = r.clone();
                    let took = launch.measured(r.total_latency);
                    ctx.finish(group, cell, Status::Ok, None, launch.started, took, |row| {
                        fill_latency(row, &r, util)
                    })?;
                }
                Some(Entry::Skipped(s)) => {
                    let s = *s;
                    let msg = "does not fit the KV cache pool (one_batch: max batch size limit)"
                        .to_string();
                    ctx.finish(
                        group,
                        cell,
                        Status::Skipped,
                        Some(msg),
                        launch.started,
                        Took::Process(launch.wall),
                        |row| fill_skipped(row, &s),
                    )?;
                }
                None => missing.push(*cell),
            }
        }
        remaining.retain(|c| !batch.iter().any(|b| b.id == c.id));
        if !repeated.is_empty() {
            repeats::run(ctx, group, &launch, repeated, util)?;
        }
        if launch.failed_to_start(!entries.is_empty()) {
            // Nothing ran: retry the same cells (startup_retries) unless a
            // retry cannot help, then fail them all with the cause.
            let what = match launch.outcome {
                CmdOutcome::Exited(s) => format!("one_batch failed to start ({s})"),
                _ => "one_batch failed to start".to_string(),
            };
            let f = StartFailure::read(&launch.failure(), &what);
            if retries.retry(&f) {
                let msg = format!("group {}: {}; retrying", group.id, f.msg);
                ctx.warn(Some(group), msg)?;
                remaining.splice(0..0, missing);
                continue;
            }
            for cell in missing {
                ctx.finish(
                    group,
                    cell,
                    f.status,
                    Some(f.msg.clone()),
                    launch.started,
                    Took::Process(launch.wall),
                    |_| {},
                )?;
            }
            continue;
        }
        let rest = settle_missing(ctx, group, &launch, !entries.is_empty(), missing)?;
        remaining.splice(0..0, rest);
    }
    Ok(())
}

/// One finished one_batch process: how it ended and what it wrote.
pub(super) struct Launch {
    pub(super) outcome: CmdOutcome,
    pub(super) started: Stamp,
    /// From launch to exit.
    pub(super) wall: Duration,
    json: String,
    log: String,
    source: String,
}

impl Launch {
    /// A cell's own time as one_batch measured it, in this process.
    pub(super) fn measured(&self, secs: f64) -> Took {
        Took::Measured {
            secs,
            process: self.wall,
        }
    }

    /// Exited non-zero having measured nothing, and not for lack of memory:
    /// the process never got going (bad flag, missing program or module).
    fn failed_to_start(&self, produced_any: bool) -> bool {
        matches!(self.outcome, CmdOutcome::Exited(s) if !s.success())
            && !produced_any
            && !one_batch::oom_in(&self.log)
    }

    /// Why the process failed, from the tail of its own part of the log
    /// (the same number of lines serving reads), so that lines from earlier
    /// in a long run cannot name the cause.
    fn failure(&self) -> Failure {
        let code = match self.outcome {
            CmdOutcome::Exited(s) => s.code(),
            _ => None,
        };
        let tail = last_lines(&self.log, crate::exec::ready::TAIL_LINES);
        Failure::read(&tail, code)
    }

    /// The status and message of a cell this process did not measure
    /// (not for an interrupted process: those cells stay unrecorded).
    pub(super) fn cause(&self, produced_any: bool) -> (Status, String) {
        let oom = one_batch::oom_in(&self.log);
        match self.outcome {
            CmdOutcome::TimedOut { after } => (
                Status::CellTimeout,
                format!("one_batch ran past {:.0} s", after.as_secs_f64()),
            ),
            _ if oom => (
                Status::Oom,
                self.failure()
                    .message_engine_hint("one_batch ran out of memory"),
            ),
            CmdOutcome::Exited(s) if s.success() => (
                Status::ParseError,
                "one_batch exited 0 but wrote no result for this cell".to_string(),
            ),
            CmdOutcome::Exited(s) if produced_any => (
                Status::ServerDied,
                self.failure()
                    .message_engine_hint(&format!("one_batch died ({s})")),
            ),
            CmdOutcome::Exited(s) => (
                Status::StartupCrash,
                self.failure().message(&format!("one_batch failed ({s})")),
            ),
            CmdOutcome::Interrupted => (Status::Interrupted, "interrupted".to_string()),
        }
    }

    pub(super) fn entries(&self, bszs: &[u64], seqs: &[u64], ol: u64) -> Vec<Entry> {
        let mut out: Vec<Entry> = one_batch::parse_result_jsonl(&self.json, &self.source)
            .map(|v| v.into_iter().map(Entry::Measured).collect())
            .unwrap_or_default();
        let combos = Combos {
            batch_size: bszs.to_vec(),
            input_len: seqs.to_vec(),
            output_len: vec![ol],
        };
        // Skipped combinations are only printed; measured ones from the JSON
        // lines win over the printed ones.
        if let Ok(printed) = one_batch::parse_stdout(&self.log, &self.source, Some(&combos)) {
            for e in printed {
                if !out.iter().any(|o| o.key() == e.key()) {
                    out.push(e);
                }
            }
        }
        out
    }
}

pub(super) fn launch(
    ctx: &mut Ctx,
    group: &Group,
    cells: &[&PlanCell],
    argv: &[String],
    result_file: &Utf8Path,
    repeat: u64,
) -> Result<Launch, Error> {
    let log_path = ctx.layout.server_log(&group.id);
    let (json_at, log_at) = (size_of(result_file), size_of(&log_path));
    let timeout = cell_timeout(group).saturating_mul(cells.len().max(1) as u32);
    let spec = Spec::new(argv.to_vec(), log_path.as_std_path())
        .envs(&group.launch.env)
        .env(repeats::REPEAT_ENV, repeat.to_string())
        .cpus(group.launch.cpus.as_deref());
    ctx.launching(group, cells.len())?;
    ctx.executed(group, None, crate::record::Role::Launch, &spec)?;
    let started = ctx.now();
    let job = Job::Batch { group, cells };
    let run = ctx
        .launcher
        .run_to_end(job, &spec, timeout, ctx.opts.grace, ctx.stop, &mut || {});
    let outcome = match run {
        Ok(o) => o,
        // A program that cannot be started fails this group like a crash at
        // start (exit 127, as a shell reports it), not the whole sweep.
        Err(e @ crate::exec::ExecError::Spawn { .. }) => spawn_failure(&log_path, &e),
        Err(e) => return Err(e.into()),
    };
    ctx.counts.launches += 1;
    ctx.busy_since(started);
    ctx.stopped(group, started)?;
    Ok(Launch {
        outcome,
        started,
        wall: ctx.now().since(started),
        json: read_from(result_file, json_at),
        log: read_from(&log_path, log_at),
        source: log_path.to_string(),
    })
}

/// Note a failed spawn in the group's log and report it as exit code 127.
fn spawn_failure(log: &Utf8Path, e: &crate::exec::ExecError) -> CmdOutcome {
    use std::io::Write;
    use std::os::unix::process::ExitStatusExt;
    let cause = std::error::Error::source(e)
        .map(|c| format!(": {c}"))
        .unwrap_or_default();
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
    {
        let _ = writeln!(f, "matrix: {e}{cause}");
    }
    CmdOutcome::Exited(std::process::ExitStatus::from_raw(127 << 8))
}

/// Give the first cell the process failed on its status; prune larger batch
/// sizes after an OOM; return the cells to run again in a new process.
fn settle_missing<'a>(
    ctx: &mut Ctx,
    group: &Group,
    launch: &Launch,
    produced_any: bool,
    missing: Vec<&'a PlanCell>,
) -> Result<Vec<&'a PlanCell>, Error> {
    let Some(first) = missing.first().copied() else {
        return Ok(Vec::new());
    };
    if matches!(launch.outcome, CmdOutcome::Interrupted) {
        return Ok(Vec::new()); // left unrecorded: a resume runs them
    }
    let (status, msg) = launch.cause(produced_any);
    let took = Took::Process(launch.wall);
    ctx.finish(
        group,
        first,
        status,
        Some(msg),
        launch.started,
        took,
        |_| {},
    )?;
    let (b0, s0) = (bsz(first), seq(first));
    let mut rest = Vec::new();
    for cell in missing.into_iter().skip(1) {
        if status == Status::Oom && !ctx.opts.no_prune && seq(cell) == s0 && bsz(cell) > b0 {
            let msg = format!("pruned: batch size {b0} ran out of memory at this length");
            // Never ran: no time of its own, none of the process's.
            let at = ctx.now();
            ctx.finish(
                group,
                cell,
                Status::Pruned,
                Some(msg),
                at,
                Took::Since(at),
                |_| {},
            )?;
        } else {
            rest.push(cell);
        }
    }
    Ok(rest)
}

/// Run each cell once per phase under Nsight Systems, one process each,
/// so each artifact holds one phase of one cell. The passes are the plan's
/// (`cells[].profile`); a cell without any is recorded as failed.
fn run_profiled(
    ctx: &mut Ctx,
    group: &Group,
    todo: Vec<&PlanCell>,
    util: Option<&Utilisation<'_>>,
) -> Result<(), Error> {
    let dir = ctx.layout.profile_dir(&group.model);
    std::fs::create_dir_all(&dir).map_err(|source| Error::Io {
        context: format!("cannot create {dir}"),
        source,
    })?;
    for cell in todo {
        if ctx.stop.is_stopping() {
            break;
        }
        let (b, s) = (bsz(cell), seq(cell));
        if cell.profile.is_empty() {
            ctx.no_profile_passes(group, cell)?;
            continue;
        }
        let mut last = None;
        // The plan built each pass's nsys command (`matrix plan --profile`).
        for pass in &cell.profile {
            let result = result_file(group);
            last = Some(launch(ctx, group, &[cell], &pass.argv, &result, 0)?);
        }
        let Some(l) = last else { continue }; // not reached: the passes are not empty
        let entries = l.entries(&[b], &[s], output_len(&[cell]));
        match find(&entries, cell) {
            Some(Entry::Measured(r)) => {
                let r = r.clone();
                let took = l.measured(r.total_latency);
                ctx.finish(group, cell, Status::Ok, None, l.started, took, |row| {
                    fill_latency(row, &r, util)
                })?;
            }
            Some(Entry::Skipped(sk)) => {
                let sk = *sk;
                let took = Took::Process(l.wall);
                ctx.finish(group, cell, Status::Skipped, None, l.started, took, |row| {
                    fill_skipped(row, &sk)
                })?;
            }
            None => {
                settle_missing(ctx, group, &l, false, vec![cell])?;
            }
        }
    }
    Ok(())
}

/// The whole rest when it is a full product (one_batch runs products),
/// else the cells of the first remaining input length.
pub(super) fn next_batch<'a>(remaining: &[&'a PlanCell]) -> Vec<&'a PlanCell> {
    let (bszs, seqs) = lists(remaining);
    if bszs.len() * seqs.len() == remaining.len() {
        return remaining.to_vec();
    }
    let s0 = seq(remaining[0]);
    remaining.iter().copied().filter(|c| seq(c) == s0).collect()
}

/// The `--batch-size` and `--input-len` lists of `cells`.
pub(super) fn lists(cells: &[&PlanCell]) -> (Vec<u64>, Vec<u64>) {
    crate::plan::bsz_seq_lists(cells.iter().map(|c| (Some(bsz(c)), Some(seq(c)))))
}

pub(super) fn find<'e>(entries: &'e [Entry], cell: &PlanCell) -> Option<&'e Entry> {
    one_batch::find(entries, bsz(cell), seq(cell), output_len(&[cell]))
}

pub(super) fn result_file(group: &Group) -> camino::Utf8PathBuf {
    group
        .results
        .as_ref()
        .map(|r| camino::Utf8PathBuf::from(&r.file))
        .unwrap_or_else(|| camino::Utf8PathBuf::from(format!("{}/result.jsonl", group.id)))
}

fn bsz(c: &PlanCell) -> u64 {
    c.workload
        .get("bsz")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0)
}

fn seq(c: &PlanCell) -> u64 {
    c.workload
        .get("seq")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0)
}

pub(super) fn output_len(cells: &[&PlanCell]) -> u64 {
    cells
        .first()
        .and_then(|c| c.workload.get("output_len"))
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_list_values() {
        let argv: Vec<String> = [
            "p",
            "--batch-size",
            "1",
            "2",
            "--input-len",
            "8",
            "--output-len",
            "4",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let out = replace_lists(&argv, &[4], &[16, 32]);
        assert_eq!(
            out,
            [
                "p",
                "--batch-size",
                "4",
                "--input-len",
                "16",
                "32",
                "--output-len",
                "4"
            ]
        );
    }
}
