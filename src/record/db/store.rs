//! The results database: one SQLite file (WAL, busy timeout 10 s) holding
//! runs, cells and every repeat's metric values (docs/DATABASE.md). It is
//! never the source of truth: `matrix db rebuild` recreates it from the
//! CSVs and run folders.

use std::collections::HashMap;
use std::time::Duration;

use camino::{Utf8Path, Utf8PathBuf};
use indexmap::IndexMap;
use rusqlite::{Connection, OptionalExtension, params};

use super::error::DbError;
use super::model::{
    CellKey, CellRecord, RunRecord, RunSummary, Series, SeriesPoint, better, key_text,
};
use super::schema;

/// What [`Db::ingest`] did with a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Ingested {
    /// A run the database did not have.
    Added,
    /// The same content was already there: nothing changed.
    Unchanged,
    /// The run was there with other content (a resumed or live run): its
    /// rows were replaced.
    Replaced,
}

impl Ingested {
    pub fn word(self) -> &'static str {
        match self {
            Ingested::Added => "ingested",
            Ingested::Unchanged => "unchanged",
            Ingested::Replaced => "replaced",
        }
    }
}

/// An open results database.
pub struct Db {
    path: Utf8PathBuf,
    conn: Connection,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("path", &self.path).finish()
    }
}

impl Db {
    /// Open the database at `path`, creating the file, its parent folders
    /// and the schema when absent, migrating an older schema forward.
    pub fn open(path: &Utf8Path) -> Result<Db, DbError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| DbError::io(format!("cannot create {parent}"), e))?;
        }
        Db::connect(path)
    }

    /// Open a database that must exist ([`DbError::Missing`] otherwise).
    pub fn open_existing(path: &Utf8Path) -> Result<Db, DbError> {
        if !path.is_file() {
            return Err(DbError::Missing {
                path: path.to_owned(),
            });
        }
        Db::connect(path)
    }

    fn connect(path: &Utf8Path) -> Result<Db, DbError> {
        let corrupt = |e: rusqlite::Error| DbError::Corrupt {
            path: path.to_owned(),
            reason: e.to_string(),
        };
        let conn = Connection::open(path).map_err(corrupt)?;
        conn.busy_timeout(Duration::from_secs(10))
            .map_err(corrupt)?;
        let mut db = Db {
            path: path.to_owned(),
            conn,
        };
        // The first read of the file: a file that is not a database (or
        // is damaged) fails here.
        let version: i64 = db
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| db.classify(e, "cannot read the schema version"))?;
        if version > schema::VERSION {
            return Err(DbError::NewerSchema {
                path: path.to_owned(),
                found: version,
                supported: schema::VERSION,
            });
        }
        db.conn
            .query_row("PRAGMA journal_mode=WAL", [], |_| Ok(()))
            .map_err(|e| db.classify(e, "cannot switch to WAL"))?;
        db.conn
            .execute_batch("PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=OFF;")
            .map_err(|e| db.classify(e, "cannot set pragmas"))?;
        if version < schema::VERSION {
            db.migrate()?;
        }
        Ok(db)
    }

    fn migrate(&mut self) -> Result<(), DbError> {
        let path = self.path.clone();
        let tx = begin(&mut self.conn, &path, "cannot begin the migration")?;
        // Another process may have migrated while this one waited.
        let now: i64 = tx
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| sqlite(&path, "cannot read the schema version", e))?;
        if now < schema::VERSION {
            for (i, step) in schema::MIGRATIONS.iter().enumerate().skip(now as usize) {
                tx.execute_batch(step)
                    .map_err(|e| sqlite(&path, &format!("migration {}", i + 1), e))?;
            }
            tx.execute_batch(&format!("PRAGMA user_version = {}", schema::VERSION))
                .map_err(|e| sqlite(&path, "cannot set the schema version", e))?;
        }
        tx.commit()
            .map_err(|e| sqlite(&path, "cannot commit the migration", e))
    }

    fn classify(&self, e: rusqlite::Error, context: &str) -> DbError {
        use rusqlite::ErrorCode::{DatabaseCorrupt, NotADatabase};
        match e.sqlite_error_code() {
            Some(NotADatabase | DatabaseCorrupt) => DbError::Corrupt {
                path: self.path.clone(),
                reason: e.to_string(),
            },
            _ => sqlite(&self.path, context, e),
        }
    }

    fn err(&self, context: &str) -> impl Fn(rusqlite::Error) -> DbError + '_ {
        let context = context.to_string();
        move |e| self.classify(e, &context)
    }

    pub fn path(&self) -> &Utf8Path {
        &self.path
    }

    /// Store a run with its cells and samples. The same content again is
    /// [`Ingested::Unchanged`] (nothing written); other content under the
    /// same run id replaces the stored run in one transaction.
    pub fn ingest(&mut self, run: &RunRecord) -> Result<Ingested, DbError> {
        Ok(self.ingest_all(std::slice::from_ref(run))?.remove(0))
    }

    /// [`ingest`](Self::ingest) of several runs in one transaction: all or
    /// nothing.
    pub fn ingest_all(&mut self, runs: &[RunRecord]) -> Result<Vec<Ingested>, DbError> {
        let path = self.path.clone();
        let tx = begin(&mut self.conn, &path, "cannot begin a transaction")?;
        let mut out = Vec::with_capacity(runs.len());
        for run in runs {
            out.push(ingest_in(&tx, &path, run)?);
        }
        tx.commit()
            .map_err(|e| sqlite(&path, "cannot commit the ingest", e))?;
        Ok(out)
    }

    /// Store (or update) a run's own row, its cells left as they are: a
    /// live run at its start and end.
    pub fn upsert_run(&mut self, run: &RunRecord) -> Result<(), DbError> {
        let path = self.path.clone();
        let tx = begin(&mut self.conn, &path, "cannot begin a transaction")?;
        upsert_run_row(&tx, &path, run, "")?;
        tx.commit()
            .map_err(|e| sqlite(&path, "cannot commit the run", e))
    }

    /// A live run's finished cell: the run's row (its `cells` ignored) is
    /// created or updated, the cell and its samples replaced.
    pub fn upsert_cell(&mut self, run: &RunRecord, cell: &CellRecord) -> Result<(), DbError> {
        let path = self.path.clone();
        let tx = begin(&mut self.conn, &path, "cannot begin a transaction")?;
        upsert_run_row(&tx, &path, run, "")?;
        let e = |e| sqlite(&path, "cannot write a cell", e);
        tx.execute(
            "DELETE FROM metrics WHERE cell IN
                (SELECT id FROM cells WHERE run_id = ?1 AND cell_id = ?2)",
            params![run.run_id, cell.cell_id],
        )
        .map_err(e)?;
        tx.execute(
            "DELETE FROM cells WHERE run_id = ?1 AND cell_id = ?2",
            params![run.run_id, cell.cell_id],
        )
        .map_err(e)?;
        insert_cells(&tx, &path, &run.run_id, std::slice::from_ref(cell))?;
        tx.commit()
            .map_err(|e| sqlite(&path, "cannot commit a cell", e))
    }

    /// Every run, oldest first (by start time, then id).
    pub fn list_runs(&self) -> Result<Vec<RunSummary>, DbError> {
        let mut st = self
            .conn
            .prepare(
                "SELECT r.run_id, r.source, r.started_at, r.model, r.engine, r.engine_version,
                        r.image, r.git_sha, r.host,
                        (SELECT count(*) FROM cells c WHERE c.run_id = r.run_id AND c.status = 'ok'),
                        (SELECT count(*) FROM cells c WHERE c.run_id = r.run_id AND c.status <> 'ok')
                 FROM runs r ORDER BY COALESCE(r.started_us, 0), r.run_id",
            )
            .map_err(self.err("cannot list runs"))?;
        let rows = st
            .query_map([], |r| {
                Ok(RunSummary {
                    run_id: r.get(0)?,
                    source: r.get(1)?,
                    started_at: r.get(2)?,
                    model: r.get(3)?,
                    engine: r.get(4)?,
                    engine_version: r.get(5)?,
                    image: r.get(6)?,
                    git_sha: r.get(7)?,
                    host: r.get(8)?,
                    cells_ok: r.get::<_, i64>(9)? as usize,
                    cells_failed: r.get::<_, i64>(10)? as usize,
                })
            })
            .map_err(self.err("cannot list runs"))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(self.err("cannot list runs"))
    }

    // The binding lets the statement outlive the iterator.
    #[allow(clippy::let_and_return)]
    fn run_ids(&self) -> Result<Vec<String>, DbError> {
        let mut st = self
            .conn
            .prepare("SELECT run_id FROM runs ORDER BY COALESCE(started_us, 0), run_id")
            .map_err(self.err("cannot list runs"))?;
        let ids = st
            .query_map([], |r| r.get(0))
            .map_err(self.err("cannot list runs"))?
            .collect::<Result<Vec<String>, _>>()
            .map_err(self.err("cannot list runs"));
        ids
    }

    /// A run id from a selector: the id itself, a unique prefix of one,
    /// `latest` (the newest run) or `latest~N` (N runs before it).
    pub fn resolve(&self, selector: &str) -> Result<String, DbError> {
        let ids = self.run_ids()?;
        let unknown = |hint: String| DbError::UnknownRun {
            selector: selector.to_string(),
            hint,
        };
        if let Some(back) = selector.strip_prefix("latest") {
            let n = match back {
                "" => Some(0),
                b => b.strip_prefix('~').and_then(|n| n.parse::<usize>().ok()),
            };
            if let Some(n) = n {
                return match ids.len().checked_sub(n + 1) {
                    Some(i) => Ok(ids[i].clone()),
                    None => Err(unknown(format!(
                        "the database holds {} run(s); `latest~{}` is the oldest",
                        ids.len(),
                        ids.len().saturating_sub(1)
                    ))),
                };
            }
        }
        if ids.iter().any(|i| i == selector) {
            return Ok(selector.to_string());
        }
        let matching: Vec<&String> = ids.iter().filter(|i| i.starts_with(selector)).collect();
        match matching.as_slice() {
            [one] => Ok((*one).clone()),
            [] => {
                let near = ids
                    .iter()
                    .filter(|i| i.contains(selector) || selector.contains(i.as_str()))
                    .take(3)
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>();
                Err(unknown(if near.is_empty() {
                    format!(
                        "the database holds {} run(s); `matrix runs` lists them (or use latest, latest~N)",
                        ids.len()
                    )
                } else {
                    format!("did you mean {}?", near.join(", "))
                }))
            }
            many => Err(unknown(format!(
                "`{selector}` is the start of {} runs ({}...); give more of the id",
                many.len(),
                many.iter()
                    .take(3)
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    /// A stored run with its cells (in the order stored) and every repeat's
    /// samples (in repeat order).
    pub fn load_run(&self, run_id: &str) -> Result<RunRecord, DbError> {
        let ctx = "cannot read a run";
        let run = self
            .conn
            .query_row(
                "SELECT run_id, source, path, started_at, finished_at, model, engine,
                        engine_version, image, git_sha, host, gpu, manifest, extras
                 FROM runs WHERE run_id = ?1",
                [run_id],
                |r| {
                    let manifest: Option<String> = r.get(12)?;
                    let extras: String = r.get(13)?;
                    Ok(RunRecord {
                        run_id: r.get(0)?,
                        source: r.get(1)?,
                        path: r.get(2)?,
                        started_at: r.get(3)?,
                        finished_at: r.get(4)?,
                        model: r.get(5)?,
                        engine: r.get(6)?,
                        engine_version: r.get(7)?,
                        image: r.get(8)?,
                        git_sha: r.get(9)?,
                        host: r.get(10)?,
                        gpu: r.get(11)?,
                        manifest: manifest.and_then(|m| serde_json::from_str(&m).ok()),
                        extras: serde_json::from_str(&extras).unwrap_or_default(),
                        cells: Vec::new(),
                    })
                },
            )
            .optional()
            .map_err(self.err(ctx))?;
        let Some(mut run) = run else {
            return Err(DbError::UnknownRun {
                selector: run_id.to_string(),
                hint: "`matrix runs` lists the runs the database holds".into(),
            });
        };
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT cell_id, group_id, status, error, key, row FROM cells
                 WHERE run_id = ?1 ORDER BY rowid",
            )
            .map_err(self.err(ctx))?;
        let cells = st
            .query_map([run_id], |r| {
                let key: String = r.get(4)?;
                let row: String = r.get(5)?;
                Ok(CellRecord {
                    cell_id: r.get(0)?,
                    group_id: r.get(1)?,
                    status: r.get(2)?,
                    error: r.get(3)?,
                    key: serde_json::from_str(&key).unwrap_or_default(),
                    row: serde_json::from_str(&row).unwrap_or_default(),
                    samples: Vec::new(),
                })
            })
            .map_err(self.err(ctx))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.err(ctx))?;
        run.cells = cells;
        let index: HashMap<String, usize> = run
            .cells
            .iter()
            .enumerate()
            .map(|(i, c)| (c.cell_id.clone(), i))
            .collect();
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT c.cell_id, m.repeat, m.metric, m.value FROM cells c
                 JOIN metrics m ON m.cell = c.id
                 WHERE c.run_id = ?1 ORDER BY m.cell, m.repeat",
            )
            .map_err(self.err(ctx))?;
        let mut rows = st.query([run_id]).map_err(self.err(ctx))?;
        while let Some(r) = rows.next().map_err(self.err(ctx))? {
            let cell: String = r.get(0).map_err(self.err(ctx))?;
            let repeat: i64 = r.get(1).map_err(self.err(ctx))?;
            let metric: String = r.get(2).map_err(self.err(ctx))?;
            let value: f64 = r.get(3).map_err(self.err(ctx))?;
            let Some(&i) = index.get(&cell) else { continue };
            let samples = &mut run.cells[i].samples;
            let repeat = repeat.max(0) as usize;
            while samples.len() <= repeat {
                samples.push(IndexMap::new());
            }
            samples[repeat].insert(metric, value);
        }
        Ok(run)
    }

    /// The cell's value of `metric` (the median of its repeats) in the ok
    /// runs that started before `before_started_at` (RFC 3339; all when
    /// `None`), leaving out the runs in `exclude`: oldest first.
    pub fn history(
        &self,
        key: &CellKey,
        metric: &str,
        before_started_at: Option<&str>,
        exclude: &[&str],
    ) -> Result<Vec<f64>, DbError> {
        let before = before_started_at.map(micros_of).transpose()?;
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT r.run_id, m.value FROM cells c
                 JOIN runs r ON r.run_id = c.run_id
                 JOIN metrics m ON m.cell = c.id
                 WHERE c.key_text = ?1 AND m.metric = ?2 AND c.status = 'ok'
                   AND (?3 IS NULL OR r.started_us < ?3)
                 ORDER BY COALESCE(r.started_us, 0), r.run_id, m.repeat",
            )
            .map_err(self.err("cannot read a history"))?;
        let rows = st
            .query_map(params![key_text(key), metric, before], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, f64>(1)?))
            })
            .map_err(self.err("cannot read a history"))?;
        let mut out = Vec::new();
        let mut current: Option<(String, Vec<f64>)> = None;
        for row in rows {
            let (run, v) = row.map_err(self.err("cannot read a history"))?;
            match &mut current {
                Some((r, vs)) if *r == run => vs.push(v),
                _ => {
                    if let Some((r, vs)) = current.take()
                        && !exclude.contains(&r.as_str())
                    {
                        out.push(median(vs));
                    }
                    current = Some((run, vec![v]));
                }
            }
        }
        if let Some((r, vs)) = current
            && !exclude.contains(&r.as_str())
        {
            out.push(median(vs));
        }
        Ok(out)
    }

    /// Every (cell key, judged metric) series of the ok cells (of runs
    /// started at or after `since`, when given), points oldest first, each
    /// the median of its run's repeats. (`matrix regressions --since` is
    /// parsed by the report, which still needs the earlier points.)
    pub fn all_series(&self, since: Option<jiff::Timestamp>) -> Result<Vec<Series>, DbError> {
        let since = since.map(|t| t.as_microsecond());
        let ctx = "cannot read the series";
        let mut st = self
            .conn
            .prepare(
                "SELECT c.key_text, c.key, m.metric, r.run_id, r.started_at, m.value
                 FROM metrics m
                 JOIN cells c ON c.id = m.cell
                 JOIN runs r ON r.run_id = c.run_id
                 WHERE c.status = 'ok' AND (?1 IS NULL OR r.started_us >= ?1)
                 ORDER BY c.key_text, m.metric, COALESCE(r.started_us, 0), r.run_id, m.repeat",
            )
            .map_err(self.err(ctx))?;
        let mut rows = st.query(params![since]).map_err(self.err(ctx))?;
        let mut out: Vec<Series> = Vec::new();
        let mut last_key = String::new();
        let mut pending: Vec<f64> = Vec::new();
        let flush = |out: &mut Vec<Series>, pending: &mut Vec<f64>| {
            if let Some(p) = out.last_mut().and_then(|s| s.points.last_mut())
                && !pending.is_empty()
            {
                p.n = pending.len();
                p.value = median(std::mem::take(pending));
            }
        };
        while let Some(r) = rows.next().map_err(self.err(ctx))? {
            let metric: String = r.get(2).map_err(self.err(ctx))?;
            if better(&metric).is_none() {
                continue;
            }
            let kt: String = r.get(0).map_err(self.err(ctx))?;
            let run: String = r.get(3).map_err(self.err(ctx))?;
            let value: f64 = r.get(5).map_err(self.err(ctx))?;
            let same_series = kt == last_key && out.last().is_some_and(|s| s.metric == metric);
            if !same_series {
                flush(&mut out, &mut pending);
                let key: String = r.get(1).map_err(self.err(ctx))?;
                out.push(Series {
                    key: serde_json::from_str(&key).unwrap_or_default(),
                    metric,
                    points: Vec::new(),
                });
                last_key = kt;
            }
            let series = out.last_mut().expect("pushed above");
            if series.points.last().is_none_or(|p| p.run_id != run) {
                flush(&mut out, &mut pending);
                let started_at: Option<String> = r.get(4).map_err(self.err(ctx))?;
                out.last_mut()
                    .expect("pushed above")
                    .points
                    .push(SeriesPoint {
                        run_id: run,
                        started_at,
                        value,
                        n: 1,
                    });
            }
            pending.push(value);
        }
        flush(&mut out, &mut pending);
        Ok(out)
    }

    /// Remove every run (the schema stays).
    pub fn delete_all(&mut self) -> Result<(), DbError> {
        self.conn
            .execute_batch(
                "BEGIN IMMEDIATE; DELETE FROM metrics; DELETE FROM cells; DELETE FROM runs; COMMIT;",
            )
            .map_err(self.err("cannot delete the runs"))
    }

    /// Rows of each table (runs, cells, metrics): for tests and `matrix db`.
    pub fn counts(&self) -> Result<(usize, usize, usize), DbError> {
        let n = |t: &str| -> Result<usize, DbError> {
            self.conn
                .query_row(&format!("SELECT count(*) FROM {t}"), [], |r| {
                    r.get::<_, i64>(0)
                })
                .map(|n| n as usize)
                .map_err(self.err("cannot count rows"))
        };
        Ok((n("runs")?, n("cells")?, n("metrics")?))
    }
}

/// An IMMEDIATE transaction (the write lock now, waiting out the busy
/// timeout, rather than failing at the first write).
fn begin<'c>(
    conn: &'c mut rusqlite::Connection,
    path: &Utf8Path,
    context: &str,
) -> Result<rusqlite::Transaction<'c>, DbError> {
    conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(|e| sqlite(path, context, e))
}

fn sqlite(path: &Utf8Path, context: &str, source: rusqlite::Error) -> DbError {
    DbError::Sqlite {
        path: path.to_owned(),
        context: context.to_string(),
        source,
    }
}

/// The median (the mean of the middle two for an even count).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn micros_of(t: &str) -> Result<i64, DbError> {
    t.parse::<jiff::Timestamp>()
        .map(|t| t.as_microsecond())
        .map_err(|e| DbError::Invalid {
            what: format!("`{t}` is not a time: {e}"),
            hint: "give an RFC 3339 time (2026-01-31T12:00:00Z)".into(),
        })
}

/// The content hash of a run: everything but the path it was read from.
fn content_hash(run: &RunRecord) -> String {
    let mut h = blake3::Hasher::new();
    let parts = (
        &run.run_id,
        &run.source,
        &run.started_at,
        &run.finished_at,
        &run.model,
        &run.engine,
        &run.engine_version,
        &run.image,
        &run.git_sha,
        &run.host,
        &run.gpu,
        &run.manifest,
        &run.extras,
        &run.cells,
    );
    serde_json::to_writer(&mut h, &parts).expect("a run serializes");
    h.finalize().to_hex().to_string()
}

fn ingest_in(
    tx: &rusqlite::Transaction<'_>,
    path: &Utf8Path,
    run: &RunRecord,
) -> Result<Ingested, DbError> {
    let hash = content_hash(run);
    let e = |e| sqlite(path, &format!("cannot ingest run {}", run.run_id), e);
    let stored: Option<String> = tx
        .query_row(
            "SELECT content_hash FROM runs WHERE run_id = ?1",
            [&run.run_id],
            |r| r.get(0),
        )
        .optional()
        .map_err(e)?;
    let what = match stored {
        Some(h) if h == hash => return Ok(Ingested::Unchanged),
        Some(_) => {
            tx.execute(
                "DELETE FROM metrics WHERE cell IN (SELECT id FROM cells WHERE run_id = ?1)",
                [&run.run_id],
            )
            .map_err(e)?;
            tx.execute("DELETE FROM cells WHERE run_id = ?1", [&run.run_id])
                .map_err(e)?;
            Ingested::Replaced
        }
        None => Ingested::Added,
    };
    upsert_run_row(tx, path, run, &hash)?;
    insert_cells(tx, path, &run.run_id, &run.cells)?;
    Ok(what)
}

fn upsert_run_row(
    tx: &rusqlite::Transaction<'_>,
    path: &Utf8Path,
    run: &RunRecord,
    hash: &str,
) -> Result<(), DbError> {
    let started_us = run
        .started_at
        .as_deref()
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .map(|t| t.as_microsecond());
    let manifest = run.manifest.as_ref().map(|m| m.to_string());
    let extras = serde_json::to_string(&run.extras).expect("extras serialize");
    let mut st = tx
        .prepare_cached(
            "INSERT INTO runs (run_id, source, path, started_at, finished_at, model, engine,
                engine_version, image, git_sha, host, gpu, manifest, extras, content_hash, started_us)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)
             ON CONFLICT(run_id) DO UPDATE SET source = excluded.source, path = excluded.path,
                started_at = excluded.started_at, finished_at = excluded.finished_at,
                model = excluded.model, engine = excluded.engine,
                engine_version = excluded.engine_version, image = excluded.image,
                git_sha = excluded.git_sha, host = excluded.host, gpu = excluded.gpu,
                manifest = excluded.manifest, extras = excluded.extras,
                content_hash = excluded.content_hash, started_us = excluded.started_us",
        )
        .map_err(|e| sqlite(path, "cannot prepare the run row", e))?;
    st.execute(params![
        run.run_id,
        run.source,
        run.path,
        run.started_at,
        run.finished_at,
        run.model,
        run.engine,
        run.engine_version,
        run.image,
        run.git_sha,
        run.host,
        run.gpu,
        manifest,
        extras,
        hash,
        started_us,
    ])
    .map_err(|e| sqlite(path, &format!("cannot write run {}", run.run_id), e))?;
    Ok(())
}

fn insert_cells(
    tx: &rusqlite::Transaction<'_>,
    path: &Utf8Path,
    run_id: &str,
    cells: &[CellRecord],
) -> Result<(), DbError> {
    let e = |e| sqlite(path, &format!("cannot write the cells of run {run_id}"), e);
    let mut cell_st = tx
        .prepare_cached(
            "INSERT OR REPLACE INTO cells (run_id, cell_id, group_id, status, error, key_text, key, row)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .map_err(e)?;
    let mut metric_st = tx
        .prepare_cached("INSERT INTO metrics (cell, repeat, metric, value) VALUES (?1, ?2, ?3, ?4)")
        .map_err(e)?;
    for c in cells {
        cell_st
            .execute(params![
                run_id,
                c.cell_id,
                c.group_id,
                c.status,
                c.error,
                key_text(&c.key),
                serde_json::to_string(&c.key).expect("a key serializes"),
                serde_json::to_string(&c.row).expect("a row serializes"),
            ])
            .map_err(e)?;
        let id = tx.last_insert_rowid();
        for (i, sample) in c.samples.iter().enumerate() {
            // NaN cannot be stored (SQLite reads it as NULL).
            for (m, v) in sample.iter().filter(|(_, v)| !v.is_nan()) {
                metric_st.execute(params![id, i as i64, m, v]).map_err(e)?;
            }
        }
    }
    Ok(())
}
