//! The top-level error: one variant per stage, each a typed error of its own.
//!
//! `main.rs` renders any of these as `error:` / `caused by:` / `hint:` and
//! exits with [`Error::exit_code`]. Stages add a `hint()` so the binary never
//! has to know their internals. Exit codes live in [`crate::exit`] and
//! did-you-mean in [`crate::suggest`], leaf modules every stage imports.

use thiserror::Error;

use crate::exit::{EXIT_FAILED, EXIT_USAGE};

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
    #[error(transparent)]
    Db(#[from] crate::record::db::DbError),
    #[error(transparent)]
    Plot(#[from] crate::report::plot::PlotError),
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
            Error::Db(e) => e.hint(),
            Error::Plot(e) => e.hint(),
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
            Error::Db(e) => e.exit_code(),
            Error::Plot(e) => e.exit_code(),
            Error::Io { .. } => EXIT_FAILED,
            _ => EXIT_USAGE,
        }
    }
}
