//! What a person sees and keeps of a run: consumers of the run's typed
//! events ([`crate::record::event`]) and the results table.
//!
//! - [`display`]: the terminal display (progress bars on a terminal, one
//!   plain line per finished cell in pipes and CI, the end-of-run table).
//! - [`json`]: `matrix run --json`, one event per line.
//! - [`summary`]: `<run_dir>/summary.json`, written when the run ends.
//! - [`table`]: the results table of a run's CSV (varying axes × headline
//!   metrics), shared by the end of a run and `matrix show`.
//! - [`show`]: `matrix show RUN [CELL]`.
//! - [`serve`]: `matrix serve`, the read-only web dashboard.
//! - [`plot`]: `matrix plot`: SVG / PNG charts of runs and trends.

pub mod compare;
pub mod display;
mod error;
pub mod json;
pub mod plot;
pub mod regressions;
pub mod serve;
pub mod show;
pub mod stats;
pub mod summary;
pub mod table;

pub use display::{Display, DisplayOptions};
pub use error::ReportError;
pub use json::JsonLines;
pub use summary::SummaryFile;
