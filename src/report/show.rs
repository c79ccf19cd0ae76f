//! `matrix show RUN [CELL]`: a finished (or running, or stopped) run read
//! back from its files. `RUN` alone prints the run's results table — the
//! renderer of the end of `matrix run` — optionally filtered by `--only
//! axis=v,...`; with `CELL` (an id or a unique start of one) it prints
//! that cell's CSV row, the commands that produced it (from
//! `commands.jsonl`) and the paths of its logs.

use camino::{Utf8Path, Utf8PathBuf};
use indexmap::IndexMap;
use serde_json::Value;

use super::ReportError;
use super::table::{self, Rows};
use crate::record::commands::{assignment, command_line};
use crate::record::{CommandLog, Executed, Role, RunLayout};

/// What to show.
#[derive(Debug, Clone)]
pub struct ShowRequest {
    /// The results folder (`<root>/results` unless `--results`).
    pub results_dir: Utf8PathBuf,
    /// A run id, `latest`, or the path of a run folder.
    pub run: String,
    /// A cell id or a unique start of one.
    pub cell: Option<String>,
    /// `axis=v1,v2` filters (all must match).
    pub only: Vec<String>,
}

/// A run found on disk.
#[derive(Debug, Clone)]
struct FoundRun {
    run_id: String,
    run_dir: Utf8PathBuf,
    csv: Utf8PathBuf,
}

/// The text `matrix show` prints.
pub fn show(req: &ShowRequest) -> Result<String, ReportError> {
    let run = find_run(&req.results_dir, &req.run)?;
    if !run.csv.is_file() {
        return Err(ReportError::NoCsv {
            run_id: run.run_id,
            path: run.csv,
        });
    }
    let rows = table::read_csv(&run.csv)?;
    let varying = planned_varying(&run.run_dir);
    match &req.cell {
        Some(cell) => show_cell(&run, &rows, cell, varying.as_deref()),
        None => {
            let rows = filter(&rows, &req.only, &run.csv)?;
            let mut out = format!("run {}  ({})\n", run.run_id, run.csv);
            out.push_str(&table::render(&table::tables(&rows, varying.as_deref())));
            Ok(out)
        }
    }
}

fn find_run(results: &Utf8Path, run: &str) -> Result<FoundRun, ReportError> {
    let as_path = Utf8Path::new(run);
    let run_dir = if run == "latest" {
        let id = crate::record::latest(results)?.ok_or_else(|| ReportError::NoRuns {
            results: results.to_owned(),
        })?;
        RunLayout::new(results, id).run_dir()
    } else if (run.contains('/') || run == ".") && as_path.is_dir() {
        as_path.to_owned()
    } else {
        let dir = RunLayout::new(results, run).run_dir();
        if !dir.is_dir() {
            let ids = run_ids(results);
            return Err(ReportError::UnknownRun {
                run: run.to_string(),
                results: results.to_owned(),
                suggestion: crate::suggest::did_you_mean(run, ids.iter().map(String::as_str)),
            });
        }
        dir
    };
    let run_id = run_dir.file_name().unwrap_or(run).to_string();
    let csv = table::csv_of_run_dir(&run_dir).unwrap_or_else(|| run_dir.join("run.csv"));
    Ok(FoundRun {
        run_id,
        run_dir,
        csv,
    })
}

fn run_ids(results: &Utf8Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(results.join("raw_output")) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect()
}

/// Keep the rows that match every `axis=v1,v2` filter. `seq` names the
/// `input_len` column (as in `matrix plan --only`); values match as text,
/// or as numbers (`8` matches `8.0`).
fn filter(rows: &Rows, only: &[String], path: &Utf8Path) -> Result<Rows, ReportError> {
    let axes = rows.axis_columns();
    let mut keep: Vec<bool> = vec![true; rows.records.len()];
    for arg in only {
        let (axis, values) = arg
            .split_once('=')
            .filter(|(a, v)| !a.trim().is_empty() && !v.trim().is_empty())
            .ok_or_else(|| ReportError::OnlySyntax { arg: arg.clone() })?;
        let axis = match axis.trim() {
            "seq" => "input_len",
            a => a,
        };
        if !axes.iter().any(|a| a == axis) {
            return Err(ReportError::UnknownAxis {
                axis: axis.to_string(),
                path: path.to_owned(),
                suggestion: crate::suggest::did_you_mean(axis, axes.iter().map(String::as_str)),
                axes: axes.clone(),
            });
        }
        let wanted: Vec<&str> = values.split(',').map(str::trim).collect();
        let text = |r: &IndexMap<String, String>| r.get(axis).cloned().unwrap_or_default();
        for w in &wanted {
            if !rows.records.iter().any(|r| same(&text(r), w)) {
                let mut values: Vec<String> = Vec::new();
                for r in &rows.records {
                    let v = text(r);
                    if !values.contains(&v) {
                        values.push(v);
                    }
                }
                return Err(ReportError::UnknownValue {
                    axis: axis.to_string(),
                    value: w.to_string(),
                    path: path.to_owned(),
                    values,
                });
            }
        }
        for (k, r) in keep.iter_mut().zip(&rows.records) {
            *k = *k && wanted.iter().any(|w| same(&text(r), w));
        }
    }
    Ok(Rows {
        header: rows.header.clone(),
        records: rows
            .records
            .iter()
            .zip(keep)
            .filter(|(_, k)| *k)
            .map(|(r, _)| r.clone())
            .collect(),
    })
}

fn same(value: &str, wanted: &str) -> bool {
    value == wanted
        || matches!((table::number(value), table::number(wanted)), (Some(a), Some(b)) if a == b)
}

fn show_cell(
    run: &FoundRun,
    rows: &Rows,
    cell: &str,
    varying: Option<&[String]>,
) -> Result<String, ReportError> {
    let id_of = |r: &IndexMap<String, String>| r.get("cell_id").cloned().unwrap_or_default();
    let matches: Vec<&IndexMap<String, String>> = rows
        .records
        .iter()
        .filter(|r| !cell.is_empty() && id_of(r).starts_with(cell))
        .collect();
    let row = match matches.as_slice() {
        [one] => *one,
        [] => {
            return Err(ReportError::UnknownCell {
                cell: cell.to_string(),
                run_id: run.run_id.clone(),
                path: run.csv.clone(),
            });
        }
        many => {
            let mut ids: Vec<String> = many.iter().map(|r| id_of(r)).collect();
            ids.dedup();
            if ids.len() > 1 {
                return Err(ReportError::AmbiguousCell {
                    cell: cell.to_string(),
                    run_id: run.run_id.clone(),
                    matches: ids,
                });
            }
            // One cell recorded twice cannot happen (the journal refuses
            // it); show the last row.
            many[many.len() - 1]
        }
    };
    let id = id_of(row);
    let manifest = read_manifest(&run.run_dir);
    let commands = CommandLog::read(&run.run_dir.join("commands.jsonl"))?;
    let group = row
        .get("group_id")
        .filter(|g| !g.is_empty())
        .cloned()
        .or_else(|| manifest.as_ref().and_then(|m| group_in_manifest(m, &id)))
        .or_else(|| {
            commands
                .iter()
                .find(|c| c.cell.as_deref() == Some(id.as_str()))
                .map(|c| c.group.clone())
        });

    let label = table::tables(rows, varying)
        .into_iter()
        .flat_map(|t| t.rows)
        .find(|r| r.cell_id == id)
        .map(|r| {
            r.axes
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    let mut out = format!("cell {id}");
    if !label.is_empty() {
        out.push_str(&format!("  {label}"));
    }
    out.push_str(&format!("\nrun {}\n", run.run_id));
    if let Some(g) = &group {
        out.push_str(&format!("group {g}\n"));
    }

    out.push_str(&format!("\nrow ({}):\n", run.csv));
    let width = row.keys().map(|k| k.len()).max().unwrap_or(0);
    for (k, v) in row {
        let v = if v.is_empty() { "-" } else { v.as_str() };
        let mut lines = v.lines();
        out.push_str(&format!("  {k:<width$}  {}\n", lines.next().unwrap_or("")));
        for l in lines {
            out.push_str(&format!("  {:<width$}  {l}\n", ""));
        }
    }

    let mine: Vec<&Executed> = commands
        .iter()
        .filter(|c| {
            group.as_deref() == Some(c.group.as_str())
                && (c.role == Role::Launch || c.cell.as_deref() == Some(id.as_str()))
        })
        .collect();
    out.push_str(&format!(
        "\ncommands ({}):\n",
        run.run_dir.join("commands.jsonl")
    ));
    if mine.is_empty() {
        out.push_str("  none recorded for this cell (nothing was started for it)\n");
    } else if let Some(env) = manifest
        .as_ref()
        .and_then(|m| m.get("env"))
        .and_then(Value::as_object)
        .filter(|e| !e.is_empty())
    {
        // What every process inherited (commands.sh exports it too).
        out.push_str("  # the run's environment\n");
        for (k, v) in env {
            let v = v.as_str().unwrap_or_default();
            out.push_str(&format!("  export {}\n", assignment(k, v)));
        }
    }
    for c in mine {
        let role = match c.role {
            Role::Launch => "launch",
            Role::Client => "client",
        };
        out.push_str(&format!("  # {role}, started {}\n", c.started_at));
        for line in command_line(c).lines() {
            out.push_str(&format!("  {line}\n"));
        }
    }

    out.push_str("\nlogs:\n");
    let mut paths: Vec<(&str, Utf8PathBuf)> = Vec::new();
    let mut none_log = false;
    if let Some(g) = &group {
        let gdir = run.run_dir.join(g);
        paths.push(("server log", gdir.join("server.log")));
        // The CSV's `log` names the log the cell has, empty when it has none
        // (a pruned cell); a CSV older than that column: where a serving
        // cell's log is.
        match row.get("log") {
            Some(l) if l.is_empty() => none_log = true,
            Some(l) => paths.push(("cell log", run.run_dir.join(l))),
            None => paths.push(("cell log", gdir.join(format!("{id}.log")))),
        }
    }
    if let Some(f) = manifest.as_ref().and_then(|m| result_file(m, &id)) {
        paths.push(("result file", f));
    }
    if paths.is_empty() {
        out.push_str("  unknown: the run's manifest does not name this cell's group\n");
    }
    for (what, p) in paths {
        let missing = if p.exists() { "" } else { "  (missing)" };
        out.push_str(&format!("  {what:<11}  {p}{missing}\n"));
    }
    if none_log {
        out.push_str(&format!(
            "  {:<11}  none: nothing ran for this cell\n",
            "cell log"
        ));
    }
    Ok(out)
}

/// The varying axes of the run's plan (its manifest), the table's axis
/// columns; `None` when the manifest or its plan cannot be read.
fn planned_varying(run_dir: &Utf8Path) -> Option<Vec<String>> {
    let plan = read_manifest(run_dir)?.get("plan")?.clone();
    let plan: crate::plan::Plan = serde_json::from_value(plan).ok()?;
    Some(plan.varying_axes())
}

fn read_manifest(run_dir: &Utf8Path) -> Option<Value> {
    let text = std::fs::read_to_string(run_dir.join("manifest.json")).ok()?;
    serde_json::from_str(&text).ok()
}

fn plan_groups(m: &Value) -> impl Iterator<Item = &Value> {
    m.pointer("/plan/groups")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

fn cells_of(g: &Value) -> impl Iterator<Item = &Value> {
    g.get("cells")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

fn group_in_manifest(m: &Value, cell: &str) -> Option<String> {
    plan_groups(m)
        .find(|g| cells_of(g).any(|c| c.get("id").and_then(Value::as_str) == Some(cell)))
        .and_then(|g| g.get("id")?.as_str().map(str::to_string))
}

/// The cell's own result file, else its group's (one_batch writes one
/// file for all of a group's cells).
fn result_file(m: &Value, cell: &str) -> Option<Utf8PathBuf> {
    let g = plan_groups(m)
        .find(|g| cells_of(g).any(|c| c.get("id").and_then(Value::as_str) == Some(cell)))?;
    let c = cells_of(g).find(|c| c.get("id").and_then(Value::as_str) == Some(cell))?;
    c.pointer("/results/file")
        .or_else(|| g.pointer("/results/file"))
        .and_then(Value::as_str)
        .map(Utf8PathBuf::from)
}
