//! Errors of the plan stage: rendering, grouping and flag checks.

use thiserror::Error;

use crate::config::ConfigError;
use crate::config::yaml::Origin;
use crate::matrix::MatrixError;

#[derive(Debug, Error)]
pub enum PlanError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Matrix(#[from] MatrixError),
    #[error(
        "{origin}: unknown {engine} flag `--{flag}` (server key `{key}`, set by {source_name})"
    )]
    UnknownFlag {
        origin: Origin,
        engine: String,
        key: String,
        flag: String,
        source_name: String,
        suggestion: Option<String>,
        table: String,
        /// Extra advice (an engine that translates shared keys).
        note: Option<String>,
    },
    #[error("{origin}: invalid value {value} for `{key}` (set by {source_name}): {problem}")]
    BadValue {
        origin: Origin,
        key: String,
        value: String,
        source_name: String,
        problem: String,
        choices: Option<Vec<String>>,
    },
    #[error("{origin}: `{key}` (set by {source_name}) is rendered by matrix itself")]
    Managed {
        origin: Origin,
        key: String,
        source_name: String,
        how: String,
    },
    #[error("{origin}: template error in `{template}`: {message}")]
    Template {
        origin: Origin,
        template: String,
        message: String,
    },
    #[error("{origin}: the rendered command has an unknown flag `{flag}` for {table}")]
    UnknownArgvFlag {
        origin: Origin,
        flag: String,
        table: String,
        suggestion: Option<String>,
    },
    #[error("cannot read the flag table {file}: {message}")]
    FlagTable { file: String, message: String },
    #[error("multi-node deployment: {message}")]
    MultiNode { message: String },
    #[error(transparent)]
    Preflight(#[from] super::preflight::PreflightError),
    #[error(
        "--profile: cells `{first}` and `{second}` would write the same Nsight Systems artifact `{path}`"
    )]
    DuplicateProfileArtifact {
        path: String,
        first: String,
        second: String,
    },
}

impl PlanError {
    pub fn hint(&self) -> Option<String> {
        match self {
            PlanError::Config(e) => e.hint(),
            PlanError::Matrix(e) => e.hint(),
            PlanError::UnknownFlag {
                suggestion,
                table,
                note: Some(note),
                ..
            } => Some(match suggestion {
                Some(s) => format!("did you mean `{s}`? Otherwise {note} (flags checked against {table})"),
                None => format!("{note} (flags checked against {table})"),
            }),
            PlanError::UnknownFlag {
                suggestion, table, ..
            } => Some(match suggestion {
                Some(s) => format!("did you mean `{s}`? (flags checked against {table})"),
                None => format!("flags are checked against {table}; engine-only keys go under `engines.<engine>.server:`"),
            }),
            PlanError::BadValue { choices, .. } => choices
                .as_ref()
                .map(|c| format!("choices: {}", c.join(", "))),
            PlanError::Managed { how, .. } => Some(how.clone()),
            PlanError::Template { .. } => Some(
                "templates are strict: every variable must exist (see docs/ENGINES.md for the variables)".into(),
            ),
            PlanError::UnknownArgvFlag { suggestion, .. } => suggestion
                .as_ref()
                .map(|s| format!("did you mean `{s}`?")),
            PlanError::FlagTable { .. } => None,
            PlanError::Preflight(e) => e.hint(),
            PlanError::DuplicateProfileArtifact { .. } => Some(
                "nsys --force-overwrite would keep only the last of them; give the cells distinct ids (this is a bug in matrix: please report it)".into(),
            ),
            PlanError::MultiNode { .. } => Some(
                "every node runs `matrix run ... --ip MASTER_IP --rank N` (N = 0 on the master)".into(),
            ),
        }
    }
}
