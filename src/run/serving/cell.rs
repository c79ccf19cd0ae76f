//! One serving cell: its client's repeats (with their request progress),
//! its results, its admin calls.

use camino::{Utf8Path, Utf8PathBuf};

use crate::Error;
use crate::exec::{CmdOutcome, Job, Server, Spec, Stamp};
use crate::parse::Failure;
use crate::parse::serving::parse_output_file;
use crate::plan::{AdminCall, Group, PlanCell};
use crate::record::csv::CsvRow;
use crate::record::event::{Event, RequestProgress};
use crate::record::{Status, Utilisation, fill_latency, fill_serving};

use super::super::context::{Ctx, Took, cell_timeout, note_in_log, sample_of};
use super::super::files::{read_bytes_from, read_from, size_of};
use super::super::latency_repeats;
use super::select::select;
use super::server::healthy;

pub(super) enum CellEnd {
    Next,
    Relaunch,
    Interrupted,
}

/// Run one cell's repeats and record it.
pub(super) fn run_cell(
    ctx: &mut Ctx,
    group: &Group,
    cell: &PlanCell,
    server: &mut dyn Server,
    util: Option<&Utilisation<'_>>,
) -> Result<CellEnd, Error> {
    let started = ctx.now();
    let took = Took::Since(started);
    let Some(client) = &cell.client else {
        ctx.finish(
            group,
            cell,
            Status::ClientError,
            Some("the plan has no client command for this cell".into()),
            started,
            took,
            |_| {},
        )?;
        return Ok(CellEnd::Next);
    };
    let results = cell
        .results
        .as_ref()
        .map(|r| camino::Utf8PathBuf::from(&r.file));
    let results = results.unwrap_or_else(|| {
        ctx.layout
            .group_dir(&group.id)
            .join(format!("{}.jsonl", cell.id))
    });
    let log = ctx.layout.cell_log(&group.id, &cell.id);
    let offset = size_of(&results);
    let repeats = cell
        .workload
        .get("repeats")
        .and_then(|v| v.as_u64())
        .unwrap_or(1)
        .max(1);
    for _ in 0..repeats {
        let spec = Spec::new(client.argv.clone(), log.as_std_path())
            .envs(&client.env)
            .cpus(client.cpus.as_deref());
        ctx.executed(group, Some(cell), crate::record::Role::Client, &spec)?;
        let t = ctx.now();
        let outcome = run_client(ctx, group, cell, &spec, &log)?;
        ctx.busy_since(t);
        match outcome {
            CmdOutcome::Exited(_) if server.try_wait()?.is_some() => {
                // bench_serving counts failed requests and still exits 0: a
                // server that died under the client is only seen here.
                let status = server
                    .try_wait()?
                    .map(|s| s.to_string())
                    .unwrap_or_default();
                let tail = crate::exec::log_tail(server.log_path(), crate::exec::ready::TAIL_LINES);
                let msg = Failure::read(&tail, None)
                    .message_engine_hint(&format!("the server died during the cell ({status})"));
                ctx.finish(
                    group,
                    cell,
                    Status::ServerDied,
                    Some(msg),
                    started,
                    took,
                    |_| {},
                )?;
                return Ok(CellEnd::Relaunch);
            }
            CmdOutcome::Exited(s) if s.success() => {}
            CmdOutcome::Interrupted => return Ok(CellEnd::Interrupted),
            CmdOutcome::TimedOut { after } => {
                let msg = format!("client ran past {:.0} s", after.as_secs_f64());
                ctx.finish(
                    group,
                    cell,
                    Status::CellTimeout,
                    Some(msg),
                    started,
                    took,
                    |_| {},
                )?;
                return Ok(if healthy(ctx, group) {
                    CellEnd::Next
                } else {
                    CellEnd::Relaunch
                });
            }
            CmdOutcome::Exited(s) => {
                let died = server.try_wait()?.is_some() || !healthy(ctx, group);
                let (status, what) = if died {
                    (Status::ServerDied, "the server died")
                } else {
                    (Status::ClientError, "the client failed")
                };
                let tail = crate::exec::log_tail(log.as_std_path(), crate::exec::ready::TAIL_LINES);
                let msg = Failure::read(&tail, None).message_engine_hint(&format!("{what} ({s})"));
                ctx.finish(group, cell, status, Some(msg), started, took, |_| {})?;
                return Ok(if died {
                    CellEnd::Relaunch
                } else {
                    CellEnd::Next
                });
            }
        }
    }
    let text = read_from(&results, offset);
    // Latency cells measured against a server (`batch`, or an engine whose
    // latency mode is a server) carry one_batch's result lines.
    if group.mode != "serving" {
        return record_batch(ctx, group, cell, &text, results.as_str(), started, util);
    }
    let runs = match parse_output_file(&text, results.as_str()) {
        Ok(r) if r.len() as u64 >= repeats => r,
        Ok(r) => {
            let msg = format!(
                "expected {repeats} result lines in {results}, found {}",
                r.len()
            );
            return parse_failed(ctx, group, cell, msg, started);
        }
        Err(e) => return parse_failed(ctx, group, cell, e.to_string(), started),
    };
    let chosen = select(&runs, cell);
    let samples = runs
        .iter()
        .map(|r| {
            let mut scratch = CsvRow::new();
            fill_serving(&mut scratch, r);
            sample_of(&scratch)
        })
        .collect();
    ctx.finish_sampled(
        group,
        cell,
        Status::Ok,
        None,
        started,
        took,
        samples,
        |row| fill_serving(row, &chosen),
    )?;
    Ok(CellEnd::Next)
}

/// Record a cell whose results could not be read, and go on.
fn parse_failed(
    ctx: &mut Ctx,
    group: &Group,
    cell: &PlanCell,
    msg: String,
    started: Stamp,
) -> Result<CellEnd, Error> {
    let took = Took::Since(started);
    ctx.finish(
        group,
        cell,
        Status::ParseError,
        Some(msg),
        started,
        took,
        |_| {},
    )?;
    Ok(CellEnd::Next)
}

/// Batch mode: `matrix bench batch` wrote one_batch-format lines; keep the
/// repeat with the lowest total latency (`best`) or the median one.
fn record_batch(
    ctx: &mut Ctx,
    group: &Group,
    cell: &PlanCell,
    text: &str,
    source: &str,
    started: Stamp,
    util: Option<&Utilisation<'_>>,
) -> Result<CellEnd, Error> {
    let runs = match crate::parse::one_batch::parse_result_jsonl(text, source) {
        Ok(r) if !r.is_empty() => r,
        Ok(_) => {
            return parse_failed(
                ctx,
                group,
                cell,
                format!("no result line in {source}"),
                started,
            );
        }
        Err(e) => return parse_failed(ctx, group, cell, e.to_string(), started),
    };
    // Every repeat, in the order it ran.
    let samples = runs
        .iter()
        .map(|r| latency_repeats::sample(r, util))
        .collect();
    // The same rule as latency mode's repeats.
    let chosen = latency_repeats::select(&runs, cell).clone();
    let took = Took::Since(started);
    ctx.finish_sampled(
        group,
        cell,
        Status::Ok,
        None,
        started,
        took,
        samples,
        |row| fill_latency(row, &chosen, util),
    )?;
    Ok(CellEnd::Next)
}

/// One admin call of the engine profile before or around `cell`. The cell
/// still runs when it fails (a warm cache or a missing profile range does
/// not stop the measurement), but the failure is never dropped: a warning on
/// the terminal and a line in the group's server.log, naming the call, its
/// URL and what went wrong.
pub(super) fn admin_call(
    ctx: &mut Ctx,
    group: &Group,
    name: &str,
    call: &AdminCall,
    body: &str,
    cell: &str,
) -> Result<(), Error> {
    let t = ctx.now();
    let answer = ctx.launcher.admin(call, body);
    ctx.busy_since(t);
    let problem = match answer {
        Ok(Some(code)) if (200..300).contains(&code) => return Ok(()),
        Ok(Some(code)) => format!("HTTP {code}"),
        Ok(None) => "no answer (refused, reset or timed out)".to_string(),
        Err(e) => e.to_string(),
    };
    warn_in_log(
        ctx,
        group,
        format!(
            "group {}: admin call {name} ({} {}) for cell {cell} failed: {problem}",
            group.id, call.method, call.url
        ),
    )
}

/// A warning on the terminal and in the group's server.log.
pub(super) fn warn_in_log(ctx: &mut Ctx, group: &Group, msg: String) -> Result<(), Error> {
    note_in_log(
        &ctx.layout.server_log(&group.id),
        &format!("matrix: warning: {msg}"),
    );
    ctx.warn(Some(group), msg)
}

/// Run one repeat of the cell's client, emitting `request_progress` each
/// time the count of done requests in its log changes (read every
/// [`crate::exec::launcher::TICK`] and once at its end).
fn run_client(
    ctx: &mut Ctx,
    group: &Group,
    cell: &PlanCell,
    spec: &Spec,
    log: &Utf8Path,
) -> Result<CmdOutcome, Error> {
    let mut watch = ProgressWatch {
        path: log.to_owned(),
        offset: size_of(log),
        carry: Vec::new(),
        done: None,
    };
    let (timeout, grace, stop) = (cell_timeout(group), ctx.opts.grace, ctx.stop);
    let Ctx { launcher, out, .. } = ctx;
    let mut failed = None;
    let job = Job::Client { group, cell };
    let outcome = launcher.run_to_end(job, spec, timeout, grace, stop, &mut || {
        let Some((done, total)) = watch.poll() else {
            return;
        };
        let e = Event::RequestProgress(RequestProgress {
            group: group.id.clone(),
            cell: cell.id.clone(),
            done,
            total,
        });
        if failed.is_none() {
            failed = out.emit(&e).err();
        }
    })?;
    match failed {
        Some(e) => Err(e),
        None => Ok(outcome),
    }
}

/// Reads a client's log as it grows, for its tqdm progress.
struct ProgressWatch {
    path: Utf8PathBuf,
    offset: u64,
    /// The bytes after the last `\r`/`\n` read so far (a line being
    /// written, maybe cut inside a character).
    carry: Vec<u8>,
    done: Option<u64>,
}

impl ProgressWatch {
    /// The progress, when its done count changed since the last poll.
    fn poll(&mut self) -> Option<(u64, u64)> {
        let new = read_bytes_from(&self.path, self.offset);
        if new.is_empty() {
            return None;
        }
        self.offset += new.len() as u64;
        let mut bytes = std::mem::take(&mut self.carry);
        bytes.extend_from_slice(&new);
        let cut = bytes
            .iter()
            .rposition(|b| *b == b'\r' || *b == b'\n')
            .map_or(0, |i| i + 1);
        let found = crate::parse::progress::last_progress(&String::from_utf8_lossy(&bytes));
        self.carry = bytes.split_off(cut);
        let (done, total) = found?;
        if self.done == Some(done) {
            return None;
        }
        self.done = Some(done);
        Some((done, total))
    }
}
