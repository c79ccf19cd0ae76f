//! `matrix compare BASE NEW`: read both sides (a path, or a run of the
//! results database), build the report ([`crate::report::compare`]),
//! render it, exit 1 when anything regressed.

use std::io::IsTerminal;

use camino::{Utf8Path, Utf8PathBuf};

use crate::Error;
use crate::record::db::store::Db;
use crate::record::db::{DbError, RunRecord};
use crate::report::compare::{self, CompareOptions, DbHistory, HistorySource, NoHistory, judge};

use super::write_stdout;

/// Output format of `matrix compare`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Term,
    Md,
    Html,
    Json,
}

/// What `matrix compare` needs.
#[derive(Debug, Clone, Default)]
pub struct CompareRequest {
    pub base: String,
    pub new: String,
    pub min_effect_pct: f64,
    pub alpha: f64,
    pub metrics: Vec<String>,
    pub only: Vec<String>,
    pub format: Format,
    pub output: Option<Utf8PathBuf>,
    pub seed: u64,
    /// `--color`: `always`, `never`, or auto (a TTY).
    pub color: Option<bool>,
    /// `--db PATH`.
    pub db: Option<Utf8PathBuf>,
}

/// Read one side given as a path (`record::db::folder::read_path`: a run
/// folder, a results folder, a matrix CSV, a foreign result file, or a
/// folder of them); several runs in it are compared as one (their cells
/// together, the first run's identity).
pub fn read_side(path: &Utf8Path) -> Result<RunRecord, DbError> {
    let runs = crate::record::db::folder::read_path(path)?;
    let mut it = runs.into_iter();
    let mut first = it.next().ok_or_else(|| DbError::BadSource {
        path: path.to_owned(),
        line: None,
        reason: "no results in it".into(),
        hint: Some(
            "give a matrix CSV, a run folder, a folder of CSVs or an SGLang result file".into(),
        ),
    })?;
    for r in it {
        first.cells.extend(r.cells);
        for (k, v) in r.extras {
            first.extras.entry(k).or_insert(v);
        }
    }
    Ok(first)
}

/// The results database of `--db` / `MATRIX_DB`, or `<root>/results/matrix.db`.
pub fn db_path(root: &Utf8Path, explicit: Option<&Utf8Path>) -> Utf8PathBuf {
    super::db_path(&root.join("results"), explicit)
}

/// A side given as a path needs no database.
fn is_path(selector: &str) -> bool {
    Utf8Path::new(selector).exists()
}

/// A side: a path, or a run of the database (which must exist then).
fn load(selector: &str, db: Option<&Db>, db_file: &Utf8Path) -> Result<RunRecord, Error> {
    if is_path(selector) {
        return Ok(read_side(Utf8Path::new(selector))?);
    }
    let Some(db) = db else {
        return Err(DbError::Missing {
            path: db_file.to_owned(),
        }
        .into());
    };
    let id = db.resolve(selector)?;
    Ok(db.load_run(&id)?)
}

/// `matrix compare`: the report on stdout (or `-o FILE`); exit 1 on a regression.
pub fn run(root: &Utf8Path, a: CompareRequest) -> Result<i32, Error> {
    let db_file = db_path(root, a.db.as_deref());
    let db = if db_file.exists() {
        Some(Db::open_existing(&db_file)?)
    } else {
        None
    };
    let base = load(&a.base, db.as_ref(), &db_file)?;
    let new = load(&a.new, db.as_ref(), &db_file)?;
    if base.run_id == new.run_id && a.format == Format::Term {
        super::write_stderr(&format!(
            "note: BASE and NEW are the same run ({}); comparing it with itself\n",
            base.run_id
        ));
    }
    let opts = CompareOptions {
        min_effect_pct: a.min_effect_pct,
        alpha: a.alpha,
        seed: a.seed,
        metrics: (!a.metrics.is_empty()).then(|| a.metrics.clone()),
    };
    let only = compare::parse_only(&a.only)?;
    let history: Box<dyn HistorySource> = match &db {
        Some(db) => Box::new(DbHistory {
            db,
            before: new.started_at.clone(),
            exclude: [base.run_id.clone(), new.run_id.clone()],
        }),
        None => Box::new(NoHistory),
    };
    let report = compare::build(
        &a.base,
        &base,
        &a.new,
        &new,
        &opts,
        &only,
        history.as_ref(),
        |inputs| judge(inputs, &opts),
    )?;
    let text = match a.format {
        Format::Term => {
            let color = a
                .color
                .unwrap_or_else(|| a.output.is_none() && std::io::stdout().is_terminal());
            compare::render_term(&report, color)
        }
        Format::Md => compare::render_md(&report),
        Format::Html => compare::render_html(&report),
        Format::Json => compare::render_json(&report),
    };
    match &a.output {
        Some(path) => std::fs::write(path, text.as_bytes())
            .map_err(|e| crate::report::ReportError::io(format!("cannot write {path}"), e))?,
        None => write_stdout(|out| out.write_all(text.as_bytes()))?,
    }
    Ok(report.exit_code())
}
