//! A child process in its own process group, with its output in a log file.
//!
//! Why a process group: an inference server is a tree of processes (SGLang
//! forks schedulers, detokenizers, NCCL helpers; the simulator's
//! `grandchild_port` fault re-executes itself and keeps the listening
//! socket). Signalling only the pid we spawned leaves the rest running,
//! holding GPU memory and the port, and the next server fails to start.
//! `process_group(0)` makes the child the leader of a new group whose id is
//! its pid; `killpg` then reaches every descendant that did not leave the
//! group on purpose. It also keeps a terminal's Ctrl-C away from children:
//! only `matrix` gets it, and decides (see [`super::signals`]).
//!
//! Why poll for ESRCH after SIGKILL: signal delivery is asynchronous and a
//! reaped leader says nothing about its descendants. The group is gone only
//! when `kill(-pgid, 0)` fails with ESRCH. Processes that are already dead
//! but not yet reaped by their new parent (zombies; some container inits
//! never reap) still count for `kill`, so on Linux we also accept a group
//! whose members are all zombies: they hold no memory, GPU or port.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use super::ExecError;
use super::signals::{GROUPS, with_stop_signals_blocked};

/// How long `stop` waits for a SIGKILLed group to disappear before it
/// reports [`ExecError::GroupSurvived`].
pub const KILL_WAIT: Duration = Duration::from_secs(5);

/// What to run: an argv vector (never a shell string), extra environment on
/// top of ours, a working directory, and the log file that gets stdout and
/// stderr (appended, in the order the child writes them).
#[derive(Debug, Clone)]
pub struct Spec {
    pub argv: Vec<OsString>,
    pub env: Vec<(OsString, OsString)>,
    pub env_remove: Vec<OsString>,
    pub cwd: Option<PathBuf>,
    pub log: PathBuf,
    /// CPUs the child (and what it starts) may run on; `None`: ours.
    pub cpus: Option<Vec<usize>>,
}

impl Spec {
    pub fn new<I, S>(argv: I, log: impl Into<PathBuf>) -> Spec
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        Spec {
            argv: argv.into_iter().map(Into::into).collect(),
            env: Vec::new(),
            env_remove: Vec::new(),
            cwd: None,
            log: log.into(),
            cpus: None,
        }
    }

    /// Add (or override) one environment variable.
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Spec {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Add (or override) every variable of `vars`.
    pub fn envs<K, V>(mut self, vars: impl IntoIterator<Item = (K, V)>) -> Spec
    where
        K: Into<OsString>,
        V: Into<OsString>,
    {
        self.env
            .extend(vars.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    /// Remove an inherited environment variable.
    pub fn env_remove(mut self, key: impl Into<OsString>) -> Spec {
        self.env_remove.push(key.into());
        self
    }

    pub fn cwd(mut self, dir: impl Into<PathBuf>) -> Spec {
        self.cwd = Some(dir.into());
        self
    }

    /// Pin the child to `cpus` (children inherit it), like `taskset -c`.
    pub fn cpus(mut self, cpus: Option<&[usize]>) -> Spec {
        self.cpus = cpus.map(<[usize]>::to_vec);
        self
    }

    fn program(&self) -> String {
        self.argv
            .first()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

/// How [`Child::stop`] ended the group.
#[derive(Debug, Clone, Copy)]
pub struct Stopped {
    /// The leader's exit status.
    pub status: ExitStatus,
    /// True when the leader was still running after the grace period and
    /// needed SIGKILL.
    pub escalated: bool,
}

/// A running (or finished, not yet cleaned up) process group. Dropping it
/// SIGKILLs the group, so a panic or an early return never leaves an orphan.
#[derive(Debug)]
pub struct Child {
    inner: std::process::Child,
    pgid: Pid,
    log: PathBuf,
    program: String,
    status: Option<ExitStatus>,
    /// False once the group is confirmed gone (and unregistered).
    live_group: bool,
}

/// If `matrix` itself is killed (SIGKILL: no handler runs), the kernel
/// kills its direct children too, so no server outlives the run. Engines
/// do the same for their own workers (SGLang's subprocesses watch their
/// parent). The signal follows the spawning thread, which for the runner is
/// its main thread. Checks the parent is still the one that forked us, in
/// case it died before the request took effect.
fn die_with_parent(parent: nix::unistd::Pid) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(std::io::Error::from)?;
        if nix::unistd::getppid() != parent {
            return Err(std::io::Error::other(
                "matrix exited while starting this process",
            ));
        }
    }
    let _ = parent;
    Ok(())
}

impl Child {
    /// Spawn `spec` as the leader of a new process group, stdin from
    /// /dev/null, stdout and stderr appended to `spec.log`.
    pub fn spawn(spec: &Spec) -> Result<Child, ExecError> {
        let (program, args) = spec.argv.split_first().ok_or(ExecError::EmptyArgv)?;
        let log = open_log(&spec.log)?;
        let log2 = log.try_clone().map_err(|source| ExecError::LogFile {
            path: spec.log.clone(),
            source,
        })?;
        let mut cmd = std::process::Command::new(program);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .process_group(0);
        for k in &spec.env_remove {
            cmd.env_remove(k);
        }
        cmd.envs(spec.env.iter().map(|(k, v)| (k, v)));
        if let Some(dir) = &spec.cwd {
            cmd.current_dir(dir);
        }
        let cpus = spec.cpus.as_deref().map(|c| cpu_set(c, spec)).transpose()?;
        // Spawn and register with Ctrl-C blocked, so a second Ctrl-C cannot
        // fall between the two and miss this group.
        let parent = nix::unistd::getpid();
        let inner = with_stop_signals_blocked(|old_mask| {
            // SAFETY: between fork and exec only async-signal-safe calls:
            // pthread_sigmask, sched_setaffinity, prctl and getppid are, and
            // allocate nothing (the CPU set was built before the fork).
            unsafe {
                cmd.pre_exec(move || {
                    nix::sys::signal::pthread_sigmask(
                        nix::sys::signal::SigmaskHow::SIG_SETMASK,
                        Some(&old_mask),
                        None,
                    )
                    .map_err(std::io::Error::from)?;
                    if let Some(set) = &cpus {
                        nix::sched::sched_setaffinity(Pid::from_raw(0), set)
                            .map_err(std::io::Error::from)?;
                    }
                    die_with_parent(parent)
                });
            }
            let child = cmd.spawn()?;
            GROUPS.register(child.id() as i32);
            Ok(child)
        })
        .map_err(|source| ExecError::Spawn {
            program: spec.program(),
            source,
        })?;
        Ok(Child {
            pgid: Pid::from_raw(inner.id() as i32),
            inner,
            log: spec.log.clone(),
            program: spec.program(),
            status: None,
            live_group: true,
        })
    }

    pub fn pid(&self) -> i32 {
        self.inner.id() as i32
    }

    /// The process group id (equal to the leader's pid).
    pub fn pgid(&self) -> i32 {
        self.pgid.as_raw()
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The program (`argv[0]`), for messages.
    pub fn program(&self) -> &str {
        &self.program
    }

    /// The leader's status if it has exited (reaping it), without blocking.
    /// Other members of the group may still run: call [`Child::stop`] to
    /// clean up after an exit.
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>, ExecError> {
        if self.status.is_none() {
            self.status = self.inner.try_wait().map_err(|source| ExecError::Wait {
                pid: self.pid(),
                source,
            })?;
        }
        Ok(self.status)
    }

    /// Wait up to `limit` for the leader to exit (polling, 1 ms growing to
    /// 10 ms, so an exit is seen within ~10 ms).
    pub fn wait_timeout(&mut self, limit: Duration) -> Result<Option<ExitStatus>, ExecError> {
        let until = Instant::now() + limit;
        let mut nap = Duration::from_millis(1);
        loop {
            if let Some(s) = self.try_wait()? {
                return Ok(Some(s));
            }
            let now = Instant::now();
            if now >= until {
                return Ok(None);
            }
            std::thread::sleep(nap.min(until - now));
            nap = (nap * 2).min(Duration::from_millis(10));
        }
    }

    /// Stop the whole group: SIGTERM to the group, up to `grace` for the
    /// leader to exit, then SIGKILL to the group (always, to sweep up
    /// members that outlive the leader), reap the leader, and wait until no
    /// live process of the group remains. Works on an already exited child
    /// too (it then only sweeps the group).
    pub fn stop(&mut self, grace: Duration) -> Result<Stopped, ExecError> {
        if self.try_wait()?.is_none() {
            self.signal(Signal::SIGTERM)?;
            self.wait_timeout(grace)?;
        }
        let escalated = self.status.is_none();
        self.kill_and_confirm()?;
        let status = self.status.expect("leader reaped by kill_and_confirm");
        Ok(Stopped { status, escalated })
    }

    /// SIGKILL the group now (no grace), reap, and confirm it is gone.
    pub fn kill(&mut self) -> Result<ExitStatus, ExecError> {
        self.kill_and_confirm()?;
        Ok(self.status.expect("leader reaped by kill_and_confirm"))
    }

    fn kill_and_confirm(&mut self) -> Result<(), ExecError> {
        if !self.live_group {
            return Ok(());
        }
        self.signal(Signal::SIGKILL)?;
        if self.wait_timeout(KILL_WAIT)?.is_none() {
            return Err(ExecError::GroupSurvived {
                pgid: self.pgid(),
                waited: KILL_WAIT,
            });
        }
        wait_group_gone(self.pgid(), KILL_WAIT)?;
        self.live_group = false;
        GROUPS.unregister(self.pgid());
        Ok(())
    }

    /// Send `sig` to the group; a group that is already gone is fine.
    pub fn signal(&self, sig: Signal) -> Result<(), ExecError> {
        signal_group(self.pgid(), sig)
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if !self.live_group {
            return;
        }
        let _ = killpg(self.pgid, Signal::SIGKILL);
        if self.status.is_none() {
            // SIGKILL cannot be caught: the wait is short.
            let _ = self.inner.wait();
        }
        GROUPS.unregister(self.pgid());
    }
}

fn open_log(path: &Path) -> Result<File, ExecError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|source| ExecError::LogFile {
            path: path.to_path_buf(),
            source,
        })
}

fn signal_group(pgid: i32, sig: Signal) -> Result<(), ExecError> {
    if pgid <= 1 {
        // killpg(0) is our own group, killpg(1) init's: never.
        return Ok(());
    }
    match killpg(Pid::from_raw(pgid), sig) {
        Ok(()) | Err(Errno::ESRCH) => Ok(()),
        Err(e) => Err(ExecError::Signal {
            signal: sig.as_str(),
            pgid,
            source: e.into(),
        }),
    }
}

/// True while some process of group `pgid` is alive (zombies excluded on
/// Linux, see the module docs).
pub fn group_alive(pgid: i32) -> bool {
    if pgid <= 1 {
        return false;
    }
    match killpg(Pid::from_raw(pgid), None) {
        Err(Errno::ESRCH) => false,
        Ok(()) | Err(_) => live_members(pgid).is_none_or(|n| n > 0),
    }
}

/// Non-zombie processes whose process group is `pgid`, from /proc; None
/// where /proc cannot be read.
fn live_members(pgid: i32) -> Option<usize> {
    let dir = std::fs::read_dir("/proc").ok()?;
    let mut n = 0;
    for entry in dir.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue; // exited meanwhile
        };
        // "pid (comm) S ppid pgrp ...": comm may contain spaces or ')'.
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let mut fields = rest.split_whitespace();
        let state = fields.next();
        let pgrp = fields.nth(1).and_then(|f| f.parse::<i32>().ok());
        if pgrp == Some(pgid) && state != Some("Z") && state != Some("X") {
            n += 1;
        }
    }
    Some(n)
}

/// Poll until group `pgid` has no live process, up to `limit`.
pub fn wait_group_gone(pgid: i32, limit: Duration) -> Result<(), ExecError> {
    let start = Instant::now();
    let mut nap = Duration::from_micros(500);
    while group_alive(pgid) {
        if start.elapsed() >= limit {
            return Err(ExecError::GroupSurvived {
                pgid,
                waited: limit,
            });
        }
        // Stragglers may have been forked after our SIGKILL: kill again.
        let _ = signal_group(pgid, Signal::SIGKILL);
        std::thread::sleep(nap);
        nap = (nap * 2).min(Duration::from_millis(10));
    }
    Ok(())
}

/// The kernel's CPU set for `cpus`, built before the fork (nothing may
/// allocate between fork and exec). CPUs this process may not use are left
/// out (the kernel ignores them too); none left is an error, not a child
/// that silently runs anywhere.
fn cpu_set(cpus: &[usize], spec: &Spec) -> Result<nix::sched::CpuSet, ExecError> {
    let ours = nix::sched::sched_getaffinity(Pid::from_raw(0)).map_err(|e| ExecError::Spawn {
        program: spec.program(),
        source: e.into(),
    })?;
    let available: Vec<usize> = (0..nix::sched::CpuSet::count())
        .filter(|&c| ours.is_set(c).unwrap_or(false))
        .collect();
    let mut set = nix::sched::CpuSet::new();
    for &c in cpus.iter().filter(|c| available.contains(c)) {
        set.set(c).map_err(|_| cpus_error(cpus, spec, &available))?;
    }
    if cpus.iter().any(|c| available.contains(c)) {
        Ok(set)
    } else {
        Err(cpus_error(cpus, spec, &available))
    }
}

fn cpus_error(cpus: &[usize], spec: &Spec, available: &[usize]) -> ExecError {
    ExecError::Cpus {
        program: spec.program(),
        cpus: cpus.to_vec(),
        available: available.to_vec(),
    }
}
