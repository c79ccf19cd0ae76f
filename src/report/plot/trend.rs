//! `--kind trend`: a metric of chosen cells over the runs of the results
//! database. One chart per metric, one line per cell (labelled by the key
//! columns that differ), the x axis the runs in start order, the spread of
//! each run's repeats (min–max) as a band, open regressions (from
//! [`crate::report::regressions::find`]) as red crosses.

use std::collections::BTreeMap;

use crate::record::db::model::key_text;
use crate::record::db::{CellKey, Series};
use crate::report::compare::build::Labeler;
use crate::report::regressions::Regression;
use crate::report::stats::Verdict;

use super::chart::{Chart, ChartSeries, Marker, MarkerShape};
use super::data::unit;
use super::error::PlotError;
use super::{Kind, PlotOptions};

/// The columns that name a lone cell's line.
const SHORT_LABEL: [&str; 7] = [
    "deploy",
    "backend",
    "bsz",
    "input_len",
    "output_len",
    "request_rate",
    "max_concurrency",
];

/// min–max of a run's repeats: (run id, key text, metric) → (min, max).
pub type TrendSpread = BTreeMap<(String, String, String), (f64, f64)>;

/// What a trend chart draws, read from the database by the caller.
#[derive(Debug, Clone, Default)]
pub struct TrendInput {
    /// The chosen cells' series (`Db::all_series`, filtered), points
    /// oldest first, each the median of its run's repeats.
    pub series: Vec<Series>,
    /// The spread of the repeats behind each point; a point without one
    /// gets no band.
    pub spread: TrendSpread,
    /// Steps found in these series (`regressions::find`); the open
    /// regressions are marked.
    pub regressions: Vec<Regression>,
}

impl TrendInput {
    /// The spread of every (run, cell, metric) from the repeats of runs.
    pub fn add_spread(&mut self, run_id: &str, key: &CellKey, metric: &str, samples: &[f64]) {
        let lo = samples.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = samples.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if lo.is_finite() && hi.is_finite() {
            self.spread.insert(
                (run_id.to_string(), key_text(key), metric.to_string()),
                (lo, hi),
            );
        }
    }
}

/// Tick labels of the runs and the x axis label: the shortest start-time
/// form that tells every run apart (`MM-DD`, `MM-DD HH:MM`, `HH:MM:SS`,
/// UTC), else the run's position (`#3`).
fn ticks(runs: &[(Option<&str>, &str)]) -> (Vec<String>, String) {
    let times: Option<Vec<jiff::Timestamp>> = runs
        .iter()
        .map(|(t, _)| t.and_then(|t| t.parse::<jiff::Timestamp>().ok()))
        .collect();
    if let Some(times) = times {
        for form in ["%m-%d", "%m-%d %H:%M", "%H:%M:%S"] {
            let labels: Vec<String> = times.iter().map(|t| t.strftime(form).to_string()).collect();
            let mut unique = labels.clone();
            unique.sort();
            unique.dedup();
            if unique.len() == labels.len() {
                return (labels, "run (start time, UTC)".into());
            }
        }
    }
    (
        (1..=runs.len()).map(|i| format!("#{i}")).collect(),
        "run (in start order)".into(),
    )
}

pub fn charts(input: &TrendInput, opts: &PlotOptions) -> Result<Vec<Chart>, PlotError> {
    if input.series.iter().all(|s| s.points.is_empty()) {
        return Err(PlotError::NoData {
            kind: Kind::Trend.word().into(),
            missing: "the chosen cells have no history of a judged metric in the database".into(),
            hint: "trend reads the results database: ingest runs (matrix ingest) or run with it; \
                   --only / --metric choose cells and metrics"
                .into(),
        });
    }
    let labeler = Labeler::new(input.series.iter().map(|s| &s.key));
    let single = {
        let mut keys: Vec<&CellKey> = input.series.iter().map(|s| &s.key).collect();
        keys.dedup();
        keys.len() == 1
    };
    // One cell: nothing varies, so name it by what says which cell it is
    // (the whole key would not fit a legend).
    let label = |key: &CellKey| -> String {
        if !single {
            return labeler.label(key);
        }
        let short: Vec<String> = SHORT_LABEL
            .iter()
            .filter_map(|c| key.get(*c).map(|v| format!("{c}={v}")))
            .collect();
        if short.is_empty() {
            labeler.label(key)
        } else {
            short.join(" ")
        }
    };
    let mut metrics: Vec<&str> = Vec::new();
    for s in &input.series {
        if !metrics.contains(&s.metric.as_str()) {
            metrics.push(&s.metric);
        }
    }
    let mut out = Vec::new();
    for metric in metrics {
        let series: Vec<&Series> = input
            .series
            .iter()
            .filter(|s| s.metric == metric && !s.points.is_empty())
            .collect();
        // The x axis: every run of these series, by start time then id.
        let mut runs: Vec<(Option<&str>, &str)> = series
            .iter()
            .flat_map(|s| {
                s.points
                    .iter()
                    .map(|p| (p.started_at.as_deref(), p.run_id.as_str()))
            })
            .collect();
        runs.sort();
        runs.dedup();
        let (tick_labels, x_label) = ticks(&runs);
        let index = |run: &str| runs.iter().position(|r| r.1 == run).unwrap_or(0) as f64;
        let mut chart = Chart {
            name: format!("trend-{metric}"),
            kind: Kind::Trend.word().into(),
            title: format!("{metric} over {} runs", runs.len()),
            x_label,
            y_label: format!("{metric} ({})", unit(metric)),
            x_log2: false,
            x_ticks: Some(tick_labels),
            series: Vec::new(),
            frontier: Vec::new(),
            marks: Vec::new(),
            marks_label: "open regression".into(),
            command: opts.command.clone(),
        };
        for s in &series {
            let kt = key_text(&s.key);
            let points: Vec<(f64, f64)> = s
                .points
                .iter()
                .map(|p| (index(&p.run_id), p.value))
                .collect();
            let band: Vec<(f64, f64, f64)> = s
                .points
                .iter()
                .map(|p| {
                    let (lo, hi) = input
                        .spread
                        .get(&(p.run_id.clone(), kt.clone(), metric.to_string()))
                        .copied()
                        .unwrap_or((p.value, p.value));
                    (index(&p.run_id), lo, hi)
                })
                .collect();
            let has_band = band.iter().any(|b| b.2 > b.1);
            for r in &input.regressions {
                if r.open
                    && r.direction == Verdict::Regression
                    && r.metric == metric
                    && r.key == s.key
                {
                    if let Some(p) = s.points.iter().find(|p| p.run_id == r.run_id) {
                        chart.marks.push(Marker {
                            x: index(&p.run_id),
                            y: p.value,
                            label: format!(
                                "{}: {:+.1}% at {}",
                                label(&s.key),
                                r.change_pct,
                                r.run_id
                            ),
                        });
                    }
                }
            }
            chart.series.push(ChartSeries {
                name: label(&s.key),
                points,
                band: if has_band { band } else { Vec::new() },
                shape: MarkerShape::Circle,
            });
        }
        out.push(chart);
    }
    Ok(out)
}
