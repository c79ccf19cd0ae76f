//! Errors of the report stage (`matrix show`, reading a run's CSV).

use camino::Utf8PathBuf;
use thiserror::Error;

/// What can go wrong reading a run back.
#[derive(Debug, Error)]
pub enum ReportError {
    /// No run by that id (or path) under the results folder.
    #[error("no run `{run}` in {results}")]
    UnknownRun {
        run: String,
        results: Utf8PathBuf,
        /// Close run ids, newest first.
        suggestion: Option<String>,
    },
    /// `latest` asked for, but there is no run at all.
    #[error("no runs in {results}")]
    NoRuns { results: Utf8PathBuf },
    /// A run folder without its CSV.
    #[error("run {run_id} has no CSV at {path}")]
    NoCsv { run_id: String, path: Utf8PathBuf },
    /// The CSV cannot be read as a CSV.
    #[error("{path}: cannot read the run's CSV: {reason}")]
    Csv { path: Utf8PathBuf, reason: String },
    /// `--only` without `=`.
    #[error("--only `{arg}`: expected AXIS=VALUE[,VALUE...]")]
    OnlySyntax { arg: String },
    /// `--only` on a column that is not an axis of the run's CSV.
    #[error("--only `{axis}`: not an axis column of {path}")]
    UnknownAxis {
        axis: String,
        path: Utf8PathBuf,
        suggestion: Option<String>,
        axes: Vec<String>,
    },
    /// `--only` asked for a value no row has.
    #[error("--only {axis}={value}: no row of {path} has this value")]
    UnknownValue {
        axis: String,
        value: String,
        path: Utf8PathBuf,
        values: Vec<String>,
    },
    /// No row's cell id starts with the given id.
    #[error("no cell `{cell}` in run {run_id}")]
    UnknownCell {
        cell: String,
        run_id: String,
        path: Utf8PathBuf,
    },
    /// Several cells start with the given prefix.
    #[error("cell `{cell}` is ambiguous in run {run_id}: {} cells start with it", matches.len())]
    AmbiguousCell {
        cell: String,
        run_id: String,
        matches: Vec<String>,
    },
    /// A run file could not be read.
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Record(#[from] crate::record::RecordError),
    /// `matrix regressions --since` that is neither an age nor a time.
    #[error("--since `{since}`: neither an age nor a date")]
    BadSince { since: String },
    /// `matrix compare --metric` names a metric neither run has.
    #[error("--metric `{metric}`: no judged metric of that name in either run")]
    UnknownMetric {
        metric: String,
        metrics: Vec<String>,
    },
    /// `matrix compare --only` on a column that is no axis of either run.
    #[error("--only `{axis}`: not an axis of either run")]
    CompareUnknownAxis { axis: String, axes: Vec<String> },
}

impl ReportError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            ReportError::UnknownRun { suggestion, .. } => Some(match suggestion {
                Some(s) => format!("did you mean `{s}`? (`latest` names the newest run)"),
                None => "give a run id from results/raw_output/, a run folder, or `latest`".into(),
            }),
            ReportError::NoRuns { .. } => Some(
                "run a sweep first (`matrix run`), or point --results at another folder".into(),
            ),
            ReportError::NoCsv { run_id, .. } => Some(format!(
                "the run stopped before it wrote its CSV; resume it with `matrix run --resume {run_id}`"
            )),
            ReportError::Csv { .. } => Some(
                "the CSV was edited or damaged: every row must have the header's columns \
                 (docs/RESULTS.md lists them)"
                    .into(),
            ),
            ReportError::OnlySyntax { .. } => Some("e.g. `--only bsz=1,64`".into()),
            ReportError::UnknownAxis {
                suggestion, axes, ..
            } => Some(match suggestion {
                Some(s) => format!("did you mean `{s}`? axis columns: {}", axes.join(", ")),
                None => format!("axis columns: {}", axes.join(", ")),
            }),
            ReportError::UnknownValue { axis, values, .. } => Some(format!(
                "values of {axis} in this run: {}",
                values.join(", ")
            )),
            ReportError::UnknownCell { .. } => Some(
                "give a cell id (or a unique start of one) from the run's table: `matrix show RUN`"
                    .into(),
            ),
            ReportError::AmbiguousCell { matches, .. } => {
                Some(format!("give more of the id: {}", matches.join(", ")))
            }
            ReportError::Record(e) => e.hint(),
            ReportError::Io { .. } => None,
            ReportError::BadSince { .. } => Some(
                "give an age (`7d`, `12h`, `30m`), a date (`2026-11-01`) or an RFC 3339 time"
                    .into(),
            ),
            ReportError::UnknownMetric { metrics, .. } => Some(format!(
                "judged metrics of these runs: {}",
                metrics.join(", ")
            )),
            ReportError::CompareUnknownAxis { axes, .. } => {
                Some(format!("axes of these runs: {}", axes.join(", ")))
            }
        }
    }

    /// Exit code: bad input 2, files that cannot be read 1.
    pub fn exit_code(&self) -> i32 {
        match self {
            ReportError::Io { .. } => crate::exit::EXIT_FAILED,
            ReportError::Record(e) => e.exit_code(),
            _ => crate::exit::EXIT_USAGE,
        }
    }

    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        ReportError::Io {
            context: context.into(),
            source,
        }
    }
}
