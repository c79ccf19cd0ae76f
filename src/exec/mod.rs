//! The process layer of `matrix run`: spawn servers and clients in their own
//! process groups, wait for readiness, enforce timeouts, stop them with
//! SIGTERM → grace → SIGKILL, make sure their ports are free again, and
//! handle Ctrl-C (first: stop gracefully; second: kill everything).
//!
//! Synchronous on purpose: the runner is a sequential loop, and every wait
//! here is a short poll that also watches the [`StopFlag`]. See docs/EXEC.md.
//!
//! ```no_run
//! use std::time::Duration;
//! use matrix::exec::{self, Child, ReadyCheck, Readiness, Spec};
//!
//! # fn main() -> Result<(), exec::ExecError> {
//! let stop = exec::signals::install()?;
//! exec::check_port_free("127.0.0.1", 30000)?;
//! let spec = Spec::new(["matrix", "sim", "launch-server", "--model-path", "m", "--port", "30000"],
//!                      "results/server.log");
//! let mut server = Child::spawn(&spec)?;
//! let check = ReadyCheck::http("http://127.0.0.1:30000/health", Duration::from_secs(600));
//! match exec::wait_ready(&mut server, &check, stop)? {
//!     Readiness::Ready { after } => println!("ready after {after:?}"),
//!     other => println!("did not start: {other:?}"),
//! }
//! server.stop(Duration::from_secs(10))?;
//! exec::wait_port_free("127.0.0.1", 30000, Duration::from_secs(30))?;
//! # Ok(()) }
//! ```

mod error;
pub mod launcher;
pub mod port;
pub mod preflight;
pub mod process;
pub mod ready;
pub mod run_cmd;
pub mod signals;

pub use error::ExecError;
pub use launcher::{Clock, Job, Launcher, RealLauncher, Server, Stamp, SystemClock};
pub use port::{check_port_free, port_in_use, wait_port_free};
pub use preflight::PreflightError;
pub use process::{Child, Spec, Stopped, group_alive};
pub use ready::{Readiness, ReadyCheck, log_tail, wait_ready};
pub use run_cmd::{CmdOutcome, run_cmd, run_cmd_polling};
pub use signals::{StopFlag, install as install_signals};
