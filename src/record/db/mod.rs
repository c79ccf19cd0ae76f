//! The results database (SQLite, `results/matrix.db`): every run, cell,
//! repeat and manifest, rebuildable from the CSVs and raw logs.

pub mod csv_run;
mod error;
pub mod folder;
pub mod foreign;
pub mod model;
pub mod schema;
pub mod sink;
pub mod store;

pub use error::{DbError, REBUILD_HINT};
pub use model::{Better, CellKey, CellRecord, RunRecord, RunSummary, Series, SeriesPoint};
pub use store::{Bulk, Db, Ingested};
