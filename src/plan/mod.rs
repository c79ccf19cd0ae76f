//! Rendering (minijinja), grouping and flag validation: from cells to the
//! exact command lines, all checked before anything is spawned.

mod build;
mod error;
pub mod flags;
mod model;
pub mod output;
pub mod render;
pub mod source;
pub mod translate;

pub use build::{PlanInput, build};
pub use error::PlanError;
pub use model::{Command, Group, Layers, ModelStage, Plan, PlanCell, Ready, Results};
