//! Axes, bsz_seq.csv, expansion, filters and constraints.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum MatrixError {}

impl MatrixError {
    pub fn hint(&self) -> Option<String> {
        None
    }
}
