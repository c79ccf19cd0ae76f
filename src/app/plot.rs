//! `matrix plot RUN... --kind K -o DIR`: read the runs (paths, or runs of
//! the results database), draw the kind's charts
//! ([`crate::report::plot`]), write `<DIR>/<name>.svg` and/or `.png`.

use std::collections::BTreeSet;

use camino::{Utf8Path, Utf8PathBuf};

use crate::Error;
use crate::record::db::model::key_text;
use crate::record::db::store::Db;
use crate::record::db::{DbError, RunRecord};
use crate::report::compare::parse_only;
use crate::report::plot::{self, Kind, Plot, PlotError, PlotOptions, TrendInput};
use crate::report::regressions;
use crate::report::stats::ChangePointOptions;

use super::write_stdout;

/// What `matrix plot` needs.
#[derive(Debug, Clone, Default)]
pub struct PlotRequest {
    /// RUN...: run ids, `latest`, `latest~N`, or paths.
    pub runs: Vec<String>,
    pub kind: String,
    pub only: Vec<String>,
    pub metrics: Vec<String>,
    pub out: Utf8PathBuf,
    /// `svg`, `png` or `both`.
    pub format: String,
    pub width: u32,
    pub height: u32,
    pub db: Option<Utf8PathBuf>,
    /// The command line, written into every file (`matrix plot ...`).
    pub command: String,
}

/// The command line as a shell would take it back: `matrix` and the
/// arguments, those with spaces or quotes single-quoted.
pub fn command_line(args: impl IntoIterator<Item = String>) -> String {
    let mut words = vec!["matrix".to_string()];
    for a in args {
        let plain = !a.is_empty()
            && a.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./=,:~+@%".contains(c));
        words.push(if plain {
            a
        } else {
            format!("'{}'", a.replace('\'', r"'\''"))
        });
    }
    words.join(" ")
}

/// Every run of the selectors: a path holds one or more runs (read as
/// `matrix ingest` reads it); anything else is a run of the database.
fn load_runs(
    selectors: &[String],
    db: Option<&Db>,
    db_file: &Utf8Path,
) -> Result<Vec<RunRecord>, Error> {
    let mut out = Vec::new();
    for s in selectors {
        let path = Utf8Path::new(s);
        if path.exists() {
            out.extend(crate::record::db::folder::read_path(path)?);
            continue;
        }
        let Some(db) = db else {
            return Err(DbError::Missing {
                path: db_file.to_owned(),
            }
            .into());
        };
        let id = db.resolve(s)?;
        out.push(db.load_run(&id)?);
    }
    Ok(out)
}

/// The trend input: the history of the chosen cells (those of the runs
/// that pass `--only`) in the database, their repeats' spread, their
/// open regressions.
fn trend_input(db: &Db, runs: &[RunRecord], opts: &PlotOptions) -> Result<TrendInput, Error> {
    let keys: BTreeSet<String> = plot::select_cells(runs, &opts.only)?
        .iter()
        .map(|c| key_text(&c.cell.key))
        .collect();
    let mut series = db.all_series(None)?;
    series.retain(|s| keys.contains(&key_text(&s.key)));
    let mut known: Vec<String> = series.iter().map(|s| s.metric.clone()).collect();
    known.sort();
    known.dedup();
    let metrics: Vec<String> = if opts.metrics.is_empty() {
        // One headline metric per mode present.
        ["e2e_latency_s", "median_e2e_ms"]
            .iter()
            .filter(|m| known.iter().any(|k| k == *m))
            .map(|m| m.to_string())
            .collect()
    } else {
        if let Some(m) = opts.metrics.iter().find(|m| !known.contains(m)) {
            return Err(PlotError::UnknownMetric {
                metric: m.clone(),
                kind: "trend".into(),
                metrics: known,
            }
            .into());
        }
        opts.metrics.clone()
    };
    series.retain(|s| metrics.contains(&s.metric));
    let found = regressions::find(&series, &ChangePointOptions::default(), None);
    let mut input = TrendInput {
        series,
        regressions: found,
        ..TrendInput::default()
    };
    let run_ids: BTreeSet<String> = input
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.run_id.clone()))
        .collect();
    for id in run_ids {
        let run = db.load_run(&id)?;
        for c in run
            .cells
            .iter()
            .filter(|c| keys.contains(&key_text(&c.key)))
        {
            for m in &metrics {
                let vs: Vec<f64> = c.samples.iter().filter_map(|s| s.get(m).copied()).collect();
                if !vs.is_empty() {
                    input.add_spread(&id, &c.key, m, &vs);
                }
            }
        }
    }
    Ok(input)
}

/// `matrix plot`: exit 0 with the files written, one line each on stdout.
pub fn run(root: &Utf8Path, a: PlotRequest) -> Result<i32, Error> {
    let kind = Kind::parse(&a.kind)?;
    let (svg, png) = match a.format.as_str() {
        "svg" => (true, false),
        "png" => (false, true),
        "both" => (true, true),
        other => {
            return Err(PlotError::UnknownFormat {
                format: other.into(),
            }
            .into());
        }
    };
    let only = parse_only(&a.only)?;
    let opts = PlotOptions {
        only,
        metrics: a.metrics.clone(),
        command: a.command.clone(),
        width: a.width,
        height: a.height,
    };
    let db_file = super::compare::db_path(root, a.db.as_deref());
    let db = if db_file.exists() {
        Some(Db::open_existing(&db_file)?)
    } else {
        None
    };
    let runs = load_runs(&a.runs, db.as_ref(), &db_file)?;
    let plots: Vec<Plot> = if kind == Kind::Trend {
        let Some(db) = &db else {
            return Err(DbError::Missing { path: db_file }.into());
        };
        plot::draw_trend(&trend_input(db, &runs, &opts)?, &opts)?
    } else {
        plot::draw(kind, &runs, &opts)?
    };
    std::fs::create_dir_all(&a.out).map_err(|source| PlotError::Write {
        path: a.out.clone(),
        source,
    })?;
    let mut lines = String::new();
    for p in &plots {
        let mut files = Vec::new();
        if svg {
            files.push((
                a.out.join(format!("{}.svg", p.name)),
                p.svg.as_bytes().to_vec(),
            ));
        }
        if png {
            files.push((
                a.out.join(format!("{}.png", p.name)),
                p.png(a.width, a.height)?,
            ));
        }
        for (path, bytes) in files {
            std::fs::write(&path, bytes).map_err(|source| PlotError::Write {
                path: path.clone(),
                source,
            })?;
            lines.push_str(&format!(
                "{path}: {} ({} series, {} points)\n",
                p.title, p.series, p.points
            ));
        }
    }
    write_stdout(|out| out.write_all(lines.as_bytes()))?;
    Ok(0)
}
