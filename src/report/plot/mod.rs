//! `matrix plot`: static charts of runs, drawn in Rust (plotters), as SVG
//! text and, on request, PNG bytes. No system font is needed: DejaVu Sans is
//! compiled in (assets/fonts/) and registered with plotters' ab_glyph text
//! engine, which measures the text of both backends and rasterises the PNG's.
//!
//! - [`draw`]: the charts of one [`Kind`] (latency, serving, pareto) of the
//!   cells of some runs ([`RunRecord`]s, from the database or a path).
//! - [`draw_trend`]: a metric of chosen cells over the runs of the database
//!   ([`Series`] from `Db::all_series`), the spread of repeats as a band and
//!   open regressions ([`crate::report::regressions`]) marked.
//!
//! A [`Plot`] carries its SVG text (title, axis labels with units, legend,
//! and the command that made it in `<desc>`, `<metadata>` and a caption
//! line); [`Plot::png`] draws the same chart into a bitmap. Output is
//! deterministic: no time stamps, series in a stable order.
//!
//! docs/PLOTS.md describes every kind.

mod chart;
mod data;
mod error;
mod kinds;
mod trend;

pub use chart::{Chart, ChartSeries, Marker, MarkerShape};
pub use data::{Cell, select as select_cells};
pub use error::PlotError;
pub use trend::{TrendInput, TrendSpread};

use crate::record::db::RunRecord;

/// What a plot shows (`--kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Latency mode: prefill / decode / E2E latency and throughput against
    /// batch size, one line per input length (and per swept config).
    Latency,
    /// Serving mode: TTFT / ITL / E2E (median, p99) and output throughput
    /// against request rate or concurrency.
    Serving,
    /// Output throughput per GPU against per-user tokens/s, frontier marked.
    Pareto,
    /// A metric of chosen cells over runs (needs the database).
    Trend,
}

impl Kind {
    pub const NAMES: [&'static str; 4] = ["latency", "serving", "pareto", "trend"];

    pub fn parse(s: &str) -> Result<Kind, PlotError> {
        match s {
            "latency" => Ok(Kind::Latency),
            "serving" => Ok(Kind::Serving),
            "pareto" => Ok(Kind::Pareto),
            "trend" => Ok(Kind::Trend),
            _ => Err(PlotError::UnknownKind { kind: s.into() }),
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            Kind::Latency => "latency",
            Kind::Serving => "serving",
            Kind::Pareto => "pareto",
            Kind::Trend => "trend",
        }
    }
}

/// What every kind takes besides the data.
#[derive(Debug, Clone)]
pub struct PlotOptions {
    /// `--only AXIS=VALUES`: keep the cells with one of these values.
    pub only: Vec<(String, Vec<String>)>,
    /// `--metric NAME`: only these metric columns (empty: the kind's own).
    pub metrics: Vec<String>,
    /// The command that made the plot, written into every file.
    pub command: String,
    /// Size in pixels (SVG user units; the PNG's pixels).
    pub width: u32,
    pub height: u32,
}

impl Default for PlotOptions {
    fn default() -> Self {
        PlotOptions {
            only: Vec::new(),
            metrics: Vec::new(),
            command: String::new(),
            width: 960,
            height: 600,
        }
    }
}

/// One drawn chart.
#[derive(Debug, Clone)]
pub struct Plot {
    /// File stem (`latency-e2e_latency_s`): `<name>.svg`, `<name>.png`.
    pub name: String,
    pub title: String,
    /// The whole SVG document.
    pub svg: String,
    /// Data points drawn (markers of every series, frontier not counted).
    pub points: usize,
    /// Data series drawn (the frontier line and regression marks not counted).
    pub series: usize,
    /// What was drawn, to draw it again into a bitmap ([`Plot::png`]).
    pub chart: Chart,
}

impl Plot {
    fn of(chart: Chart, opts: &PlotOptions) -> Result<Plot, PlotError> {
        let svg = chart.svg(opts.width, opts.height)?;
        Ok(Plot {
            name: chart.name.clone(),
            title: chart.title.clone(),
            svg,
            points: chart.series.iter().map(|s| s.points.len()).sum(),
            series: chart.series.len(),
            chart,
        })
    }

    /// The same chart as a PNG file (`width` × `height` pixels).
    pub fn png(&self, width: u32, height: u32) -> Result<Vec<u8>, PlotError> {
        self.chart.png(width, height)
    }
}

/// The charts of `kind` for the cells of `runs` (several runs: their cells
/// together, each series labelled with its run when more than one run
/// contributes). [`Kind::Trend`] needs the database: see [`draw_trend`].
pub fn draw(kind: Kind, runs: &[RunRecord], opts: &PlotOptions) -> Result<Vec<Plot>, PlotError> {
    let charts = match kind {
        Kind::Latency => kinds::latency(runs, opts)?,
        Kind::Serving => kinds::serving(runs, opts)?,
        Kind::Pareto => kinds::pareto(runs, opts)?,
        Kind::Trend => return Err(PlotError::TrendNeedsDb),
    };
    charts.into_iter().map(|c| Plot::of(c, opts)).collect()
}

/// The trend charts: one per metric, a line per chosen cell over the runs.
pub fn draw_trend(input: &TrendInput, opts: &PlotOptions) -> Result<Vec<Plot>, PlotError> {
    trend::charts(input, opts)?
        .into_iter()
        .map(|c| Plot::of(c, opts))
        .collect()
}
