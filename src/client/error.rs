//! Errors of the load generator, one variant per thing that can go wrong
//! before or around the measured run. Per-request failures during the run
//! are not errors: they are counted by kind (see [`super::record::ErrorKind`]).

use thiserror::Error;

/// Everything `matrix bench` can fail with.
#[derive(Debug, Error)]
pub enum ClientError {
    /// A flag value that makes no sense (exit code 2).
    #[error("invalid argument {flag}: {reason}")]
    BadArg { flag: &'static str, reason: String },
    /// A file the user named could not be read or written.
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// The tokenizer or dataset file could not be parsed.
    #[error("cannot load {what} from {path}: {reason}")]
    Load {
        what: &'static str,
        path: String,
        reason: String,
    },
    /// The server never answered 200 on its readiness endpoint.
    #[error("server at {url} was not ready within {timeout_s}s")]
    NotReady { url: String, timeout_s: f64 },
    /// `/v1/models` did not name a model and `--model` was not given.
    #[error("cannot discover the served model name from {url}: {reason}")]
    NoModel { url: String, reason: String },
    /// Every warmup request failed, so the measured run was not started.
    #[error("warmup failed: {first}")]
    WarmupFailed { first: String },
    /// Every measured request failed.
    #[error("all {count} requests failed; first error: {first}")]
    AllFailed { count: usize, first: String },
    /// A management call (`/flush_cache`, a batch request) failed.
    #[error("{what} failed: {reason}")]
    Request { what: String, reason: String },
    /// The async runtime could not be built.
    #[error("cannot start the async runtime")]
    Runtime(#[source] std::io::Error),
}

impl ClientError {
    /// Shorthand for [`ClientError::BadArg`].
    pub fn bad_arg(flag: &'static str, reason: impl Into<String>) -> Self {
        ClientError::BadArg {
            flag,
            reason: reason.into(),
        }
    }

    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            ClientError::NotReady { .. } => Some(
                "is the server running? raise --ready-check-timeout-sec for slow starts".into(),
            ),
            ClientError::NoModel { .. } => Some("pass --model <served model name>".into()),
            ClientError::Load { what: "tokenizer", .. } => {
                Some("--tokenizer takes a directory holding tokenizer.json".into())
            }
            ClientError::AllFailed { .. } | ClientError::WarmupFailed { .. } => Some(
                "check --backend and --base-url against the server's API; --output-details lists every error"
                    .into(),
            ),
            _ => None,
        }
    }

    /// Process exit code: 2 for bad input, 1 for everything else.
    pub fn exit_code(&self) -> i32 {
        match self {
            ClientError::BadArg { .. } | ClientError::Load { .. } => crate::exit::EXIT_USAGE,
            _ => crate::exit::EXIT_FAILED,
        }
    }
}
