//! The results database (SQLite, `results/matrix.db`): every run, cell,
//! repeat and manifest, rebuildable from the CSVs and raw logs.

pub mod csv_run;
mod error;
pub mod foreign;
pub mod model;

pub use error::DbError;
pub use model::{Better, CellKey, CellRecord, RunRecord, RunSummary, Series, SeriesPoint};
