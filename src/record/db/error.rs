//! Errors of the results database and of reading sources into it.

use camino::Utf8PathBuf;

/// How to recreate a database from the CSVs and run folders.
pub const REBUILD_HINT: &str =
    "move it aside; `matrix db rebuild` recreates it from the CSVs and run folders";

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
    /// SQLite failed on a database that opened fine (disk full, locked past
    /// the busy timeout).
    #[error("results database {path}: {context}: {source}")]
    Sqlite {
        path: Utf8PathBuf,
        context: String,
        #[source]
        source: rusqlite::Error,
    },
    /// Not a SQLite database, or a damaged one.
    #[error("results database {path} is not readable: {reason}")]
    Corrupt { path: Utf8PathBuf, reason: String },
    /// Written by a newer matrix.
    #[error(
        "results database {path} has schema version {found}; this matrix knows up to {supported}"
    )]
    NewerSchema {
        path: Utf8PathBuf,
        found: i64,
        supported: i64,
    },
    #[error("no results database at {path}")]
    Missing { path: Utf8PathBuf },
    #[error("no run `{selector}` in the results database")]
    UnknownRun { selector: String, hint: String },
    /// A value given on the command line that cannot be read.
    #[error("{what}")]
    Invalid { what: String, hint: String },
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
            DbError::Sqlite { .. } => Some(
                "another process may hold the database locked; retry, or `matrix db rebuild`"
                    .into(),
            ),
            DbError::Corrupt { .. } => Some(REBUILD_HINT.into()),
            DbError::NewerSchema { .. } => Some(
                "use the newer matrix that wrote it, or point --db / MATRIX_DB at another file"
                    .into(),
            ),
            DbError::Missing { .. } => Some(
                "run `matrix run` or `matrix ingest PATH...` first, or point --db / MATRIX_DB at the database"
                    .into(),
            ),
            DbError::UnknownRun { hint, .. } | DbError::Invalid { hint, .. } => Some(hint.clone()),
        }
    }

    /// 2 for bad input (a bad source, a corrupt / newer / missing
    /// database, an unknown run); 1 for I/O and SQLite failures.
    pub fn exit_code(&self) -> i32 {
        match self {
            DbError::Io { .. } | DbError::Sqlite { .. } => 1,
            _ => 2,
        }
    }
}
