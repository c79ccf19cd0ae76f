//! Results of a run on disk: where files go ([`layout`]), the per-cell CSV
//! ([`csv`]), the resume journal ([`journal`]), the manifest ([`manifest`]),
//! engine results → metric columns ([`metrics`]), the executed commands
//! and their `commands.sh` ([`commands`]) and the write/resume protocol
//! that ties CSV and journal together ([`recorder`]).
//!
//! Rule: nothing is kept only in memory. When a cell ends its CSV row and
//! then its journal line are written and synced; a run killed at any
//! instant resumes with no lost and no duplicated rows (see [`recorder`]).
//! Column names and file formats: docs/RESULTS.md.

pub mod commands;
pub mod csv;
pub mod db;
mod error;
pub mod event;
pub mod journal;
pub mod layout;
pub mod manifest;
pub mod metrics;
pub mod recorder;
pub mod status;

pub use commands::{CommandLog, Executed, Role};
pub use csv::{CsvRow, CsvSchema, CsvSink, Mode};
pub use error::RecordError;
pub use journal::{Journal, JournalEntry, JournalState};
pub use layout::{RunLayout, latest};
pub use manifest::{EngineInfo, GitInfo, GpuInfo, Manifest, ManifestInput, ManifestOptions};
pub use metrics::{Utilisation, fill_latency, fill_serving, fill_skipped};
pub use recorder::{Recorder, ResumeReport};
pub use status::Status;
