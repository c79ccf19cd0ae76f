//! Errors of the results writer.

use camino::Utf8PathBuf;
use thiserror::Error;

/// What can go wrong writing or resuming a run's records.
#[derive(Debug, Error)]
pub enum RecordError {
    /// A file or folder could not be created, read, written or synced.
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// Resuming with a plan whose CSV columns differ from the existing file's.
    #[error("{path}: the CSV header does not match this plan's columns")]
    HeaderMismatch {
        path: Utf8PathBuf,
        expected: Vec<String>,
        found: Vec<String>,
    },
    /// A row names a column the CSV does not have (a bug in the caller).
    #[error("row has column `{column}`, which is not in the CSV header")]
    UnknownColumn { column: String },
    /// A complete journal line that is not a journal entry.
    #[error("{path}:{line}: corrupt journal line: {reason}")]
    CorruptJournal {
        path: Utf8PathBuf,
        line: usize,
        reason: String,
    },
    /// A cell was recorded twice in one run.
    #[error("cell {cell_id} is already recorded in this run")]
    AlreadyDone { cell_id: String },
    /// A new run's folder or CSV is already there: another run owns that
    /// id (nothing of it is touched).
    #[error("run {run_id} already exists: {path}")]
    RunExists { run_id: String, path: Utf8PathBuf },
    /// manifest.json is not what `matrix run` writes.
    #[error("{path}: cannot read the run manifest: {reason}")]
    Manifest { path: Utf8PathBuf, reason: String },
}

impl RecordError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            RecordError::HeaderMismatch { expected, found, .. } => {
                let missing: Vec<_> = expected.iter().filter(|c| !found.contains(c)).collect();
                let extra: Vec<_> = found.iter().filter(|c| !expected.contains(c)).collect();
                Some(format!(
                    "resume with the same plan (same axes and modes) as the run started with, \
                     or start a new run; new columns: {missing:?}, columns no longer produced: {extra:?}"
                ))
            }
            RecordError::CorruptJournal { .. } => Some(
                "the journal was edited or damaged; fix or remove that line (its cell will run again)"
                    .into(),
            ),
            RecordError::RunExists { run_id, .. } => Some(format!(
                "a new run never writes into another run's files; resume that run with \
                 `matrix run --resume {run_id}`, or choose another --run-name"
            )),
            RecordError::Manifest { .. } => {
                Some("is this a run folder written by `matrix run`?".into())
            }
            RecordError::Io { .. }
            | RecordError::UnknownColumn { .. }
            | RecordError::AlreadyDone { .. } => None,
        }
    }

    /// Exit code: environment failures are 1, mismatches with what the user
    /// asked for are 2.
    pub fn exit_code(&self) -> i32 {
        match self {
            RecordError::Io { .. }
            | RecordError::UnknownColumn { .. }
            | RecordError::AlreadyDone { .. } => crate::exit::EXIT_FAILED,
            _ => crate::exit::EXIT_USAGE,
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        RecordError::Io {
            context: context.into(),
            source,
        }
    }
}
