//! The top-level error: one variant per stage, each a typed error of its own.
//!
//! `main.rs` renders any of these as `error:` / `caused by:` / `hint:` and
//! exits with [`Error::exit_code`]. Stages add a `hint()` so the binary never
//! has to know their internals.

use thiserror::Error;

/// Exit code for usage or configuration errors (bad input).
pub const EXIT_USAGE: i32 = 2;
/// Exit code when some cells failed or a regression was found.
pub const EXIT_FAILED: i32 = 1;
/// Exit code when the user interrupted the run.
pub const EXIT_INTERRUPTED: i32 = 130;

#[derive(Debug, Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Matrix(#[from] crate::matrix::MatrixError),
    #[error(transparent)]
    Plan(#[from] crate::plan::PlanError),
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    #[error(transparent)]
    Sim(#[from] crate::sim::SimError),
    #[error(transparent)]
    Client(#[from] crate::client::ClientError),
    #[error(transparent)]
    Exec(#[from] crate::exec::ExecError),
    #[error(transparent)]
    Parse(#[from] crate::parse::ParseError),
    #[error(transparent)]
    Record(#[from] crate::record::RecordError),
    #[error(transparent)]
    Report(#[from] crate::report::ReportError),
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// What the user can do about it, printed as `hint:` after the chain.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Config(e) => e.hint(),
            Error::Matrix(e) => e.hint(),
            Error::Plan(e) => e.hint(),
            Error::Model(e) => e.hint(),
            Error::Sim(e) => e.hint(),
            Error::Client(e) => e.hint(),
            Error::Exec(e) => e.hint(),
            Error::Parse(e) => e.hint(),
            Error::Record(e) => e.hint(),
            Error::Report(e) => e.hint(),
            Error::Io { .. } => None,
        }
    }

    /// The process exit code this error maps to.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Sim(e) => e.exit_code(),
            Error::Client(e) => e.exit_code(),
            Error::Exec(e) => e.exit_code(),
            Error::Parse(e) => e.exit_code(),
            Error::Record(e) => e.exit_code(),
            Error::Report(e) => e.exit_code(),
            Error::Io { .. } => EXIT_FAILED,
            _ => EXIT_USAGE,
        }
    }
}

/// Did-you-mean: the closest candidate by Jaro-Winkler similarity, if any is
/// close enough to be a plausible typo.
pub fn did_you_mean<'a, I>(input: &str, candidates: I) -> Option<String>
where
    I: IntoIterator<Item = &'a str>,
{
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(input, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn did_you_mean_finds_close_typo() {
        let c = ["tp_size", "ep_size", "mem_fraction_static"];
        assert_eq!(did_you_mean("tp_sise", c).as_deref(), Some("tp_size"));
        assert_eq!(did_you_mean("zzzz", c), None);
    }
}
