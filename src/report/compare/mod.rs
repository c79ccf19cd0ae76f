//! `matrix compare BASE NEW`: cells matched by their axis values, every
//! judged metric compared with a verdict that knows the noise.

pub mod model;

pub use model::{CompareOptions, CompareReport, HistorySource, ManifestDiff, NoHistory, Row, Side};
