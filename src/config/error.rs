//! Errors of the config stage: each names the file, and the line and column
//! where they are known.

use camino::Utf8PathBuf;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ConfigError {
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
}

impl ConfigError {
    pub fn hint(&self) -> Option<String> {
        match self {
            ConfigError::UnknownModel {
                name, available, ..
            } => Some(list_hint("models", name, available)),
            ConfigError::UnknownMconf {
                mconf, available, ..
            } => Some(list_hint("mconfs", mconf, available)),
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
