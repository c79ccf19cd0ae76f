//! Errors of the process layer. Outcomes that a benchmark run expects
//! (a server that crashed at start, a client that timed out, a user who
//! pressed Ctrl-C) are *not* errors: they are the `Readiness` and
//! `CmdOutcome` enums. An `ExecError` means the process layer itself could
//! not do its job (spawn, signal, free a port), and the run cannot go on
//! safely.

use std::path::PathBuf;
use std::time::Duration;

use thiserror::Error;

use crate::exit::{EXIT_FAILED, EXIT_USAGE};

/// Everything `crate::exec` can fail with.
#[derive(Debug, Error)]
pub enum ExecError {
    /// The command line to run was empty.
    #[error("cannot run an empty command line")]
    EmptyArgv,
    /// The log file could not be opened before the spawn.
    #[error("cannot open log file {path}")]
    LogFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// `fork`/`exec` of the program failed (not found, not executable, bad cwd).
    #[error("cannot start `{program}`")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    /// `waitpid` on a child failed.
    #[error("cannot wait for process {pid}")]
    Wait {
        pid: i32,
        #[source]
        source: std::io::Error,
    },
    /// Sending a signal to a process group failed for another reason than
    /// "no such process".
    #[error("cannot send {signal} to process group {pgid}")]
    Signal {
        signal: &'static str,
        pgid: i32,
        #[source]
        source: std::io::Error,
    },
    /// Processes of a group were still alive after SIGKILL.
    #[error("process group {pgid} still has live processes {waited:?} after SIGKILL")]
    GroupSurvived { pgid: i32, waited: Duration },
    /// The pre-flight check found something already listening on the port.
    #[error("port {port} on {host} is already in use")]
    PortInUse { host: String, port: u16 },
    /// After a server was stopped, its port did not become free.
    #[error("port {port} on {host} was not freed within {waited:?} after the server stopped")]
    PortNotFreed {
        host: String,
        port: u16,
        waited: Duration,
    },
    /// The host of a port check could not be resolved.
    #[error("cannot resolve host `{host}`")]
    Resolve {
        host: String,
        #[source]
        source: std::io::Error,
    },
    /// A readiness URL that the tiny HTTP prober cannot use.
    #[error("invalid readiness URL `{url}`: {reason}")]
    BadUrl { url: String, reason: String },
    /// Reading the child's log file failed.
    #[error("cannot read log file {path}")]
    ReadLog {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// `run.server_cpus` / `run.client_cpus` names no CPU this machine lets
    /// matrix use.
    #[error("cannot pin `{program}` to CPUs {cpus:?}: none of them is available here")]
    Cpus {
        program: String,
        cpus: Vec<usize>,
        available: Vec<usize>,
    },
    /// `matrix run`'s pre-flight found an environment in which every
    /// launch would fail (nothing was started or written).
    #[error(transparent)]
    Preflight(#[from] super::preflight::PreflightError),
    /// The SIGINT/SIGTERM handlers could not be installed.
    #[error("cannot install the SIGINT/SIGTERM handlers")]
    SignalInstall(#[source] std::io::Error),
}

impl ExecError {
    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            ExecError::Spawn { program, .. } => Some(format!(
                "is `{program}` installed and on PATH (or an absolute path), and does the working directory exist?"
            )),
            ExecError::LogFile { .. } => {
                Some("check that the results directory exists and is writable".into())
            }
            ExecError::GroupSurvived { pgid, .. } => Some(format!(
                "a process that survives SIGKILL is stuck in the kernel (state D, often a GPU driver call); inspect it with `ps -o pid,stat,cmd -g {pgid}`"
            )),
            ExecError::PortInUse { port, .. } => Some(format!(
                "another server (perhaps left over from an earlier run) is listening; find it with `ss -ltnp 'sport = :{port}'`, stop it, or choose another port"
            )),
            ExecError::PortNotFreed { port, .. } => Some(format!(
                "a process outside the server's process group holds the port; find it with `ss -ltnp 'sport = :{port}'`"
            )),
            ExecError::Cpus { available, .. } => Some(format!(
                "set run.server_cpus / run.client_cpus to CPUs of this machine (matrix may use {available:?}), or leave them unset"
            )),
            ExecError::BadUrl { .. } => Some(
                "readiness URLs look like http://127.0.0.1:30000/health (plain HTTP, numeric or named host)"
                    .into(),
            ),
            ExecError::Preflight(e) => e.hint(),
            _ => None,
        }
    }

    /// The process exit code this error maps to: bad input is a usage error
    /// (nothing was run), everything else a failed run.
    pub fn exit_code(&self) -> i32 {
        match self {
            ExecError::EmptyArgv
            | ExecError::BadUrl { .. }
            | ExecError::PortInUse { .. }
            | ExecError::Cpus { .. }
            | ExecError::Preflight(_) => EXIT_USAGE,
            _ => EXIT_FAILED,
        }
    }
}
