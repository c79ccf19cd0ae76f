//! matrix: declarative, reproducible benchmark sweeps of LLM inference servers.
//!
//! Data flow: cli → [`config`] → [`matrix`] → [`plan`] → [`exec`] → [`run`] → [`record`] → report.
//! Side modules: [`model`] (cost model), [`sim`] (simulated engine),
//! [`client`] (load generator), [`parse`] (engine outputs → metrics).
//! Leaf modules: [`exit`] (exit codes), [`suggest`] (did-you-mean).
//!
//! Imports point down the flow: a stage imports itself and the stages
//! before it (and `run` its consumer `record`); side modules are used from
//! `matrix` on and import no flow stage; leaf modules import nothing and
//! anything imports them; [`error`] wraps every stage's error. [`app`]
//! holds each subcommand's glue (one file per subcommand) and only the
//! binary imports it. `tests/imports.rs` checks these rules.

// Errors carry file, line, key and hint so users can act on them; they are
// built once per failed run, so their size on the stack does not matter.
#![allow(clippy::result_large_err)]

pub mod app;
pub mod client;
pub mod config;
pub mod error;
pub mod exec;
pub mod exit;
pub mod matrix;
pub mod model;
pub mod parse;
pub mod plan;
pub mod record;
pub mod report;
pub mod run;
pub mod sim;
pub mod suggest;

pub use error::Error;
