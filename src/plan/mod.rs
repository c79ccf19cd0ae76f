//! Rendering (minijinja), grouping and flag validation.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum PlanError {}

impl PlanError {
    pub fn hint(&self) -> Option<String> {
        None
    }
}
