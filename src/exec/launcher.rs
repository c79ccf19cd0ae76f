//! Everything the run loop does with processes and time, behind two traits,
//! so the loop can run against real engines ([`RealLauncher`],
//! [`SystemClock`]) or against an in-process double
//! (`matrix::run::fake`) whose event streams are deterministic.
//!
//! A launcher is told what a process is for ([`Job`]) as well as its exact
//! [`Spec`]: the real one only uses the spec; a double uses the job to know
//! which cells it plays.

use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use crate::config::engine::HttpMethod;
use crate::plan::{AdminCall, Group, PlanCell};

use super::ready::Url;
use super::{Child, CmdOutcome, ExecError, Readiness, ReadyCheck, Spec, StopFlag};

/// What a process of the run is for.
#[derive(Debug, Clone, Copy)]
pub enum Job<'a> {
    /// A one_batch process measuring `cells` of `group` (or a worker rank's
    /// process, or one profile pass).
    Batch {
        group: &'a Group,
        cells: &'a [&'a PlanCell],
    },
    /// The client of a serving cell (one repeat).
    Client {
        group: &'a Group,
        cell: &'a PlanCell,
    },
}

/// How often a long command's `tick` is called at most while it runs.
pub const TICK: Duration = Duration::from_millis(250);

/// What the run loop does with processes, ports and servers' HTTP.
pub trait Launcher {
    /// Check, before anything is written, that the plan's programs exist
    /// and its ports are free ([`super::preflight::run_checks`]).
    fn preflight(&mut self, plan: &crate::plan::Plan) -> Result<(), ExecError>;

    /// Run a command to its end (at most `timeout`; stopped with SIGTERM,
    /// `grace`, SIGKILL on timeout or stop), calling `tick` every
    /// [`TICK`] while it runs and once when it has ended.
    fn run_to_end(
        &mut self,
        job: Job<'_>,
        spec: &Spec,
        timeout: Duration,
        grace: Duration,
        stop: StopFlag,
        tick: &mut dyn FnMut(),
    ) -> Result<CmdOutcome, ExecError>;

    /// Spawn a group's server (not waiting for it to be ready).
    fn spawn_server(&mut self, group: &Group, spec: &Spec) -> Result<Box<dyn Server>, ExecError>;

    /// Refuse a port someone already listens on.
    fn check_port_free(&mut self, host: &str, port: u16) -> Result<(), ExecError>;

    /// Wait until nobody listens on the port (at most `limit`).
    fn wait_port_free(&mut self, host: &str, port: u16, limit: Duration) -> Result<(), ExecError>;

    /// Does `url` answer 200?
    fn healthy(&mut self, url: &str) -> bool;

    /// One admin call; its HTTP status, `None` for no answer.
    fn admin(&mut self, call: &AdminCall, body: &str) -> Result<Option<u16>, ExecError>;
}

/// A running server of a group.
pub trait Server {
    /// Its exit status, once it has exited.
    fn try_wait(&mut self) -> Result<Option<ExitStatus>, ExecError>;
    /// Wait until it is ready, exits, runs out of memory or times out.
    fn wait_ready(&mut self, check: &ReadyCheck, stop: StopFlag) -> Result<Readiness, ExecError>;
    /// Wait at most `limit` for it to exit.
    fn wait_timeout(&mut self, limit: Duration) -> Result<Option<ExitStatus>, ExecError>;
    /// Stop it and its process group (SIGTERM, grace, SIGKILL).
    fn stop(&mut self, grace: Duration) -> Result<(), ExecError>;
    /// Its log (stdout and stderr).
    fn log_path(&self) -> &Path;
}

/// Now, for a run: the wall-clock time (for `started_at`) and a monotonic
/// offset from the clock's origin (for every duration).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stamp {
    pub wall: jiff::Timestamp,
    pub mono: Duration,
}

impl Stamp {
    /// Time from `earlier` to this stamp (0 when `earlier` is later).
    pub fn since(&self, earlier: Stamp) -> Duration {
        self.mono.saturating_sub(earlier.mono)
    }
}

/// Where a run reads the time.
pub trait Clock {
    fn now(&self) -> Stamp;
}

/// The system's clocks.
#[derive(Debug, Clone, Copy)]
pub struct SystemClock {
    origin: Instant,
}

impl SystemClock {
    pub fn new() -> SystemClock {
        SystemClock {
            origin: Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock::new()
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Stamp {
        Stamp {
            wall: jiff::Timestamp::now(),
            mono: self.origin.elapsed(),
        }
    }
}

/// Real processes: [`Child`], [`super::run_cmd_polling`], real ports and HTTP.
#[derive(Debug, Default)]
pub struct RealLauncher;

impl Launcher for RealLauncher {
    fn preflight(&mut self, plan: &crate::plan::Plan) -> Result<(), ExecError> {
        Ok(super::preflight::run_checks(plan)?)
    }

    fn run_to_end(
        &mut self,
        _job: Job<'_>,
        spec: &Spec,
        timeout: Duration,
        grace: Duration,
        stop: StopFlag,
        tick: &mut dyn FnMut(),
    ) -> Result<CmdOutcome, ExecError> {
        super::run_cmd::run_cmd_polling(spec, timeout, grace, stop, TICK, tick)
    }

    fn spawn_server(&mut self, _group: &Group, spec: &Spec) -> Result<Box<dyn Server>, ExecError> {
        Ok(Box::new(RealServer {
            child: Child::spawn(spec)?,
            log: spec.log.clone(),
        }))
    }

    fn check_port_free(&mut self, host: &str, port: u16) -> Result<(), ExecError> {
        super::check_port_free(host, port)
    }

    fn wait_port_free(&mut self, host: &str, port: u16, limit: Duration) -> Result<(), ExecError> {
        super::wait_port_free(host, port, limit).map(|_| ())
    }

    fn healthy(&mut self, url: &str) -> bool {
        Url::parse(url)
            .ok()
            .and_then(|u| u.get_status(Duration::from_secs(5)))
            == Some(200)
    }

    fn admin(&mut self, call: &AdminCall, body: &str) -> Result<Option<u16>, ExecError> {
        let timeout = Duration::from_secs(30);
        let u = Url::parse(&call.url)?;
        Ok(match call.method {
            HttpMethod::Get => u.get_status(timeout),
            HttpMethod::Post => u.post_json(body, timeout),
        })
    }
}

struct RealServer {
    child: Child,
    log: PathBuf,
}

impl Server for RealServer {
    fn try_wait(&mut self) -> Result<Option<ExitStatus>, ExecError> {
        self.child.try_wait()
    }

    fn wait_ready(&mut self, check: &ReadyCheck, stop: StopFlag) -> Result<Readiness, ExecError> {
        super::wait_ready(&mut self.child, check, stop)
    }

    fn wait_timeout(&mut self, limit: Duration) -> Result<Option<ExitStatus>, ExecError> {
        self.child.wait_timeout(limit)
    }

    fn stop(&mut self, grace: Duration) -> Result<(), ExecError> {
        self.child.stop(grace).map(|_| ())
    }

    fn log_path(&self) -> &Path {
        &self.log
    }
}
