//! Axes, bsz_seq.csv, expansion, filters and constraints: from layer
//! choices and a matrix file to a list of fully resolved cells.

pub mod axis;
pub mod bsz_seq;
pub mod cell;
mod error;
pub mod expand;
pub mod file;
pub mod only;
pub mod scope;

pub use cell::{Cell, Choices, Setup};
pub use error::MatrixError;
pub use expand::{CliChoices, ExpandInput, Expansion, expand};
