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
            // 64 MiB of page cache: a run's inserts touch index pages
            // all over the file once it holds hundreds of runs.
            .execute_batch(
                "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=OFF; PRAGMA cache_size=-65536;",
            )
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
        let mut bulk = self.bulk()?;
        let out = runs
            .iter()
            .map(|run| bulk.ingest(run))
            .collect::<Result<Vec<_>, _>>()?;
        bulk.commit()?;
        Ok(out)
    }

    /// One write transaction for many runs, ingested one at a time (so the
    /// caller need not hold them all): nothing is stored unless
    /// [`Bulk::commit`] is called. What `matrix ingest` and `matrix db
    /// rebuild` use; a live run writes each cell in its own transaction.
    pub fn bulk(&mut self) -> Result<Bulk<'_>, DbError> {
        let path = self.path.clone();
        let tx = begin(&mut self.conn, &path, "cannot begin a transaction")?;
        Ok(Bulk { tx, path })
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
            "DELETE FROM cells WHERE run_id = ?1 AND cell_id = ?2",
            params![run.run_id, cell.cell_id],
        )
        .map_err(e)?;
        insert_cells(
            &tx,
            &path,
            &run.run_id,
            &prepare(std::slice::from_ref(cell)),
        )?;
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
        self.load_run_part(run_id, 0, None)
    }

    /// [`load_run`](Self::load_run) with only the cells from position
    /// `offset` (0-based, in the order stored), at most `limit` of them: a
    /// page of a large run.
    pub fn load_run_part(
        &self,
        run_id: &str,
        offset: usize,
        limit: Option<usize>,
    ) -> Result<RunRecord, DbError> {
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
            return Err(unknown_run(run_id));
        };
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT c.cell_id, c.group_id, c.status, c.error, k.key, c.columns_id, c.row,
                        c.samples
                 FROM cells c JOIN keys k ON k.id = c.key_id
                 WHERE c.run_id = ?1 ORDER BY c.id LIMIT ?2 OFFSET ?3",
            )
            .map_err(self.err(ctx))?;
        let mut headers: HashMap<i64, Vec<String>> = HashMap::new();
        {
            let mut st = self
                .conn
                .prepare_cached(
                    "SELECT id, columns FROM columnsets
                     WHERE id IN (SELECT columns_id FROM cells WHERE run_id = ?1)",
                )
                .map_err(self.err(ctx))?;
            let mut rows = st.query([run_id]).map_err(self.err(ctx))?;
            while let Some(r) = rows.next().map_err(self.err(ctx))? {
                let columns: String = r.get(1).map_err(self.err(ctx))?;
                headers.insert(
                    r.get(0).map_err(self.err(ctx))?,
                    serde_json::from_str(&columns).unwrap_or_default(),
                );
            }
        }
        let cells = st
            .query_map(
                params![
                    run_id,
                    limit.map_or(-1, |l| l.min(i64::MAX as usize) as i64),
                    offset.min(i64::MAX as usize) as i64
                ],
                |r| {
                    // Borrowed text: the JSON is parsed, never kept.
                    let text = |i: usize| -> rusqlite::Result<&str> {
                        let v = r.get_ref(i)?;
                        v.as_str().map_err(|e| {
                            rusqlite::Error::FromSqlConversionFailure(i, v.data_type(), Box::new(e))
                        })
                    };
                    let columns: i64 = r.get(5)?;
                    Ok(CellRecord {
                        cell_id: r.get(0)?,
                        group_id: r.get(1)?,
                        status: r.get(2)?,
                        error: r.get(3)?,
                        key: serde_json::from_str(text(4)?).unwrap_or_default(),
                        row: row_of(headers.get(&columns).map_or(&[], Vec::as_slice), text(6)?),
                        samples: samples_of(text(7)?),
                    })
                },
            )
            .map_err(self.err(ctx))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.err(ctx))?;
        run.cells = cells;
        Ok(run)
    }

    /// A stored run's number of cells and of those `ok`, without reading
    /// them ([`DbError::UnknownRun`] when the run is not stored).
    pub fn cell_counts(&self, run_id: &str) -> Result<(usize, usize), DbError> {
        let ctx = "cannot count a run's cells";
        let known: Option<i64> = self
            .conn
            .query_row("SELECT 1 FROM runs WHERE run_id = ?1", [run_id], |r| {
                r.get(0)
            })
            .optional()
            .map_err(self.err(ctx))?;
        if known.is_none() {
            return Err(unknown_run(run_id));
        }
        self.conn
            .query_row(
                "SELECT count(*), COALESCE(sum(status = 'ok'), 0) FROM cells WHERE run_id = ?1",
                [run_id],
                |r| Ok((r.get::<_, i64>(0)? as usize, r.get::<_, i64>(1)? as usize)),
            )
            .map_err(self.err(ctx))
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
        let ctx = "cannot read a history";
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT r.run_id, c.samples FROM cells c
                 JOIN runs r ON r.run_id = c.run_id
                 WHERE c.key_id = (SELECT id FROM keys WHERE text = ?1) AND c.status = 'ok'
                   AND (?2 IS NULL OR r.started_us < ?2)
                 ORDER BY COALESCE(r.started_us, 0), r.run_id, c.id",
            )
            .map_err(self.err(ctx))?;
        let mut rows = st
            .query(params![key_text(key), before])
            .map_err(self.err(ctx))?;
        // Consecutive rows of one run (two cells of one key) make one point.
        let mut points: Vec<(String, Vec<f64>)> = Vec::new();
        while let Some(r) = rows.next().map_err(self.err(ctx))? {
            let run: String = r.get(0).map_err(self.err(ctx))?;
            let samples: String = r.get(1).map_err(self.err(ctx))?;
            let values = samples_of(&samples)
                .into_iter()
                .filter_map(|s| s.get(metric).copied());
            match points.last_mut() {
                Some((r, vs)) if *r == run => vs.extend(values),
                _ => points.push((run, values.collect())),
            }
        }
        Ok(points
            .into_iter()
            .filter(|(r, vs)| !vs.is_empty() && !exclude.contains(&r.as_str()))
            .map(|(_, vs)| median(vs))
            .collect())
    }

    /// Every (cell key, judged metric) series of the ok cells (of runs
    /// started at or after `since`, when given), points oldest first, each
    /// the median of its run's repeats. (`matrix regressions --since` is
    /// parsed by the report, which still needs the earlier points.)
    pub fn all_series(&self, since: Option<jiff::Timestamp>) -> Result<Vec<Series>, DbError> {
        let since = since.map(|t| t.as_microsecond());
        let ctx = "cannot read the series";
        // The runs in order (their position orders the points), the judged
        // metrics, then one scan of the ok cells' values grouped here: an
        // ORDER BY over every value would sort the whole table.
        let mut runs: Vec<(String, Option<String>)> = Vec::new();
        let mut run_index: HashMap<String, u32> = HashMap::new();
        {
            let mut st = self
                .conn
                .prepare(
                    "SELECT run_id, started_at FROM runs
                     WHERE ?1 IS NULL OR started_us >= ?1
                     ORDER BY COALESCE(started_us, 0), run_id",
                )
                .map_err(self.err(ctx))?;
            let mut rows = st.query(params![since]).map_err(self.err(ctx))?;
            while let Some(r) = rows.next().map_err(self.err(ctx))? {
                let id: String = r.get(0).map_err(self.err(ctx))?;
                run_index.insert(id.clone(), runs.len() as u32);
                runs.push((id, r.get(1).map_err(self.err(ctx))?));
            }
        }
        // (key id, metric) → points as (run position, repeat values).
        type Points = Vec<(u32, Vec<f64>)>;
        let mut grouped: HashMap<(i64, u32), Points> = HashMap::new();
        // Judged metric names, numbered as met (`None`: not judged).
        let mut names: Vec<String> = Vec::new();
        let mut name_ids: HashMap<String, Option<u32>> = HashMap::new();
        {
            let mut st = self
                .conn
                .prepare(
                    "SELECT c.key_id, c.run_id, c.samples FROM cells c
                     WHERE c.status = 'ok' ORDER BY c.id",
                )
                .map_err(self.err(ctx))?;
            let mut rows = st.query([]).map_err(self.err(ctx))?;
            let mut last_run: Option<(String, Option<u32>)> = None;
            while let Some(r) = rows.next().map_err(self.err(ctx))? {
                let run = r.get_ref(1).map_err(self.err(ctx))?;
                let run = run.as_str().map_err(|e| self.classify(e.into(), ctx))?;
                let position = match &last_run {
                    Some((id, position)) if id == run => *position,
                    _ => {
                        let position = run_index.get(run).copied();
                        last_run = Some((run.to_string(), position));
                        position
                    }
                };
                let Some(position) = position else { continue };
                let key: i64 = r.get(0).map_err(self.err(ctx))?;
                let samples = r.get_ref(2).map_err(self.err(ctx))?;
                let samples = samples.as_str().map_err(|e| self.classify(e.into(), ctx))?;
                let Ok(stored) = serde_json::from_str::<StoredSamples<'_>>(samples) else {
                    continue;
                };
                for (j, metric) in stored.metrics.iter().enumerate() {
                    let id = match name_ids.get(metric.as_ref()) {
                        Some(id) => *id,
                        None => {
                            let id = better(metric).map(|_| {
                                names.push(metric.to_string());
                                names.len() as u32 - 1
                            });
                            name_ids.insert(metric.to_string(), id);
                            id
                        }
                    };
                    let Some(id) = id else { continue };
                    let values: Vec<f64> = stored
                        .repeats
                        .iter()
                        .filter_map(|r| r.get(j).copied().flatten())
                        .collect();
                    if values.is_empty() {
                        continue;
                    }
                    let points = grouped.entry((key, id)).or_default();
                    match points.last_mut() {
                        Some((p, vs)) if *p == position => vs.extend(values),
                        _ => points.push((position, values)),
                    }
                }
            }
        }
        let used: std::collections::HashSet<i64> = grouped.keys().map(|&(k, _)| k).collect();
        let mut keys: HashMap<i64, (String, CellKey)> = HashMap::new();
        {
            let mut st = self
                .conn
                .prepare("SELECT id, text, key FROM keys")
                .map_err(self.err(ctx))?;
            let mut rows = st.query([]).map_err(self.err(ctx))?;
            while let Some(r) = rows.next().map_err(self.err(ctx))? {
                let id: i64 = r.get(0).map_err(self.err(ctx))?;
                if used.contains(&id) {
                    let key: String = r.get(2).map_err(self.err(ctx))?;
                    keys.insert(
                        id,
                        (
                            r.get(1).map_err(self.err(ctx))?,
                            serde_json::from_str(&key).unwrap_or_default(),
                        ),
                    );
                }
            }
        }
        let mut out: Vec<(&str, Series)> = grouped
            .into_iter()
            .filter_map(|((key, name), mut points)| {
                let name = names[name as usize].clone();
                let (text, cell_key) = keys.get(&key)?;
                // A run's values arrive together unless it holds two cells
                // of one key: merge those.
                points.sort_by_key(|(p, _)| *p);
                let mut merged: Points = Vec::with_capacity(points.len());
                for (p, values) in points {
                    match merged.last_mut() {
                        Some((q, vs)) if *q == p => vs.extend(values),
                        _ => merged.push((p, values)),
                    }
                }
                let points = merged
                    .into_iter()
                    .map(|(p, values)| {
                        let (run_id, started_at) = &runs[p as usize];
                        SeriesPoint {
                            run_id: run_id.clone(),
                            started_at: started_at.clone(),
                            n: values.len(),
                            value: median(values),
                        }
                    })
                    .collect();
                Some((
                    text.as_str(),
                    Series {
                        key: cell_key.clone(),
                        metric: name,
                        points,
                    },
                ))
            })
            .collect();
        out.sort_by(|a, b| (a.0, &a.1.metric).cmp(&(b.0, &b.1.metric)));
        Ok(out.into_iter().map(|(_, s)| s).collect())
    }

    /// Remove every run (the schema stays).
    pub fn delete_all(&mut self) -> Result<(), DbError> {
        self.conn
            .execute_batch(
                "BEGIN IMMEDIATE; DELETE FROM cells; DELETE FROM runs; DELETE FROM keys;
                 DELETE FROM columnsets; COMMIT;",
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

/// A run id the database does not hold.
fn unknown_run(run_id: &str) -> DbError {
    DbError::UnknownRun {
        selector: run_id.to_string(),
        hint: "`matrix runs` lists the runs the database holds".into(),
    }
}

/// Runs written in one transaction: see [`Db::bulk`]. Dropped without
/// [`commit`](Bulk::commit), it rolls back.
pub struct Bulk<'c> {
    tx: rusqlite::Transaction<'c>,
    path: Utf8PathBuf,
}

impl Bulk<'_> {
    /// Store a run (as [`Db::ingest`] does) in this transaction.
    pub fn ingest(&mut self, run: &RunRecord) -> Result<Ingested, DbError> {
        ingest_in(&self.tx, &self.path, run)
    }

    pub fn commit(self) -> Result<(), DbError> {
        self.tx
            .commit()
            .map_err(|e| sqlite(&self.path, "cannot commit the ingest", e))
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

/// A cell ready to write: its key, row and samples serialized once, for
/// both the content hash and the insert.
struct Prepared<'a> {
    cell: &'a CellRecord,
    key_text: String,
    key_json: String,
    /// The row's column names (a `columnsets` entry) and values, as JSON
    /// arrays.
    columns_json: String,
    values_json: String,
    samples_json: String,
}

/// The `samples` column: the metric names once, then per repeat one value
/// per name (null where the repeat has none, or NaN: JSON has no NaN).
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredSamples<'a> {
    metrics: Vec<std::borrow::Cow<'a, str>>,
    repeats: Vec<Vec<Option<f64>>>,
}

fn samples_json(samples: &[IndexMap<String, f64>]) -> String {
    let mut names: indexmap::IndexSet<&str> = indexmap::IndexSet::new();
    for sample in samples {
        names.extend(sample.keys().map(String::as_str));
    }
    let repeats = samples
        .iter()
        .map(|s| {
            names
                .iter()
                .map(|m| s.get(*m).copied().filter(|v| !v.is_nan()))
                .collect()
        })
        .collect();
    let stored = StoredSamples {
        metrics: names.into_iter().map(std::borrow::Cow::Borrowed).collect(),
        repeats,
    };
    serde_json::to_string(&stored).expect("samples serialize")
}

/// A stored `samples` column read back (an unreadable one as none: the
/// column is only ever written by [`samples_json`]).
fn samples_of(json: &str) -> Vec<IndexMap<String, f64>> {
    let Ok(stored) = serde_json::from_str::<StoredSamples<'_>>(json) else {
        return Vec::new();
    };
    stored
        .repeats
        .iter()
        .map(|values| {
            stored
                .metrics
                .iter()
                .zip(values)
                .filter_map(|(m, v)| v.map(|v| (m.to_string(), v)))
                .collect()
        })
        .collect()
}

/// A stored row (column names and values, JSON arrays) read back.
fn row_of(columns: &[String], values: &str) -> IndexMap<String, String> {
    let values: Vec<String> = serde_json::from_str(values).unwrap_or_default();
    let mut row = IndexMap::with_capacity(columns.len());
    for (c, v) in columns.iter().zip(values) {
        row.insert(c.clone(), v);
    }
    row
}

fn prepare(cells: &[CellRecord]) -> Vec<Prepared<'_>> {
    cells
        .iter()
        .map(|c| {
            let columns: Vec<&str> = c.row.keys().map(String::as_str).collect();
            let values: Vec<&str> = c.row.values().map(String::as_str).collect();
            Prepared {
                cell: c,
                key_text: key_text(&c.key),
                key_json: serde_json::to_string(&c.key).expect("a key serializes"),
                columns_json: serde_json::to_string(&columns).expect("names serialize"),
                values_json: serde_json::to_string(&values).expect("values serialize"),
                samples_json: samples_json(&c.samples),
            }
        })
        .collect()
}

/// The content hash of a run: everything but the path it was read from.
/// Strings are length-prefixed, so no two different runs feed the hasher
/// the same bytes.
fn content_hash(run: &RunRecord, cells: &[Prepared<'_>]) -> String {
    fn text(h: &mut blake3::Hasher, s: &str) {
        h.update(&(s.len() as u64).to_le_bytes());
        h.update(s.as_bytes());
    }
    fn opt(h: &mut blake3::Hasher, s: Option<&str>) {
        match s {
            Some(s) => {
                h.update(&[1]);
                text(h, s);
            }
            None => {
                h.update(&[0]);
            }
        }
    }
    let mut h = blake3::Hasher::new();
    let head = (
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
    );
    text(
        &mut h,
        &serde_json::to_string(&head).expect("a run serializes"),
    );
    h.update(&(cells.len() as u64).to_le_bytes());
    for p in cells {
        let c = p.cell;
        text(&mut h, &c.cell_id);
        opt(&mut h, c.group_id.as_deref());
        text(&mut h, &c.status);
        opt(&mut h, c.error.as_deref());
        text(&mut h, &p.key_json);
        text(&mut h, &p.columns_json);
        text(&mut h, &p.values_json);
        text(&mut h, &p.samples_json);
    }
    h.finalize().to_hex().to_string()
}

fn ingest_in(
    tx: &rusqlite::Transaction<'_>,
    path: &Utf8Path,
    run: &RunRecord,
) -> Result<Ingested, DbError> {
    let cells = prepare(&run.cells);
    let hash = content_hash(run, &cells);
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
            tx.execute("DELETE FROM cells WHERE run_id = ?1", [&run.run_id])
                .map_err(e)?;
            Ingested::Replaced
        }
        None => Ingested::Added,
    };
    upsert_run_row(tx, path, run, &hash)?;
    insert_cells(tx, path, &run.run_id, &cells)?;
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
    cells: &[Prepared<'_>],
) -> Result<(), DbError> {
    let e = |e| sqlite(path, &format!("cannot write the cells of run {run_id}"), e);
    let mut find_key = tx
        .prepare_cached("SELECT id FROM keys WHERE text = ?1")
        .map_err(e)?;
    let mut add_key = tx
        .prepare_cached("INSERT INTO keys (text, key) VALUES (?1, ?2)")
        .map_err(e)?;
    let mut find_columns = tx
        .prepare_cached("SELECT id FROM columnsets WHERE columns = ?1")
        .map_err(e)?;
    let mut add_columns = tx
        .prepare_cached("INSERT INTO columnsets (columns) VALUES (?1)")
        .map_err(e)?;
    let mut cell_st = tx
        .prepare_cached(
            "INSERT OR REPLACE INTO cells
                (run_id, cell_id, group_id, status, error, key_id, columns_id, row, samples)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )
        .map_err(e)?;
    // The cells of a run mostly share one header: look it up once.
    let mut columns_ids: HashMap<&str, i64> = HashMap::new();
    for p in cells {
        let columns_id = match columns_ids.get(p.columns_json.as_str()) {
            Some(&id) => id,
            None => {
                let id = match find_columns
                    .query_row([&p.columns_json], |r| r.get::<_, i64>(0))
                    .optional()
                    .map_err(e)?
                {
                    Some(id) => id,
                    None => {
                        add_columns.execute([&p.columns_json]).map_err(e)?;
                        tx.last_insert_rowid()
                    }
                };
                columns_ids.insert(&p.columns_json, id);
                id
            }
        };
        let c = p.cell;
        let key_id = match find_key
            .query_row([&p.key_text], |r| r.get::<_, i64>(0))
            .optional()
            .map_err(e)?
        {
            Some(id) => id,
            None => {
                add_key.execute([&p.key_text, &p.key_json]).map_err(e)?;
                tx.last_insert_rowid()
            }
        };
        cell_st
            .execute(params![
                run_id,
                c.cell_id,
                c.group_id,
                c.status,
                c.error,
                key_id,
                columns_id,
                p.values_json,
                p.samples_json,
            ])
            .map_err(e)?;
    }
    Ok(())
}
