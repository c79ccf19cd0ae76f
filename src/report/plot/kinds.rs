//! The charts of each kind from a run's cells: which columns, which x axis,
//! which series. Column names are those of `matrix run`'s CSV
//! ([`crate::record::csv::LATENCY_COLUMNS`], [`crate::record::csv::SERVING_COLUMNS`]).

use crate::record::db::RunRecord;

use super::chart::{Chart, ChartSeries, MarkerShape};
use super::data::{Cell, group, log2_axis, runs_label, select};
use super::error::PlotError;
use super::{Kind, PlotOptions};

/// Latency mode: (column, title, axis label), the first six drawn by default.
const LATENCY_PLOTS: [(&str, &str, &str); 8] = [
    (
        "prefill_latency_s",
        "Prefill latency",
        "prefill latency (s)",
    ),
    (
        "median_decode_latency_s",
        "Decode latency (median step)",
        "decode step latency (s)",
    ),
    ("e2e_latency_s", "End-to-end latency", "E2E latency (s)"),
    (
        "prefill_throughput",
        "Prefill throughput",
        "prefill throughput (tokens/s)",
    ),
    (
        "median_decode_throughput",
        "Decode throughput (median step)",
        "decode throughput (tokens/s)",
    ),
    (
        "e2e_throughput",
        "End-to-end throughput",
        "E2E throughput (tokens/s)",
    ),
    (
        "prefill_mfu",
        "Prefill MFU",
        "prefill MFU (fraction of peak)",
    ),
    ("decode_mbu", "Decode MBU", "decode MBU (fraction of peak)"),
];
const LATENCY_DEFAULT: usize = 6;

/// Serving mode: (file stem, title, axis label, columns).
const SERVING_PLOTS: [(&str, &str, &str, &[&str]); 4] = [
    (
        "ttft",
        "Time to first token",
        "TTFT (ms)",
        &["median_ttft_ms", "p99_ttft_ms"],
    ),
    (
        "itl",
        "Inter-token latency",
        "ITL (ms)",
        &["median_itl_ms", "p99_itl_ms"],
    ),
    (
        "e2e",
        "End-to-end latency",
        "E2E latency (ms)",
        &["median_e2e_ms", "p99_e2e_ms"],
    ),
    (
        "output_throughput",
        "Output throughput",
        "output throughput (tokens/s)",
        &["output_throughput"],
    ),
];

/// Load axes: a config's points, not its identity (pareto series).
const LOAD_AXES: [&str; 4] = ["bsz", "request_rate", "max_concurrency", "num_prompts"];

fn no_data(kind: Kind, missing: impl Into<String>, hint: impl Into<String>) -> PlotError {
    PlotError::NoData {
        kind: kind.word().into(),
        missing: missing.into(),
        hint: hint.into(),
    }
}

/// `--metric` names must be among `allowed` and present in `cells`.
fn check_metrics(
    kind: Kind,
    opts: &PlotOptions,
    allowed: &[&str],
    cells: &[Cell<'_>],
) -> Result<(), PlotError> {
    let present: Vec<String> = allowed
        .iter()
        .filter(|m| cells.iter().any(|c| c.value(m).is_some()))
        .map(|m| m.to_string())
        .collect();
    for m in &opts.metrics {
        if !present.contains(m) {
            return Err(PlotError::UnknownMetric {
                metric: m.clone(),
                kind: kind.word().into(),
                metrics: present,
            });
        }
    }
    Ok(())
}

fn wanted(opts: &PlotOptions, metric: &str) -> bool {
    opts.metrics.is_empty() || opts.metrics.iter().any(|m| m == metric)
}

fn base_chart(kind: Kind, name: String, title: String, opts: &PlotOptions) -> Chart {
    Chart {
        name,
        kind: kind.word().into(),
        title,
        x_label: String::new(),
        y_label: String::new(),
        x_log2: false,
        x_ticks: None,
        series: Vec::new(),
        frontier: Vec::new(),
        marks: Vec::new(),
        marks_label: String::new(),
        command: opts.command.clone(),
    }
}

/// Points (x, metric) of some cells, sorted by x; cells without either left out.
fn points(
    cells: &[Cell<'_>],
    x: impl Fn(&Cell<'_>) -> Option<f64>,
    metric: &str,
) -> Vec<(f64, f64)> {
    let mut pts: Vec<(f64, f64)> = cells
        .iter()
        .filter_map(|c| Some((x(c).filter(|v| v.is_finite())?, c.value(metric)?)))
        .collect();
    pts.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    pts
}

pub fn latency(runs: &[RunRecord], opts: &PlotOptions) -> Result<Vec<Chart>, PlotError> {
    let kind = Kind::Latency;
    let cells: Vec<Cell<'_>> = select(runs, &opts.only)?
        .into_iter()
        .filter(|c| c.number("bsz").is_some())
        .filter(|c| LATENCY_PLOTS.iter().any(|(m, _, _)| c.value(m).is_some()))
        .collect();
    if cells.is_empty() {
        return Err(no_data(
            kind,
            "no ok cell has a bsz and a latency-mode metric (prefill_latency_s, median_decode_latency_s, e2e_latency_s, ...)",
            "latency charts need mode: latency cells (e.g. matrix run --matrix matrices/grok_offline.yaml); \
             --kind serving draws serving cells",
        ));
    }
    let allowed: Vec<&str> = LATENCY_PLOTS.iter().map(|p| p.0).collect();
    check_metrics(kind, opts, &allowed, &cells)?;
    let groups = group(&cells, &["bsz"]);
    let bsz = |c: &Cell<'_>| c.number("bsz");
    let runs_text = runs_label(&cells);
    let mut out = Vec::new();
    for (i, (metric, title, y_label)) in LATENCY_PLOTS.iter().enumerate() {
        let drawn = if opts.metrics.is_empty() {
            i < LATENCY_DEFAULT
        } else {
            wanted(opts, metric)
        };
        if !drawn {
            continue;
        }
        let mut chart = base_chart(
            kind,
            format!("latency-{metric}"),
            format!("{title} vs batch size ({runs_text})"),
            opts,
        );
        chart.x_label = "batch size (requests)".into();
        chart.y_label = (*y_label).into();
        for (name, gc) in &groups {
            let pts = points(gc, bsz, metric);
            if !pts.is_empty() {
                chart.series.push(ChartSeries {
                    name: name.clone(),
                    points: pts,
                    band: Vec::new(),
                    shape: MarkerShape::Circle,
                });
            }
        }
        if chart.series.is_empty() {
            continue;
        }
        chart.x_log2 = log2_axis(
            chart
                .series
                .iter()
                .flat_map(|s| s.points.iter().map(|p| p.0)),
        );
        out.push(chart);
    }
    if out.is_empty() {
        return Err(no_data(
            kind,
            "no cell has a value of the latency metrics",
            "the run's cells failed or were read from a file without metric columns",
        ));
    }
    Ok(out)
}

/// The x axis of serving charts: request rate when it varies (finite),
/// else max concurrency, else whichever has a finite value.
fn serving_x(cells: &[Cell<'_>]) -> Option<&'static str> {
    let candidates = ["request_rate", "max_concurrency"];
    let distinct = |col: &str| {
        let mut v: Vec<f64> = cells
            .iter()
            .filter_map(|c| c.number(col))
            .filter(|x| x.is_finite())
            .collect();
        v.sort_by(f64::total_cmp);
        v.dedup();
        v.len()
    };
    candidates
        .iter()
        .find(|c| distinct(c) > 1)
        .or_else(|| candidates.iter().find(|c| distinct(c) > 0))
        .copied()
}

pub fn serving(runs: &[RunRecord], opts: &PlotOptions) -> Result<Vec<Chart>, PlotError> {
    let kind = Kind::Serving;
    let all: Vec<&str> = SERVING_PLOTS
        .iter()
        .flat_map(|p| p.3.iter().copied())
        .collect();
    let cells: Vec<Cell<'_>> = select(runs, &opts.only)?
        .into_iter()
        .filter(|c| all.iter().any(|m| c.value(m).is_some()))
        .collect();
    if cells.is_empty() {
        return Err(no_data(
            kind,
            "no ok cell has a serving-mode metric (median_ttft_ms, median_itl_ms, median_e2e_ms, output_throughput, ...)",
            "serving charts need mode: serving cells (e.g. matrix run --matrix matrices/grok_online.yaml); \
             --kind latency draws latency cells",
        ));
    }
    let Some(x_col) = serving_x(&cells) else {
        return Err(no_data(
            kind,
            "no cell has a finite request_rate or max_concurrency to draw against",
            "sweep request_rate (e.g. request_rate: [1, 2, 4]) or max_concurrency",
        ));
    };
    check_metrics(kind, opts, &all, &cells)?;
    let cells: Vec<Cell<'_>> = cells
        .into_iter()
        .filter(|c| c.number(x_col).is_some_and(f64::is_finite))
        .collect();
    let groups = group(&cells, &[x_col]);
    let x = |c: &Cell<'_>| c.number(x_col);
    let runs_text = runs_label(&cells);
    let x_word = if x_col == "request_rate" {
        "request rate"
    } else {
        "max concurrency"
    };
    let mut out = Vec::new();
    for (stem, title, y_label, cols) in SERVING_PLOTS.iter() {
        let cols: Vec<&str> = cols.iter().copied().filter(|m| wanted(opts, m)).collect();
        if cols.is_empty() {
            continue;
        }
        let mut chart = base_chart(
            kind,
            format!("serving-{stem}"),
            format!("{title} vs {x_word} ({runs_text})"),
            opts,
        );
        chart.x_label = if x_col == "request_rate" {
            "request rate (requests/s)".into()
        } else {
            "max concurrency (requests in flight)".into()
        };
        chart.y_label = (*y_label).into();
        for (name, gc) in &groups {
            for m in &cols {
                let pts = points(gc, x, m);
                if pts.is_empty() {
                    continue;
                }
                let (label, shape) = match m.split_once('_') {
                    Some(("p99", _)) => (format!("p99 · {name}"), MarkerShape::Triangle),
                    Some(("median", _)) if cols.len() > 1 => {
                        (format!("median · {name}"), MarkerShape::Circle)
                    }
                    _ => (name.clone(), MarkerShape::Circle),
                };
                chart.series.push(ChartSeries {
                    name: label,
                    points: pts,
                    band: Vec::new(),
                    shape,
                });
            }
        }
        if chart.series.is_empty() {
            continue;
        }
        chart.x_log2 = log2_axis(
            chart
                .series
                .iter()
                .flat_map(|s| s.points.iter().map(|p| p.0)),
        );
        out.push(chart);
    }
    if out.is_empty() {
        return Err(no_data(
            kind,
            format!("no cell has a value of the serving metrics at a finite {x_col}"),
            "the run's cells failed or were read from a file without metric columns",
        ));
    }
    Ok(out)
}

/// GPUs a cell used: tp × dp of its row (dp absent: 1); `None` without tp.
fn gpus(c: &Cell<'_>) -> Option<f64> {
    let tp = c.number("tp").filter(|v| *v >= 1.0)?;
    let dp = c.number("dp").filter(|v| *v >= 1.0).unwrap_or(1.0);
    Some(tp * dp)
}

/// (per-user tokens/s, output tokens/s per GPU) of a cell: serving cells
/// from output_throughput and 1000 / median TPOT (ITL when no TPOT);
/// latency cells from the median decode throughput (per user: / bsz).
fn pareto_point(c: &Cell<'_>) -> Option<(f64, f64)> {
    let g = gpus(c)?;
    if let Some(tput) = c.value("output_throughput") {
        let step = c
            .value("median_tpot_ms")
            .filter(|v| *v > 0.0)
            .or_else(|| c.value("median_itl_ms").filter(|v| *v > 0.0))?;
        return Some((1000.0 / step, tput / g));
    }
    let tput = c.value("median_decode_throughput")?;
    let bsz = c.number("bsz").filter(|v| *v > 0.0)?;
    Some((tput / bsz, tput / g))
}

/// The upper-right frontier: points no other point beats on both axes,
/// by x.
pub fn frontier(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut pts: Vec<(f64, f64)> = points.to_vec();
    pts.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.total_cmp(&a.1)));
    let mut out: Vec<(f64, f64)> = Vec::new();
    let mut best = f64::NEG_INFINITY;
    for p in pts {
        if p.1 > best {
            out.push(p);
            best = p.1;
        }
    }
    out.reverse();
    out
}

pub fn pareto(runs: &[RunRecord], opts: &PlotOptions) -> Result<Vec<Chart>, PlotError> {
    let kind = Kind::Pareto;
    if let Some(m) = opts.metrics.first() {
        return Err(PlotError::UnknownMetric {
            metric: m.clone(),
            kind: kind.word().into(),
            metrics: vec![
                "none: pareto always draws output throughput per GPU against tokens/s per user"
                    .into(),
            ],
        });
    }
    let selected = select(runs, &opts.only)?;
    let cells: Vec<Cell<'_>> = selected
        .iter()
        .copied()
        .filter(|c| pareto_point(c).is_some())
        .collect();
    if cells.is_empty() {
        let without_tp = selected.iter().filter(|c| gpus(c).is_none()).count();
        let missing = if !selected.is_empty() && without_tp == selected.len() {
            "no cell has a tp column (GPUs = tp × dp)".to_string()
        } else {
            "no ok cell has output_throughput with median_tpot_ms / median_itl_ms (serving), \
             or median_decode_throughput with bsz (latency), and tp"
                .to_string()
        };
        return Err(no_data(
            kind,
            missing,
            "pareto charts need serving or latency cells of `matrix run` (their rows carry tp and dp)",
        ));
    }
    let groups = group(&cells, &LOAD_AXES);
    let mut chart = base_chart(
        kind,
        "pareto".into(),
        format!(
            "Throughput per GPU vs interactivity ({})",
            runs_label(&cells)
        ),
        opts,
    );
    chart.x_label = "interactivity (output tokens/s per user)".into();
    chart.y_label = "output throughput per GPU (tokens/s/GPU)".into();
    for (name, gc) in &groups {
        let mut pts: Vec<(f64, f64)> = gc.iter().filter_map(pareto_point).collect();
        pts.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
        chart.series.push(ChartSeries {
            name: name.clone(),
            points: pts,
            band: Vec::new(),
            shape: MarkerShape::Circle,
        });
    }
    let all: Vec<(f64, f64)> = chart
        .series
        .iter()
        .flat_map(|s| s.points.iter().copied())
        .collect();
    chart.frontier = frontier(&all);
    Ok(vec![chart])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frontier_keeps_points_no_other_beats_on_both_axes() {
        let pts = [(1.0, 10.0), (2.0, 8.0), (2.0, 5.0), (3.0, 9.0), (4.0, 1.0)];
        assert_eq!(frontier(&pts), vec![(1.0, 10.0), (3.0, 9.0), (4.0, 1.0)]);
    }
}
