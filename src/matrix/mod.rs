//! Axes, bsz_seq.csv, expansion, filters and constraints: from layer
//! choices and a matrix file to a list of fully resolved cells.
//!
//! [`expand`] drives it: `groups` (command-line choices and the file's
//! axes), `overrides` (`--set`, `MATRIX_*`, `--gpu`), `product` (every
//! point, bsz_seq products, `exclude:`), `expander` (points → cells),
//! `derive`, `constraints` (pruning) and `describe` (messages).

pub mod axis;
pub mod bsz_seq;
pub mod cell;
mod constraints;
mod derive;
mod describe;
mod error;
pub mod expand;
mod expander;
pub mod file;
mod groups;
pub mod only;
mod overrides;
mod product;
pub mod scope;

pub use cell::{Cell, Choices, Setup};
pub use constraints::Pruned;
pub use describe::{describe, jinja_message};
pub use error::MatrixError;
pub use expand::{ExpandInput, Expansion, expand, shown};
pub use groups::CliChoices;
