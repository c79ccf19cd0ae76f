//! Layer loading: base → deploy → backend → optional → matrix file → --set →
//! MATRIX_* environment, merged with figment, with provenance per key.

mod error;
pub mod model_dir;

pub use error::ConfigError;
