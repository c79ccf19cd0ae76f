//! Errors of the matrix stage (axes, expansion, filters, constraints).

use thiserror::Error;

use crate::config::ConfigError;
use crate::config::yaml::Origin;

#[derive(Debug, Error)]
pub enum MatrixError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot read {file}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}:{line}: malformed bsz_seq line `{text}`: {reason}")]
    BszSeq {
        file: String,
        line: usize,
        text: String,
        reason: String,
    },
    #[error("{origin}: {message}")]
    Invalid {
        origin: Origin,
        message: String,
        hint: Option<String>,
    },
    #[error("{origin}: cannot evaluate `{expr}`: {message}")]
    Expr {
        origin: Origin,
        expr: String,
        message: String,
        cell: String,
    },
    #[error("{origin}: constraint `{expr}` rejects cell {cell}")]
    Rejected {
        origin: Origin,
        expr: String,
        cell: String,
        message: Option<String>,
    },
    #[error("the matrix would expand to {count} cells, over the cap of {cap}")]
    TooMany { count: u128, cap: u64 },
    #[error("the matrix is empty: {why}")]
    Empty { why: String },
    #[error("{what} is required but no layer, axis or --set gives it")]
    Missing { what: String, hint: String },
}

impl MatrixError {
    pub fn hint(&self) -> Option<String> {
        match self {
            MatrixError::Config(e) => e.hint(),
            MatrixError::BszSeq { .. } => {
                Some("each line is `bszs;seqs`, both comma lists of positive integers, e.g. `1,2,4;128,256`".into())
            }
            MatrixError::Invalid { hint, .. } => hint.clone(),
            MatrixError::Expr { cell, .. } => Some(format!(
                "the cell was {cell}; every axis, workload key and server key is a variable, \
                 plus tp, ep, dp, nnodes and gpus (always defined)"
            )),
            MatrixError::Rejected { message, .. } => message.clone(),
            MatrixError::TooMany { .. } => Some(
                "narrow the axes, add `exclude:` entries, or raise the cap with --max-cells N \
                 (or run.max_cells)"
                    .into(),
            ),
            MatrixError::Empty { .. } => {
                Some("check `exclude:` and `constraints:`; `matrix plan` lists what they remove".into())
            }
            MatrixError::Missing { hint, .. } => Some(hint.clone()),
            MatrixError::Read { .. } => None,
        }
    }
}
