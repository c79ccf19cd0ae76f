//! The simulator's error type. Usage mistakes (bad flags, bad fault specs,
//! unreadable model config) map to exit code 2 like argparse does; runtime
//! failures (port taken, model does not fit) map to 1 like a crashed server.

use thiserror::Error;

use crate::exit::{EXIT_FAILED, EXIT_USAGE};

#[derive(Debug, Error)]
pub enum SimError {
    /// A flag value that does not parse or is out of range.
    #[error("argument {flag}: invalid value {value:?}: {reason}")]
    BadFlag {
        flag: String,
        value: String,
        reason: String,
    },
    /// A token that is not a `--flag` and follows no flag.
    #[error("unrecognized argument {0:?}")]
    Positional(String),
    /// A flag SGLang requires.
    #[error("the following arguments are required: {0}")]
    MissingFlag(&'static str),
    /// The model config or GPU name was rejected by the cost model.
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    /// A bad `MATRIX_SIM_*` environment variable.
    #[error("bad {var}={value:?}: {reason}")]
    BadEnv {
        var: &'static str,
        value: String,
        reason: String,
    },
    /// The weights leave no room for a KV cache.
    #[error(
        "not enough memory: weights need {weight_gb:.2} GB but only {budget_gb:.2} GB is available for weights and KV cache"
    )]
    NoKvRoom { weight_gb: f64, budget_gb: f64 },
    /// Any I/O failure while running (bind, write results, spawn).
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl SimError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            SimError::MissingFlag(_) => Some(
                "pass --model-path <dir> where <dir>/config.json is a Hugging Face config".into(),
            ),
            SimError::Model(e) => e.hint(),
            SimError::NoKvRoom { .. } => Some(
                "raise --mem-fraction-static, --tp-size or --sim-gpu memory, or use a smaller model config"
                    .into(),
            ),
            SimError::BadEnv { var, .. } => Some(format!("see docs/SIM.md for the syntax of {var}")),
            SimError::Positional(_) => Some("simulator flags look like SGLang's: --flag value".into()),
            _ => None,
        }
    }

    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            SimError::NoKvRoom { .. } | SimError::Io { .. } => EXIT_FAILED,
            _ => EXIT_USAGE,
        }
    }

    pub(crate) fn bad_flag(flag: &str, value: &str, reason: impl Into<String>) -> Self {
        SimError::BadFlag {
            flag: flag.to_string(),
            value: value.to_string(),
            reason: reason.into(),
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        SimError::Io {
            context: context.into(),
            source,
        }
    }
}
