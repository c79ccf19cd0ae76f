//! Engine outputs → metrics: SGLang one_batch result lines and stdout
//! ([`one_batch`]) and bench_serving `--output-file` lines ([`serving`]).
//! `matrix parse`, which turns such files made outside `matrix` into the
//! CSV rows `matrix run` writes, is glue in src/app/parse.rs: this module
//! imports no flow stage.

pub mod failure;
pub mod one_batch;
pub mod progress;
pub mod pyjson;
pub mod serving;

mod error;

pub use error::ParseError;
pub use failure::{Failure, FailureClass};
pub use one_batch::{Combos, Entry, LatencyResult, Skipped, oom_in};
pub use serving::{Percentiles, ServingResult};
