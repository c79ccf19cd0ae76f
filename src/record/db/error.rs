//! Errors of the results database and of reading sources into it.

use camino::Utf8PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// A file that is not what its name or content says it is.
    #[error("{path}{}: {reason}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    BadSource {
        path: Utf8PathBuf,
        line: Option<u64>,
        reason: String,
        hint: Option<String>,
    },
}

impl DbError {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> DbError {
        DbError::Io {
            context: context.into(),
            source,
        }
    }

    pub fn bad(path: &camino::Utf8Path, line: Option<u64>, reason: impl Into<String>) -> DbError {
        DbError::BadSource {
            path: path.to_owned(),
            line,
            reason: reason.into(),
            hint: None,
        }
    }

    /// What to do about it, when there is something to say.
    pub fn hint(&self) -> Option<String> {
        match self {
            DbError::BadSource { hint, .. } => hint.clone(),
            DbError::Io { .. } => None,
        }
    }
}
