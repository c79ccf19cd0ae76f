//! What the pages and the API read: the database opened per request,
//! filters, a run's table columns, a cell's reproduce commands, the
//! compare report and the trend groups. Pages ([`super::pages`]) and the
//! API ([`super::api`]) render these; neither reads the database itself.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use camino::Utf8PathBuf;
use serde::{Deserialize, Serialize};

use super::{Failure, ServeOptions};
use crate::record::commands::command_line;
use crate::record::db::model::key_text;
use crate::record::db::store::Db;
use crate::record::db::{CellRecord, DbError, RunRecord, RunSummary, Series};
use crate::record::{CommandLog, Role, RunLayout};
use crate::report::compare::{self, CompareOptions, CompareReport, DbHistory};
use crate::report::regressions::{self, Regression};
use crate::report::stats::ChangePointOptions;

/// `?model=&engine=&since=` of the runs list: a model or engine that
/// contains the text (case-insensitive), runs started since (`7d`, a
/// date, RFC 3339: as `matrix regressions --since`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RunFilter {
    pub model: Option<String>,
    pub engine: Option<String>,
    pub since: Option<String>,
}

/// `?model=&mode=&metric=&since=` of the trends page.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TrendFilter {
    pub model: Option<String>,
    pub mode: Option<String>,
    pub metric: Option<String>,
    pub since: Option<String>,
}

fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn db_failure(e: DbError) -> Failure {
    match e {
        DbError::UnknownRun { selector, hint } => {
            Failure::NotFound(format!("no run {selector:?} in the database: {hint}"))
        }
        other => Failure::Internal(other.to_string()),
    }
}

/// The database, or `None` when it does not exist yet (an empty dashboard).
pub fn open(st: &ServeOptions) -> Result<Option<Db>, Failure> {
    if !st.db.is_file() {
        return Ok(None);
    }
    Db::open_existing(&st.db).map(Some).map_err(db_failure)
}

fn since_time(since: Option<&str>) -> Result<Option<jiff::Timestamp>, Failure> {
    since
        .map(|s| regressions::parse_since(s, jiff::Timestamp::now()))
        .transpose()
        .map_err(|e| Failure::BadRequest(e.to_string()))
}

fn contains(hay: &Option<String>, needle: Option<&str>) -> bool {
    match needle {
        None => true,
        Some(n) => hay
            .as_deref()
            .is_some_and(|h| h.to_lowercase().contains(&n.to_lowercase())),
    }
}

/// The runs that pass the filter, newest first.
pub fn runs(st: &ServeOptions, f: &RunFilter) -> Result<Vec<RunSummary>, Failure> {
    let since = since_time(given(&f.since))?;
    let Some(db) = open(st)? else {
        return Ok(Vec::new());
    };
    let mut runs = db.list_runs().map_err(db_failure)?;
    runs.retain(|r| {
        contains(&r.model, given(&f.model))
            && contains(&r.engine, given(&f.engine))
            && since.is_none_or(|s| {
                r.started_at
                    .as_deref()
                    .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                    .is_some_and(|t| t >= s)
            })
    });
    runs.reverse();
    Ok(runs)
}

/// The state of the database files (size and modification time of the
/// file and its WAL): any write changes it.
type Fingerprint = Vec<Option<(u64, std::time::SystemTime)>>;

fn fingerprint(db: &camino::Utf8Path) -> Fingerprint {
    [db.to_string(), format!("{db}-wal")]
        .iter()
        .map(|p| {
            std::fs::metadata(p)
                .ok()
                .and_then(|m| Some((m.len(), m.modified().ok()?)))
        })
        .collect()
}

/// Runs loaded since the database last changed, newest last: a run page
/// asked for again (its own poll, a reload, the plots fragment after the
/// page) does not read a 10,000-cell run again. Any write to the database
/// files (a cell landing, an ingest) empties it.
struct RunCache {
    db: Utf8PathBuf,
    seen: Fingerprint,
    runs: Vec<Arc<RunRecord>>,
}

const CACHED_RUNS: usize = 8;

static CACHE: Mutex<Option<RunCache>> = Mutex::new(None);

fn cached(db: &camino::Utf8Path, now: &Fingerprint, id: &str) -> Option<Arc<RunRecord>> {
    let guard = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    let c = guard.as_ref()?;
    if c.db != db || &c.seen != now {
        return None;
    }
    c.runs.iter().find(|r| r.run_id == id).cloned()
}

fn remember(db: &camino::Utf8Path, seen: Fingerprint, run: Arc<RunRecord>) {
    let mut guard = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    let c = guard.get_or_insert_with(|| RunCache {
        db: db.to_owned(),
        seen: seen.clone(),
        runs: Vec::new(),
    });
    if c.db != db || c.seen != seen {
        c.db = db.to_owned();
        c.seen = seen;
        c.runs.clear();
    }
    c.runs.retain(|r| r.run_id != run.run_id);
    c.runs.push(run);
    if c.runs.len() > CACHED_RUNS {
        c.runs.remove(0);
    }
}

/// A run by id or selector (`latest`, `latest~N`, a unique start); 404 when
/// there is none.
pub fn load_run(st: &ServeOptions, selector: &str) -> Result<Arc<RunRecord>, Failure> {
    let seen = fingerprint(&st.db);
    let (db, id) = open_run(st, selector)?;
    whole_run(st, &db, seen, &id)
}

/// The database and the id a selector names; 404 when either is missing.
fn open_run(st: &ServeOptions, selector: &str) -> Result<(Db, String), Failure> {
    let db = open(st)?.ok_or_else(|| {
        Failure::NotFound(format!(
            "no run {selector:?}: there is no database at {} yet",
            st.db
        ))
    })?;
    let id = db.resolve(selector).map_err(db_failure)?;
    Ok((db, id))
}

/// Run `id` with all its cells, from the cache while the database files
/// are as `seen` (read before `db` was opened), else read and remembered.
fn whole_run(
    st: &ServeOptions,
    db: &Db,
    seen: Fingerprint,
    id: &str,
) -> Result<Arc<RunRecord>, Failure> {
    if let Some(run) = cached(&st.db, &seen, id) {
        return Ok(run);
    }
    let run = Arc::new(db.load_run(id).map_err(db_failure)?);
    remember(&st.db, seen, run.clone());
    Ok(run)
}

/// One page of a run's results table: the run with that page's cells.
pub struct RunPage {
    pub run: Arc<RunRecord>,
    /// Cells of the whole run, and of those `ok`.
    pub total: usize,
    pub ok: usize,
    /// 1-based, of `pages`.
    pub page: usize,
    pub pages: usize,
    /// Position of the page's first cell in the run (0-based).
    pub offset: usize,
}

/// Page `page` (1-based; the first when `None`) of a run's cells,
/// `st.page_cells` a page. A run of one page is the whole (cached) run; a
/// page of a larger one reads only its cells. 404 past the last page.
pub fn run_page(
    st: &ServeOptions,
    selector: &str,
    page: Option<usize>,
) -> Result<RunPage, Failure> {
    let seen = fingerprint(&st.db);
    let (db, id) = open_run(st, selector)?;
    let (total, ok) = db.cell_counts(&id).map_err(db_failure)?;
    let per = st.page_cells.max(1);
    let pages = total.div_ceil(per).max(1);
    let page = page.unwrap_or(1);
    if page == 0 || page > pages {
        return Err(Failure::NotFound(format!(
            "run {id} has {pages} page(s) of {per} cells; there is no page {page}"
        )));
    }
    let offset = (page - 1) * per;
    let run = if pages == 1 {
        whole_run(st, &db, seen, &id)?
    } else {
        Arc::new(
            db.load_run_part(&id, offset, Some(per))
                .map_err(db_failure)?,
        )
    };
    Ok(RunPage {
        run,
        total,
        ok,
        page,
        pages,
        offset,
    })
}

/// The table's columns: every CSV column of the run's cells, in the order
/// first seen.
pub fn columns(cells: &[CellRecord]) -> Vec<String> {
    let mut cols: indexmap::IndexSet<&str> = indexmap::IndexSet::new();
    for c in cells {
        for k in c.row.keys() {
            if !cols.contains(k.as_str()) {
                cols.insert(k.as_str());
            }
        }
    }
    cols.into_iter().map(str::to_string).collect()
}

/// The run's folder under the results folder.
pub fn run_dir(st: &ServeOptions, run_id: &str) -> Utf8PathBuf {
    RunLayout::new(&st.results, run_id).run_dir()
}

/// A path relative to the results folder, for a `/files/` link; `None`
/// when it is not inside it or does not exist.
pub fn results_rel(st: &ServeOptions, path: &camino::Utf8Path) -> Option<String> {
    if !path.exists() {
        return None;
    }
    path.strip_prefix(&st.results)
        .ok()
        .map(|p| p.as_str().to_string())
}

/// The logs and files of a run worth a link: its top-level files and each
/// group's server log (at most `limit`).
pub fn run_files(st: &ServeOptions, run_id: &str, limit: usize) -> Vec<String> {
    let dir = run_dir(st, run_id);
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return out;
    };
    let mut names: Vec<(bool, String)> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            Some((e.file_type().ok()?.is_dir(), name))
        })
        .collect();
    names.sort();
    for (is_dir, name) in names {
        if out.len() >= limit {
            break;
        }
        let p = if is_dir {
            dir.join(&name).join("server.log")
        } else {
            dir.join(&name)
        };
        if let Some(rel) = results_rel(st, &p) {
            out.push(rel);
        }
    }
    out
}

/// A cell's log (the CSV's `log` column, relative to the run folder), as a
/// path relative to the results folder.
pub fn cell_log(st: &ServeOptions, run_id: &str, cell: &CellRecord) -> Option<String> {
    let log = cell.row.get("log").filter(|l| !l.is_empty())?;
    let p = run_dir(st, run_id).join(log);
    // The link is checked again when followed; here only its shape.
    p.strip_prefix(&st.results)
        .ok()
        .map(|p| p.as_str().to_string())
}

/// How to reproduce one cell: the run's `matrix run` command (its
/// manifest's argv, in the folder it ran from) and the cell's lines of
/// `commands.sh` (its group's launch, its own client).
#[derive(Debug, Clone, Serialize)]
pub struct Reproduce {
    pub run_id: String,
    pub cell_id: String,
    /// `cd DIR && matrix run ...`, or `None` without a manifest argv.
    pub matrix_run: Option<String>,
    /// One shell line each (env / taskset prefixes included).
    pub commands: Vec<String>,
}

/// The `matrix run` line of a run's manifest.
pub fn matrix_run_line(manifest: Option<&serde_json::Value>) -> Option<String> {
    let m = manifest?;
    let argv: Vec<String> = m
        .get("argv")?
        .as_array()?
        .iter()
        .filter_map(|a| a.as_str().map(str::to_string))
        .collect();
    if argv.is_empty() {
        return None;
    }
    let line = crate::plan::output::argv_line(&argv);
    Some(match m.get("cwd").and_then(|c| c.as_str()) {
        Some(cwd) if !cwd.is_empty() => {
            format!("cd {} && {line}", crate::plan::output::shell_quote(cwd))
        }
        _ => line,
    })
}

/// The reproduce box of the cell with id `cell` (or key text `key`) of a run.
pub fn reproduce(
    st: &ServeOptions,
    run: &RunRecord,
    cell: Option<&str>,
    key: Option<&str>,
) -> Result<Reproduce, Failure> {
    let found = run.cells.iter().find(|c| {
        cell.is_some_and(|id| c.cell_id == id) || key.is_some_and(|k| key_text(&c.key) == k)
    });
    let c = found.ok_or_else(|| {
        Failure::NotFound(format!(
            "run {} has no cell {}",
            run.run_id,
            cell.or(key).unwrap_or("(none given)")
        ))
    })?;
    let log = run_dir(st, &run.run_id).join("commands.jsonl");
    let recorded = CommandLog::read(&log).map_err(|e| Failure::Internal(e.to_string()))?;
    let group = c.group_id.clone().or_else(|| {
        recorded
            .iter()
            .find(|r| r.cell.as_deref() == Some(c.cell_id.as_str()))
            .map(|r| r.group.clone())
    });
    let commands = recorded
        .iter()
        .filter(|r| {
            group.as_deref() == Some(r.group.as_str())
                && (r.role == Role::Launch || r.cell.as_deref() == Some(c.cell_id.as_str()))
        })
        .map(command_line)
        .collect();
    Ok(Reproduce {
        run_id: run.run_id.clone(),
        cell_id: c.cell_id.clone(),
        matrix_run: matrix_run_line(run.manifest.as_ref()),
        commands,
    })
}

/// `matrix compare BASE NEW` on two runs of the database, with the
/// defaults of `matrix compare` (3 % minimum effect, FDR 0.05, seed 0).
pub fn compare(
    st: &ServeOptions,
    base: &str,
    new: &str,
) -> Result<(CompareReport, RunRecord, RunRecord), Failure> {
    let db = open(st)?.ok_or_else(|| Failure::NotFound(format!("no database at {} yet", st.db)))?;
    let b = db.resolve(base).map_err(db_failure)?;
    let n = db.resolve(new).map_err(db_failure)?;
    let b = db.load_run(&b).map_err(db_failure)?;
    let n = db.load_run(&n).map_err(db_failure)?;
    let opts = CompareOptions {
        min_effect_pct: 3.0,
        alpha: 0.05,
        seed: 0,
        metrics: None,
    };
    let history = DbHistory {
        db: &db,
        before: n.started_at.clone(),
        exclude: [b.run_id.clone(), n.run_id.clone()],
    };
    let report = compare::build(base, &b, new, &n, &opts, &Vec::new(), &history, |inputs| {
        compare::judge(inputs, &opts)
    })
    .map_err(|e| Failure::BadRequest(e.to_string()))?;
    Ok((report, b, n))
}

/// The series of one model and mode, with their change points.
#[derive(Debug, Clone, Serialize)]
pub struct TrendGroup {
    pub model: String,
    pub mode: String,
    pub series: Vec<Series>,
    /// Every step of these series (`matrix regressions --all`).
    pub changes: Vec<Regression>,
}

/// Every series of the database that passes the filter, grouped by
/// (model, mode), each with its change points.
pub fn trends(st: &ServeOptions, f: &TrendFilter) -> Result<Vec<TrendGroup>, Failure> {
    let since = since_time(given(&f.since))?;
    let Some(db) = open(st)? else {
        return Ok(Vec::new());
    };
    let series = db.all_series(None).map_err(db_failure)?;
    // `-` (how a series without that column is listed) matches its absence.
    let want = |v: Option<&String>, f: &Option<String>| match given(f) {
        None => true,
        Some("-") => v.is_none(),
        Some(w) => v.is_some_and(|v| v == w),
    };
    let mut groups: BTreeMap<(String, String), Vec<Series>> = BTreeMap::new();
    for s in series {
        if !want(s.key.get("model"), &f.model)
            || !want(s.key.get("mode"), &f.mode)
            || given(&f.metric).is_some_and(|m| m != s.metric)
        {
            continue;
        }
        let model = s.key.get("model").cloned().unwrap_or_else(|| "-".into());
        let mode = s.key.get("mode").cloned().unwrap_or_else(|| "-".into());
        groups.entry((model, mode)).or_default().push(s);
    }
    let opts = ChangePointOptions::default();
    Ok(groups
        .into_iter()
        .map(|((model, mode), series)| {
            let changes = regressions::find(&series, &opts, since);
            TrendGroup {
                model,
                mode,
                series,
                changes,
            }
        })
        .collect())
}
