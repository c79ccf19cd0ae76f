//! The results database (SQLite, `results/matrix.db`): every run, cell,
//! repeat and manifest, rebuildable from the CSVs and raw logs.

pub mod model;

pub use model::{Better, CellKey, CellRecord, RunRecord, RunSummary, Series, SeriesPoint};
