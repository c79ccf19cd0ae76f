//! Errors of `matrix plot`: bad input (exit 2) and failures to draw or
//! write (exit 1).

use camino::Utf8PathBuf;
use thiserror::Error;

use crate::exit::{EXIT_FAILED, EXIT_USAGE};

#[derive(Debug, Error)]
pub enum PlotError {
    #[error("unknown plot kind `{kind}`")]
    UnknownKind { kind: String },
    /// The runs have no cells this kind can draw.
    #[error("nothing to draw for --kind {kind}: {missing}")]
    NoData {
        kind: String,
        /// What is missing, in words (`no cell has bsz and prefill_latency_s`).
        missing: String,
        hint: String,
    },
    #[error("--metric `{metric}`: not a metric of --kind {kind} in these runs")]
    UnknownMetric {
        metric: String,
        kind: String,
        metrics: Vec<String>,
    },
    #[error("--only `{axis}`: no cell of these runs has this column")]
    UnknownAxis { axis: String, axes: Vec<String> },
    #[error("--only {only}: no cell of these runs is left")]
    EmptySelection { only: String, values: Vec<String> },
    #[error("--only `{arg}`: expected AXIS=VALUE[,VALUE...]")]
    OnlySyntax { arg: String },
    #[error("--kind trend draws the history of cells in the results database")]
    TrendNeedsDb,
    #[error("--format `{format}`: expected svg, png or both")]
    UnknownFormat { format: String },
    #[error("cannot draw `{name}`: {reason}")]
    Draw { name: String, reason: String },
    #[error("cannot write {path}")]
    Write {
        path: Utf8PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl PlotError {
    pub fn hint(&self) -> Option<String> {
        match self {
            PlotError::UnknownKind { .. } => Some(format!(
                "--kind is one of {}",
                super::Kind::NAMES.join(", ")
            )),
            PlotError::NoData { hint, .. } => Some(hint.clone()),
            PlotError::UnknownMetric { metrics, .. } => {
                Some(format!("metrics of this kind here: {}", metrics.join(", ")))
            }
            PlotError::UnknownAxis { axes, .. } => Some(format!("columns: {}", axes.join(", "))),
            PlotError::EmptySelection { values, .. } => {
                Some(format!("values present: {}", values.join("; ")))
            }
            PlotError::OnlySyntax { .. } => Some("e.g. --only bsz=1,64".into()),
            PlotError::TrendNeedsDb => Some(
                "give run ids / latest of the database (--db, MATRIX_DB): matrix ingest adds runs to it"
                    .into(),
            ),
            PlotError::UnknownFormat { .. } => None,
            PlotError::Draw { .. } | PlotError::Write { .. } => None,
        }
    }

    pub fn exit_code(&self) -> i32 {
        match self {
            PlotError::Draw { .. } | PlotError::Write { .. } => EXIT_FAILED,
            _ => EXIT_USAGE,
        }
    }
}
