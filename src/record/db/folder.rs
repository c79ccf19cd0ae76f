//! What `matrix ingest` and `matrix db rebuild` read: a run folder
//! (`<results>/raw_output/<run_id>/`, its manifest and journal), a results
//! folder (every run folder, and the CSVs without one), a `matrix run` /
//! `matrix parse` CSV, a foreign result file (docs/INGEST.md), or a folder
//! of any of these.

use camino::{Utf8Path, Utf8PathBuf};
use indexmap::IndexMap;

use super::csv_run::{cell_of_row, is_matrix_header};
use super::error::DbError;
use super::model::RunRecord;
use crate::record::journal::Journal;
use crate::record::manifest::Manifest;

/// `RunRecord::source` of a `matrix run` (live, or read from its folder).
pub const SOURCE_RUN: &str = "run";

const ACCEPTED: &str = "matrix ingests run folders (results/raw_output/<run_id>/), results folders, \
     `matrix run` / `matrix parse` CSVs, SGLang bench_serving / bench_one_batch result JSONL and \
     sglang-ci CSVs (docs/INGEST.md)";

/// Every run in `path` (see the module docs), in a stable order.
pub fn read_path(path: &Utf8Path) -> Result<Vec<RunRecord>, DbError> {
    if path.is_dir() {
        if is_run_folder(path) {
            return Ok(vec![read_run_folder(path)?]);
        }
        if path.join("raw_output").is_dir() || path.join("csv").is_dir() {
            return read_results(path);
        }
        return read_dir(path, true);
    }
    if !path.exists() {
        return Err(DbError::BadSource {
            path: path.to_owned(),
            line: None,
            reason: "no such file or folder".into(),
            hint: None,
        });
    }
    match read_file(path)? {
        Some(runs) => Ok(runs),
        None => Err(DbError::BadSource {
            path: path.to_owned(),
            line: None,
            reason: "not a format matrix can ingest".into(),
            hint: Some(ACCEPTED.into()),
        }),
    }
}

fn is_run_folder(dir: &Utf8Path) -> bool {
    dir.join("manifest.json").is_file() && dir.join("journal.jsonl").is_file()
}

/// A file: a matrix CSV, else a foreign format; `None` when neither.
fn read_file(path: &Utf8Path) -> Result<Option<Vec<RunRecord>>, DbError> {
    let is_csv = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    if is_csv && csv_is_matrix(path)? {
        return super::csv_run::read_csv(path).map(Some);
    }
    super::foreign::read(path)
}

fn csv_is_matrix(path: &Utf8Path) -> Result<bool, DbError> {
    let text =
        std::fs::read_to_string(path).map_err(|e| DbError::io(format!("cannot read {path}"), e))?;
    let header: Vec<String> = text
        .lines()
        .next()
        .unwrap_or("")
        .split(',')
        .map(|h| h.trim().trim_matches('"').to_string())
        .collect();
    Ok(is_matrix_header(&header))
}

fn entries(dir: &Utf8Path) -> Result<Vec<Utf8PathBuf>, DbError> {
    let rd = dir
        .read_dir_utf8()
        .map_err(|e| DbError::io(format!("cannot list {dir}"), e))?;
    let mut out = Vec::new();
    for e in rd {
        let e = e.map_err(|e| DbError::io(format!("cannot list {dir}"), e))?;
        out.push(e.path().to_owned());
    }
    out.sort();
    Ok(out)
}

/// A results folder: its run folders, then the CSVs whose runs have none.
fn read_results(dir: &Utf8Path) -> Result<Vec<RunRecord>, DbError> {
    let mut runs = Vec::new();
    let raw = dir.join("raw_output");
    if raw.is_dir() {
        for p in entries(&raw)? {
            if p.is_dir() && is_run_folder(&p) {
                runs.push(read_run_folder(&p)?);
            }
        }
    }
    let csv = dir.join("csv");
    if csv.is_dir() {
        for p in entries(&csv)? {
            let is_csv = p.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv"));
            if !is_csv || !p.is_file() {
                continue;
            }
            for r in read_file(&p)?.unwrap_or_default() {
                if !runs.iter().any(|x: &RunRecord| x.run_id == r.run_id) {
                    runs.push(r);
                }
            }
        }
    }
    Ok(runs)
}

/// Any folder: run folders, results folders, and the CSV / JSON / JSONL
/// files in it and below. Other files are passed over.
fn read_dir(dir: &Utf8Path, top: bool) -> Result<Vec<RunRecord>, DbError> {
    let mut runs = Vec::new();
    for p in entries(dir)? {
        if p.is_dir() {
            if is_run_folder(&p) {
                runs.push(read_run_folder(&p)?);
            } else if p.join("raw_output").is_dir() {
                runs.extend(read_results(&p)?);
            } else {
                runs.extend(read_dir(&p, false)?);
            }
            continue;
        }
        let ext = p.extension().map(str::to_ascii_lowercase);
        if !matches!(ext.as_deref(), Some("csv" | "json" | "jsonl")) {
            continue;
        }
        runs.extend(read_file(&p)?.unwrap_or_default());
    }
    if top && runs.is_empty() {
        return Err(DbError::BadSource {
            path: dir.to_owned(),
            line: None,
            reason: "the folder holds nothing matrix can ingest".into(),
            hint: Some(ACCEPTED.into()),
        });
    }
    Ok(runs)
}

/// The run-level fields of a run from its manifest (no cells).
pub fn run_of_manifest(m: &Manifest, path: Option<&Utf8Path>) -> RunRecord {
    let join = |v: Vec<String>| (!v.is_empty()).then(|| v.join(","));
    let mut gpus: IndexMap<&str, usize> = IndexMap::new();
    for g in &m.gpus {
        *gpus.entry(g.name.as_str()).or_default() += 1;
    }
    RunRecord {
        run_id: m.run_id.clone(),
        source: SOURCE_RUN.into(),
        path: path.map(|p| p.to_string()),
        started_at: Some(m.created_at.clone()),
        finished_at: None,
        model: None,
        engine: join(m.engines.iter().map(|e| e.name.clone()).collect()),
        engine_version: join(m.engines.iter().filter_map(|e| e.version.clone()).collect()),
        image: None,
        git_sha: m
            .git
            .as_ref()
            .map(|g| format!("{}{}", g.commit, if g.dirty { "-dirty" } else { "" })),
        host: Some(m.host.clone()).filter(|h| !h.is_empty()),
        gpu: join(gpus.iter().map(|(n, c)| format!("{n} x{c}")).collect()),
        manifest: serde_json::to_value(m).ok(),
        extras: IndexMap::new(),
        cells: Vec::new(),
    }
}

/// Add a cell's model to the run's comma-joined models (first-seen order).
pub fn note_model(run: &mut RunRecord, model: Option<&str>) {
    let Some(m) = model.filter(|m| !m.is_empty()) else {
        return;
    };
    match &mut run.model {
        Some(f) if f.split(',').any(|x| x == m) => {}
        Some(f) => {
            f.push(',');
            f.push_str(m);
        }
        None => run.model = Some(m.to_string()),
    }
}

/// A run folder: its manifest and every journal entry, with the samples
/// of every repeat (journals older than samples: the row's values).
pub fn read_run_folder(dir: &Utf8Path) -> Result<RunRecord, DbError> {
    let mpath = dir.join("manifest.json");
    let text = std::fs::read_to_string(&mpath)
        .map_err(|e| DbError::io(format!("cannot read {mpath}"), e))?;
    let manifest: Manifest = serde_json::from_str(&text).map_err(|e| DbError::BadSource {
        path: mpath.clone(),
        line: Some(e.line() as u64),
        reason: format!("not a matrix manifest: {e}"),
        hint: None,
    })?;
    let abs = std::fs::canonicalize(dir)
        .ok()
        .and_then(|p| Utf8PathBuf::try_from(p).ok())
        .unwrap_or_else(|| dir.to_owned());
    let mut run = run_of_manifest(&manifest, Some(&abs));
    let jpath = dir.join("journal.jsonl");
    let journal = Journal::read(&jpath).map_err(|e| DbError::BadSource {
        path: jpath.clone(),
        line: None,
        reason: e.to_string(),
        hint: None,
    })?;
    for (i, entry) in journal.entries.into_iter().enumerate() {
        let mut cell = cell_of_row(entry.row.values().clone(), &jpath, i as u64 + 1)?;
        if !entry.samples.is_empty() && cell.status == "ok" {
            cell.samples = entry.samples;
        }
        note_model(&mut run, cell.row.get("model").map(String::as_str));
        run.cells.push(cell);
    }
    Ok(run)
}
