//! Errors of the config stage: each names the file, and the line and column
//! where they are known.

use camino::Utf8PathBuf;
use thiserror::Error;

use super::yaml::Origin;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read {file}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{origin}: YAML syntax error: {message}")]
    Syntax { origin: Origin, message: String },
    #[error("{origin}: unknown key `{key}`")]
    UnknownKey {
        origin: Origin,
        key: String,
        suggestion: Option<String>,
        known: String,
    },
    #[error("{origin}: invalid value for `{key}`: expected {expected}")]
    InvalidValue {
        origin: Origin,
        key: String,
        expected: String,
    },
    #[error("unknown {kind} layer `{name}` (no file {path})")]
    UnknownLayer {
        kind: &'static str,
        name: String,
        path: Utf8PathBuf,
        available: Vec<String>,
    },
    #[error("unknown model `{name}` (no folder {dir})")]
    UnknownModel {
        name: String,
        dir: Utf8PathBuf,
        available: Vec<String>,
    },
    #[error("model `{model}` has no mconf `{mconf}` (no file {path})")]
    UnknownMconf {
        model: String,
        mconf: String,
        path: Utf8PathBuf,
        available: Vec<String>,
    },
    #[error("--set {arg}: {reason}")]
    BadSet { arg: String, reason: String },
    #[error("environment variable {name}: {reason}")]
    BadEnv { name: String, reason: String },
    #[error("{origin}: {message}")]
    Engine {
        origin: Origin,
        message: String,
        hint: Option<String>,
    },
    #[error("merging layers: {0}")]
    Merge(String),
}

impl ConfigError {
    pub fn hint(&self) -> Option<String> {
        match self {
            ConfigError::UnknownKey {
                suggestion, known, ..
            } => Some(match suggestion {
                Some(s) => format!("did you mean `{s}`? known keys here: {known}"),
                None => format!("known keys here: {known}"),
            }),
            ConfigError::UnknownLayer {
                kind,
                name,
                available,
                ..
            } => Some(list_hint(&format!("{kind} layers"), name, available)),
            ConfigError::UnknownModel {
                name, available, ..
            } => Some(list_hint("models", name, available)),
            ConfigError::UnknownMconf {
                mconf, available, ..
            } => Some(list_hint("mconfs", mconf, available)),
            ConfigError::BadSet { .. } => Some(
                "use `--set key=value` for a server key, or `--set run.key=value`, \
                 `--set workload.key=value`, `--set env.NAME=value`"
                    .into(),
            ),
            ConfigError::BadEnv { .. } => Some(
                "MATRIX_SERVER__KEY, MATRIX_RUN__KEY and MATRIX_WORKLOAD__KEY set one key; \
                 values are parsed as YAML scalars"
                    .into(),
            ),
            ConfigError::Engine { hint, .. } => hint.clone(),
            ConfigError::Syntax { .. } => {
                Some("check indentation, colons and closing brackets near that line".into())
            }
            _ => None,
        }
    }
}

/// "did you mean X? available: a, b, c"
pub(crate) fn list_hint(what: &str, input: &str, available: &[String]) -> String {
    let mut hint = String::new();
    if let Some(m) = crate::error::did_you_mean(input, available.iter().map(String::as_str)) {
        hint.push_str(&format!("did you mean `{m}`? "));
    }
    if available.is_empty() {
        hint.push_str(&format!("no {what} are available"));
    } else {
        hint.push_str(&format!("available {what}: {}", available.join(", ")));
    }
    hint
}
