//! The JSON API under `/api/` (docs/DASHBOARD.md): what the pages' script
//! polls, and the same data for scripts.

use serde::Deserialize;
use serde_json::{Value, json};

use super::data::{self, RunFilter, TrendFilter};
use super::{Failure, ServeOptions};

/// `?cell=ID` or `?key=KEY_TEXT` of `/api/runs/<id>/reproduce`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ReproduceQuery {
    pub cell: Option<String>,
    pub key: Option<String>,
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<Value, Failure> {
    serde_json::to_value(v).map_err(|e| Failure::Internal(e.to_string()))
}

/// `/api/runs`: the runs list (newest first), as `matrix runs --json` rows.
pub fn runs(st: &ServeOptions, f: &RunFilter) -> Result<Value, Failure> {
    to_json(&data::runs(st, f)?)
}

/// `/api/runs/<id>`: a run without its cells, plus its cell count.
pub fn run(st: &ServeOptions, id: &str) -> Result<Value, Failure> {
    let r = data::load_run(st, id)?;
    Ok(json!({
        "run_id": r.run_id,
        "source": r.source,
        "path": r.path,
        "started_at": r.started_at,
        "finished_at": r.finished_at,
        "model": r.model,
        "engine": r.engine,
        "engine_version": r.engine_version,
        "image": r.image,
        "git_sha": r.git_sha,
        "host": r.host,
        "gpu": r.gpu,
        "manifest": r.manifest,
        "extras": r.extras,
        "cell_count": r.cells.len(),
    }))
}

/// `/api/runs/<id>/cells`: the run's cells (CSV rows, keys, samples), the
/// table's columns, and whether the run has finished (the run page polls
/// this while it has not).
pub fn cells(st: &ServeOptions, id: &str) -> Result<Value, Failure> {
    let r = data::load_run(st, id)?;
    let columns = data::columns(&r.cells);
    let logs: Vec<Option<String>> = r
        .cells
        .iter()
        .map(|c| data::cell_log(st, &r.run_id, c))
        .collect();
    let cells: Vec<Value> = r
        .cells
        .iter()
        .zip(logs)
        .map(|(c, log)| {
            json!({
                "cell_id": c.cell_id,
                "group_id": c.group_id,
                "status": c.status,
                "key": c.key,
                "row": c.row,
                "samples": c.samples,
                "log": log,
            })
        })
        .collect();
    Ok(json!({
        "run_id": r.run_id,
        "finished_at": r.finished_at,
        "columns": columns,
        "cells": cells,
    }))
}

/// `/api/runs/<id>/reproduce?cell=ID` (or `?key=`): a cell's reproduce box.
pub fn reproduce(st: &ServeOptions, id: &str, q: &ReproduceQuery) -> Result<Value, Failure> {
    if q.cell.is_none() && q.key.is_none() {
        return Err(Failure::BadRequest("give ?cell=CELL_ID or ?key=KEY".into()));
    }
    let r = data::load_run(st, id)?;
    to_json(&data::reproduce(
        st,
        &r,
        q.cell.as_deref(),
        q.key.as_deref(),
    )?)
}

/// `/api/compare/<base>/<new>`: `matrix compare --json`.
pub fn compare(st: &ServeOptions, base: &str, new: &str) -> Result<Value, Failure> {
    let (report, _, _) = data::compare(st, base, new)?;
    serde_json::from_str(&crate::report::compare::render_json(&report))
        .map_err(|e| Failure::Internal(e.to_string()))
}

/// `/api/trends`: series grouped by model and mode, with change points.
pub fn trends(st: &ServeOptions, f: &TrendFilter) -> Result<Value, Failure> {
    to_json(&data::trends(st, f)?)
}
