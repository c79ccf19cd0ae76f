//! Layer loading: base → deploy → backend → optional → matrix file → --set →
//! MATRIX_* environment, merged with figment, with provenance per key.
//!
//! Every file is read into a [`yaml::YamlFile`] that can say where each key
//! stands, so every error names the file, line and column.

pub mod cpus;
pub mod engine;
mod error;
pub mod layer;
pub mod merge;
pub mod model_dir;
pub mod overrides;
pub mod resolve;
pub mod schema;
pub mod sections;
pub mod yaml;

pub use error::{ConfigError, FlatFix, FlatKey, FlatStyle};
pub use layer::{Choice, LayerStore};
pub use merge::{MergeInput, Resolved};
pub use sections::{JsonMap, Section, Sections};
