//! The simulated SGLang engine: `matrix sim launch-server` and
//! `matrix sim one-batch` speak SGLang's command lines, HTTP endpoints and
//! output formats, with timing from a roofline cost model, so every path of
//! `matrix` (launch, readiness, workloads, parsing, failures, teardown) runs
//! in CI without a GPU. See docs/SIM.md.
//!
//! Layout: `args`/`server_args`/`bench_args` parse argv; `setup` loads the
//! model and sizes the `deployment`; `timing` prices steps; `scheduler`
//! batches continuously on its own thread; `server` and the `api_*` files
//! speak HTTP; `generation`/`sse`/`trace` turn emissions into responses and
//! ground truth; `one_batch` prints the static-batch benchmark; `fault`,
//! `holder` and `signals` inject failures.

mod api_admin;
mod api_native;
mod api_openai;
mod args;
mod bench_args;
pub mod cost;
mod deployment;
mod error;
pub mod fault;
mod generation;
mod help;
mod holder;
mod job;
mod launch;
mod loading;
mod log;
pub mod noise;
mod one_batch;
pub mod pyfmt;
mod rng;
mod scheduler;
mod server;
mod server_args;
mod setup;
mod signals;
mod sse;
mod state;
mod stats;
pub mod timing;
mod tokens;
mod trace;

pub use deployment::check_fit;
pub use error::SimError;
pub use launch::START_LOG_ENV;

/// `matrix sim launch-server <SGLang launch_server flags>`; returns the exit code.
pub fn launch_server(args: &[String]) -> Result<i32, SimError> {
    launch::launch_server(args)
}

/// `matrix sim one-batch <SGLang one_batch flags>`; returns the exit code.
pub fn one_batch(args: &[String]) -> Result<i32, SimError> {
    one_batch::one_batch(args)
}
