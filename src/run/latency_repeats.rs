//! Latency-mode repeats: a cell with workload `repeats: N` (N > 1) is
//! measured by N one_batch processes. The first is the group's ordinary
//! process; repeats 1..N re-run one_batch for the cells it measured (one
//! process per full batch-size × input-length product, like the first),
//! each with `MATRIX_REPEAT=k` in its environment (0-based; the simulator
//! seeds its run noise with it, real engines ignore it).
//!
//! Every repeat's numeric metric columns become one sample of the cell
//! (`Ctx::finish_sampled`); the CSV row is the selected repeat: `select:
//! best` (default) is the lowest `total_latency`, `median` the repeat with
//! the median `total_latency` (the upper middle one for even counts, as in
//! serving). `select_metric` names serving metrics, so latency mode always
//! ranks by total latency.
//!
//! A later repeat that does not measure the cell (the process crashed, ran
//! out of memory or time) fails the whole cell with that repeat's cause,
//! prefixed `repeat k of N:`: a cell whose repeats do not all succeed has no
//! defensible spread, and the earlier numbers stay in the group's logs.
//! Interrupted repeats leave the cell unrecorded, so a resume re-runs all of
//! its repeats.

use std::time::Duration;

use indexmap::IndexMap;

use crate::Error;
use crate::exec::CmdOutcome;
use crate::parse::one_batch::{Entry, LatencyResult};
use crate::plan::{Group, PlanCell};
use crate::record::{CsvRow, Status, Utilisation, fill_latency};

use super::context::{Ctx, Took, sample_of};
use super::latency::{Launch, find, launch, lists, next_batch, output_len, result_file};
use super::profile::replace_lists;

/// The repeat index given to every process started for a repeat.
pub const REPEAT_ENV: &str = "MATRIX_REPEAT";

/// The cell's `repeats` (1 when absent).
pub fn of(cell: &PlanCell) -> u64 {
    cell.workload
        .get("repeats")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(1)
        .max(1)
}

struct Pending<'a> {
    cell: &'a PlanCell,
    runs: Vec<LatencyResult>,
    failed: Option<(Status, String)>,
    /// Wall time of every process that measured this cell.
    wall: Duration,
}

/// Run repeats 1.. of `first`'s measured cells and record them.
pub fn run(
    ctx: &mut Ctx,
    group: &Group,
    first: &Launch,
    measured: Vec<(&PlanCell, LatencyResult)>,
    util: Option<&Utilisation<'_>>,
) -> Result<(), Error> {
    let mut pending: Vec<Pending<'_>> = measured
        .into_iter()
        .map(|(cell, r)| Pending {
            cell,
            runs: vec![r],
            failed: None,
            wall: first.wall,
        })
        .collect();
    let most = pending.iter().map(|p| of(p.cell)).max().unwrap_or(1);
    for k in 1..most {
        let mut left: Vec<&PlanCell> = pending
            .iter()
            .filter(|p| p.failed.is_none() && of(p.cell) > k)
            .map(|p| p.cell)
            .collect();
        while !left.is_empty() {
            if ctx.stop.is_stopping() {
                return Ok(()); // unrecorded: a resume runs every repeat again
            }
            let batch = next_batch(&left);
            let (bszs, seqs) = lists(&batch);
            let argv = replace_lists(&group.launch.argv, &bszs, &seqs);
            let l = launch(ctx, group, &batch, &argv, &result_file(group), k)?;
            if matches!(l.outcome, CmdOutcome::Interrupted) {
                return Ok(());
            }
            let entries = l.entries(&bszs, &seqs, output_len(&batch));
            let produced_any = entries.iter().any(|e| matches!(e, Entry::Measured(_)));
            for cell in &batch {
                let Some(p) = pending.iter_mut().find(|p| p.cell.id == cell.id) else {
                    continue;
                };
                p.wall += l.wall;
                match find(&entries, cell) {
                    Some(Entry::Measured(r)) => p.runs.push(r.clone()),
                    Some(Entry::Skipped(_)) => {
                        p.failed = Some((
                            Status::ParseError,
                            format!(
                                "repeat {} of {}: one_batch skipped a case an earlier repeat measured",
                                k + 1,
                                of(cell)
                            ),
                        ));
                    }
                    None => {
                        let (status, msg) = l.cause(produced_any);
                        p.failed =
                            Some((status, format!("repeat {} of {}: {msg}", k + 1, of(cell))));
                    }
                }
            }
            left.retain(|c| !batch.iter().any(|b| b.id == c.id));
        }
    }
    for p in pending {
        if let Some((status, msg)) = p.failed {
            ctx.finish(
                group,
                p.cell,
                status,
                Some(msg),
                first.started,
                Took::Process(p.wall),
                |_| {},
            )?;
            continue;
        }
        let samples: Vec<IndexMap<String, f64>> = p.runs.iter().map(|r| sample(r, util)).collect();
        let chosen = select(&p.runs, p.cell).clone();
        let took = Took::Measured {
            secs: chosen.total_latency,
            process: p.wall,
        };
        finish_sampled(ctx, group, p.cell, first, took, samples, |row| {
            fill_latency(row, &chosen, util)
        })?;
    }
    Ok(())
}

/// The numeric metric columns of one repeat, as its CSV row would hold them.
pub fn sample(r: &LatencyResult, util: Option<&Utilisation<'_>>) -> IndexMap<String, f64> {
    let mut row = CsvRow::new();
    fill_latency(&mut row, r, util);
    sample_of(&row)
}

/// The repeat recorded in the CSV: `best` (lowest total latency) or
/// `median` (by total latency).
pub fn select<'r>(runs: &'r [LatencyResult], cell: &PlanCell) -> &'r LatencyResult {
    let rule = cell
        .workload
        .get("select")
        .and_then(|v| v.as_str())
        .unwrap_or("best");
    let mut order: Vec<&LatencyResult> = runs.iter().collect();
    order.sort_by(|a, b| a.total_latency.total_cmp(&b.total_latency));
    let pick = if rule == "median" { order.len() / 2 } else { 0 };
    order[pick]
}

fn finish_sampled(
    ctx: &mut Ctx,
    group: &Group,
    cell: &PlanCell,
    first: &Launch,
    took: Took,
    samples: Vec<IndexMap<String, f64>>,
    fill: impl FnOnce(&mut CsvRow),
) -> Result<(), Error> {
    ctx.finish_sampled(
        group,
        cell,
        Status::Ok,
        None,
        first.started,
        took,
        samples,
        fill,
    )
}
