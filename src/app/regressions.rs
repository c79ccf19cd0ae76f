//! `matrix regressions`: change points in every series of the results
//! database ([`crate::report::regressions`]); exit 1 while one is open.

use camino::{Utf8Path, Utf8PathBuf};

use crate::Error;
use crate::record::db::store::Db;
use crate::report::ReportError;
use crate::report::compare::parse_only;
use crate::report::regressions::{self, open_count};
use crate::report::stats::{ChangePointOptions, Verdict};

use super::write_stdout;

/// What `matrix regressions` needs.
#[derive(Debug, Clone, Default)]
pub struct RegressionsRequest {
    pub since: Option<String>,
    pub min_effect_pct: f64,
    pub only: Vec<String>,
    pub metrics: Vec<String>,
    /// Closed regressions and improvements too.
    pub all: bool,
    pub json: bool,
    pub db: Option<Utf8PathBuf>,
}

pub fn run(root: &Utf8Path, a: RegressionsRequest) -> Result<i32, Error> {
    let since = a
        .since
        .as_deref()
        .map(|s| regressions::parse_since(s, jiff::Timestamp::now()))
        .transpose()?;
    let only = parse_only(&a.only)?;
    let db_file = super::compare::db_path(root, a.db.as_deref());
    let db = Db::open_existing(&db_file)?;
    let mut series = db.all_series(None)?;
    if series.is_empty() {
        let text = if a.json {
            regressions::render_json(&[])
        } else {
            format!("no runs in {db_file}: nothing to look at\n")
        };
        write_stdout(|out| out.write_all(text.as_bytes()))?;
        return Ok(0);
    }
    if !a.metrics.is_empty() {
        let mut known: Vec<String> = series.iter().map(|s| s.metric.clone()).collect();
        known.sort();
        known.dedup();
        if let Some(m) = a.metrics.iter().find(|m| !known.contains(m)) {
            return Err(ReportError::UnknownMetric {
                metric: m.clone(),
                metrics: known,
            }
            .into());
        }
        series.retain(|s| a.metrics.contains(&s.metric));
    }
    if !only.is_empty() {
        let mut axes: Vec<String> = series.iter().flat_map(|s| s.key.keys().cloned()).collect();
        axes.sort();
        axes.dedup();
        if let Some((axis, _)) = only.iter().find(|(axis, _)| !axes.contains(axis)) {
            return Err(ReportError::CompareUnknownAxis {
                axis: axis.clone(),
                axes,
            }
            .into());
        }
        series.retain(|s| {
            only.iter()
                .all(|(axis, vs)| s.key.get(axis).is_some_and(|v| vs.contains(v)))
        });
    }
    let opts = ChangePointOptions {
        min_effect_pct: a.min_effect_pct,
        ..ChangePointOptions::default()
    };
    let mut items = regressions::find(&series, &opts, since);
    let open = open_count(&items);
    if !a.all {
        items.retain(|r| r.open && r.direction == Verdict::Regression);
    }
    let text = if a.json {
        regressions::render_json(&items)
    } else {
        regressions::render_term(&items, series.len(), a.since.as_deref())
    };
    write_stdout(|out| out.write_all(text.as_bytes()))?;
    Ok(i32::from(open > 0))
}
