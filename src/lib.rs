//! matrix: declarative, reproducible benchmark sweeps of LLM inference servers.
//!
//! Data flow: cli → [`config`] → [`matrix`] → [`plan`] → exec → record → report.
//! Side modules: [`model`] (cost model), [`sim`] (simulated engine).

pub mod app;
pub mod client;
pub mod config;
pub mod error;
pub mod matrix;
pub mod model;
pub mod plan;
pub mod sim;

pub use error::Error;
