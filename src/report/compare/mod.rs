//! `matrix compare BASE NEW`: cells matched by their axis values, every
//! judged metric compared with a verdict that knows the noise.

pub mod build;
pub mod judge;
pub mod manifest_diff;
pub mod model;
pub mod render_common;
pub mod render_html;
pub mod render_json;
pub mod render_md;
pub mod render_term;

pub use build::{MetricInput, OnlyFilter, build, parse_only};
pub use judge::{DbHistory, judge};
pub use model::{CompareOptions, CompareReport, HistorySource, ManifestDiff, NoHistory, Row, Side};
pub use render_html::render_html;
pub use render_json::render_json;
pub use render_md::render_md;
pub use render_term::render_term;
