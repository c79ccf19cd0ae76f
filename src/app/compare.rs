//! `matrix compare BASE NEW`: read both sides (a path, or a run of the
//! results database), build the report ([`crate::report::compare`]),
//! render it, exit 1 when anything regressed.

use std::io::IsTerminal;

use camino::{Utf8Path, Utf8PathBuf};

use crate::record::db::{DbError, RunRecord};
use crate::report::compare::{self, CompareOptions, MetricInput, NoHistory};
use crate::report::stats::{Comparison, Method, Verdict};
use crate::Error;

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

/// Read one side given as a path: a CSV (a `matrix` CSV or a foreign
/// result file), or a folder of them (every file's cells as one run).
pub fn read_side(path: &Utf8Path) -> Result<RunRecord, DbError> {
    let mut runs = Vec::new();
    read_into(path, &mut runs, true)?;
    let mut it = runs.into_iter();
    let mut first = it.next().ok_or_else(|| DbError::BadSource {
        path: path.to_owned(),
        line: None,
        reason: "no results in it".into(),
        hint: Some("give a matrix CSV, a folder of CSVs or an SGLang result file".into()),
    })?;
    for r in it {
        first.cells.extend(r.cells);
        for (k, v) in r.extras {
            first.extras.entry(k).or_insert(v);
        }
    }
    Ok(first)
}

fn read_into(path: &Utf8Path, out: &mut Vec<RunRecord>, top: bool) -> Result<(), DbError> {
    if path.is_dir() {
        let mut entries: Vec<Utf8PathBuf> = path
            .read_dir_utf8()
            .map_err(|e| DbError::io(format!("cannot read {path}"), e))?
            .filter_map(Result::ok)
            .map(|e| e.path().to_owned())
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                read_into(&p, out, false)?;
            } else if matches!(p.extension(), Some("csv" | "jsonl" | "json")) {
                read_file(&p, out, false)?;
            }
        }
        return Ok(());
    }
    read_file(path, out, top)
}

fn read_file(path: &Utf8Path, out: &mut Vec<RunRecord>, strict: bool) -> Result<(), DbError> {
    if let Some(runs) = crate::record::db::foreign::read(path)? {
        out.extend(runs);
        return Ok(());
    }
    let text =
        std::fs::read_to_string(path).map_err(|e| DbError::io(format!("cannot read {path}"), e))?;
    let header: Vec<String> = text
        .lines()
        .next()
        .unwrap_or("")
        .split(',')
        .map(|s| s.trim().to_string())
        .collect();
    if crate::record::db::csv_run::is_matrix_header(&header) {
        out.extend(crate::record::db::csv_run::parse_csv(&text, path)?);
    } else if strict {
        return Err(DbError::BadSource {
            path: path.to_owned(),
            line: None,
            reason: "not a matrix CSV nor a known result format".into(),
            hint: Some("accepted: a `matrix run`/`matrix parse` CSV, SGLang bench_serving JSONL, sglang-ci CSVs (docs/INGEST.md)".into()),
        });
    }
    Ok(())
}

/// The verdicts: every input at once.
pub fn judge(inputs: &[MetricInput], opts: &CompareOptions) -> Vec<Comparison> {
    // Interim until `stats::compare_all` lands: the change, no verdict.
    let _ = opts;
    inputs
        .iter()
        .map(|p| {
            let b = median(&p.base);
            let n = median(&p.new);
            Comparison {
                better: p.better,
                base: b,
                new: n,
                base_n: p.base.len(),
                new_n: p.new.len(),
                change_pct: (n / b - 1.0) * 100.0,
                ci_pct: None,
                p: None,
                q: None,
                verdict: Verdict::Inconclusive,
                method: Method::None,
                note: Some("no statistics".into()),
            }
        })
        .collect()
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let m = s.len() / 2;
    if s.len() % 2 == 1 {
        s[m]
    } else {
        (s[m - 1] + s[m]) / 2.0
    }
}

fn load(selector: &str) -> Result<RunRecord, Error> {
    let p = Utf8Path::new(selector);
    if p.exists() {
        return Ok(read_side(p).map_err(crate::report::ReportError::from)?);
    }
    Err(crate::report::ReportError::from(DbError::BadSource {
        path: p.to_owned(),
        line: None,
        reason: "no such file or folder".into(),
        hint: Some("give a results folder, a run folder or a CSV".into()),
    })
    .into())
}

/// `matrix compare`: the report on stdout (or `-o FILE`); exit 1 on a regression.
pub fn run(root: &Utf8Path, a: CompareRequest) -> Result<i32, Error> {
    let _ = root;
    let base = load(&a.base)?;
    let new = load(&a.new)?;
    let opts = CompareOptions {
        min_effect_pct: a.min_effect_pct,
        alpha: a.alpha,
        seed: a.seed,
        metrics: (!a.metrics.is_empty()).then(|| a.metrics.clone()),
    };
    let only = compare::parse_only(&a.only)?;
    let report = compare::build(
        &a.base,
        &base,
        &a.new,
        &new,
        &opts,
        &only,
        &NoHistory,
        |inputs| judge(inputs, &opts),
    )?;
    let text = match a.format {
        Format::Term => {
            let color = a.color.unwrap_or_else(|| {
                a.output.is_none() && std::io::stdout().is_terminal()
            });
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
