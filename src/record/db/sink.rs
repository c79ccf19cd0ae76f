//! The live ingest of `matrix run`: a consumer after the recorder that
//! writes each cell to the results database as it finishes (so a killed
//! run keeps what it recorded), and the run's row at its start and end.
//!
//! The database is never the source of truth: when it cannot be opened or
//! written, one warning on stderr names it and the rebuild command, and
//! the run goes on (its CSV and journal are written as always).

use camino::{Utf8Path, Utf8PathBuf};

use super::DbError;
use super::csv_run::cell_of_row;
use super::folder::{note_model, run_of_manifest};
use super::model::RunRecord;
use super::store::Db;
use crate::record::RecordError;
use crate::record::event::{Consumer, Event};
use crate::record::manifest::Manifest;

/// Writes a run's events into the database at `path`.
pub struct DbSink {
    path: Utf8PathBuf,
    db: Option<Db>,
    run: Option<RunRecord>,
    /// Set after the first failure: the sink then does nothing.
    failed: bool,
    warn: Box<dyn FnMut(&str)>,
}

impl DbSink {
    /// A sink writing to `path`; warnings go to stderr.
    pub fn new(path: &Utf8Path) -> DbSink {
        DbSink::with_warn(
            path,
            Box::new(|m| {
                use std::io::Write;
                let _ = writeln!(std::io::stderr(), "warning: {m}");
            }),
        )
    }

    /// A sink whose warning goes to `warn` (tests).
    pub fn with_warn(path: &Utf8Path, warn: Box<dyn FnMut(&str)>) -> DbSink {
        DbSink {
            path: path.to_owned(),
            db: None,
            run: None,
            failed: false,
            warn,
        }
    }

    fn fail(&mut self, e: DbError) {
        if !self.failed {
            self.failed = true;
            self.db = None;
            let hint = e.hint().map(|h| format!(" ({h})")).unwrap_or_default();
            (self.warn)(&format!(
                "results database {}: {e}{hint}; the run goes on without it (its CSV is \
                 complete); `matrix db rebuild` or `matrix ingest` adds the run later",
                self.path
            ));
        }
    }

    fn db(&mut self) -> Option<&mut Db> {
        if self.failed {
            return None;
        }
        if self.db.is_none() {
            match Db::open(&self.path) {
                Ok(db) => self.db = Some(db),
                Err(e) => {
                    self.fail(e);
                    return None;
                }
            }
        }
        self.db.as_mut()
    }

    fn handle(&mut self, e: &Event) -> Result<(), DbError> {
        match e {
            Event::RunStarted(s) => {
                let dir = Utf8PathBuf::from(&s.run_dir);
                let mpath = dir.join("manifest.json");
                let mut run = match std::fs::read_to_string(&mpath)
                    .ok()
                    .and_then(|t| serde_json::from_str::<Manifest>(&t).ok())
                {
                    Some(m) => run_of_manifest(&m, Some(&dir)),
                    None => RunRecord {
                        run_id: s.run_id.clone(),
                        source: super::folder::SOURCE_RUN.into(),
                        path: Some(s.run_dir.clone()),
                        ..RunRecord::default()
                    },
                };
                if s.resumed {
                    // The cells of the earlier sessions: as the database has
                    // them, or from the journal when it does not.
                    if let Ok(prev) = super::folder::read_run_folder(&dir) {
                        run.model = prev.model.clone();
                        if let Some(db) = self.db() {
                            db.ingest(&prev)?;
                        }
                    }
                }
                self.run = Some(run.clone());
                if let Some(db) = self.db() {
                    db.upsert_run(&run)?;
                }
            }
            Event::CellFinished(f) => {
                let Some(mut run) = self.run.take() else {
                    return Ok(());
                };
                let path = Utf8PathBuf::from(run.path.clone().unwrap_or_default());
                let cell = cell_of_row(f.row.clone(), &path, 0);
                let result = match cell {
                    Ok(mut cell) => {
                        if !f.samples.is_empty() && cell.status == "ok" {
                            cell.samples = f.samples.clone();
                        }
                        note_model(&mut run, cell.row.get("model").map(String::as_str));
                        match self.db() {
                            Some(db) => db.upsert_cell(&run, &cell),
                            None => Ok(()),
                        }
                    }
                    Err(e) => Err(e),
                };
                self.run = Some(run);
                result?;
            }
            Event::RunFinished(_) => {
                let Some(mut run) = self.run.take() else {
                    return Ok(());
                };
                run.finished_at = Some(jiff::Timestamp::now().to_string());
                let r = match self.db() {
                    Some(db) => db.upsert_run(&run),
                    None => Ok(()),
                };
                self.run = Some(run);
                r?;
            }
            _ => {}
        }
        Ok(())
    }
}

impl Consumer for DbSink {
    fn event(&mut self, e: &Event) -> Result<(), RecordError> {
        if self.failed {
            return Ok(());
        }
        if let Err(err) = self.handle(e) {
            self.fail(err);
        }
        Ok(())
    }
}
