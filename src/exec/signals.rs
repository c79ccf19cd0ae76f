//! Ctrl-C and SIGTERM for `matrix run`, and the registry of live child
//! process groups.
//!
//! Every child runs in its own process group (see [`super::process`]), so a
//! Ctrl-C typed at the terminal reaches only `matrix`, never the servers
//! directly. `matrix` then decides:
//!
//! * the **first** SIGINT or SIGTERM sets a "stop gracefully" flag
//!   ([`StopFlag::is_stopping`]). The runner polls it, stops the current
//!   server with SIGTERM → grace → SIGKILL, keeps every finished cell, and
//!   exits 130;
//! * the **second** one SIGKILLs every registered group at once from the
//!   signal handler and exits 130 immediately, without running destructors.
//!
//! The handler may only call async-signal-safe functions: no allocation, no
//! locks. That is why the registry is a fixed array of atomics (not a
//! `Mutex<Vec<_>>`) and the handler uses `killpg`, `write` and `_exit`
//! directly.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering};

use nix::libc;
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, killpg, sigaction};
use nix::unistd::Pid;

use super::ExecError;
use crate::exit::EXIT_INTERRUPTED;

/// How many child groups can be registered at once. The runner holds one
/// server (or one per node) plus one client at a time; 256 leaves room.
const SLOTS: usize = 256;

/// Process groups that are alive (or not yet confirmed gone), readable from
/// a signal handler. A slot holds a pgid or 0.
pub struct Registry {
    slots: [AtomicI32; SLOTS],
}

impl Registry {
    pub const fn new() -> Self {
        Registry {
            slots: [const { AtomicI32::new(0) }; SLOTS],
        }
    }

    /// Remember `pgid`; false when every slot is taken (the group is then
    /// still stopped by its `Child`, just not by a second Ctrl-C).
    pub fn register(&self, pgid: i32) -> bool {
        if pgid <= 1 {
            return false;
        }
        self.slots.iter().any(|s| {
            s.compare_exchange(0, pgid, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        })
    }

    /// Forget `pgid` (once its group is confirmed gone).
    pub fn unregister(&self, pgid: i32) {
        for s in &self.slots {
            if s.compare_exchange(pgid, 0, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                return;
            }
        }
    }

    /// The registered pgids.
    pub fn live(&self) -> Vec<i32> {
        self.slots
            .iter()
            .map(|s| s.load(Ordering::Acquire))
            .filter(|&p| p > 1)
            .collect()
    }

    /// SIGKILL every registered group; returns how many were signalled.
    /// Async-signal-safe: atomics and `killpg` only.
    pub fn kill_all(&self) -> usize {
        let mut n = 0;
        for s in &self.slots {
            let pgid = s.load(Ordering::Acquire);
            // Never 0 (our own group) or 1 (init's): killpg would hit us.
            if pgid > 1 {
                let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
                n += 1;
            }
        }
        n
    }
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

/// The groups of every [`super::Child`] spawned by this process.
pub static GROUPS: Registry = Registry::new();

/// The state behind a [`StopFlag`]: whether a stop was asked for, and how
/// many stop signals arrived.
pub struct StopState {
    stopping: AtomicBool,
    signals: AtomicU32,
}

impl StopState {
    pub const fn new() -> Self {
        StopState {
            stopping: AtomicBool::new(false),
            signals: AtomicU32::new(0),
        }
    }
}

impl Default for StopState {
    fn default() -> Self {
        Self::new()
    }
}

static GLOBAL: StopState = StopState::new();

/// A cheap, copyable handle on "should we stop?", polled by the runner,
/// [`super::wait_ready`] and [`super::run_cmd`].
#[derive(Clone, Copy)]
pub struct StopFlag(&'static StopState);

impl StopFlag {
    /// The process-wide flag that [`install`]'s handlers set.
    pub fn global() -> StopFlag {
        StopFlag(&GLOBAL)
    }

    /// A private flag no signal touches (tests, embedding). Leaks a few
    /// bytes so that it can be `'static` like the global one.
    pub fn detached() -> StopFlag {
        StopFlag(Box::leak(Box::new(StopState::new())))
    }

    /// True once a stop was requested (first Ctrl-C, SIGTERM, or
    /// [`StopFlag::request_stop`]).
    pub fn is_stopping(&self) -> bool {
        self.0.stopping.load(Ordering::Relaxed)
    }

    /// Ask for a graceful stop without a signal.
    pub fn request_stop(&self) {
        self.0.stopping.store(true, Ordering::Relaxed);
    }

    /// How many SIGINT/SIGTERM arrived.
    pub fn signals(&self) -> u32 {
        self.0.signals.load(Ordering::Relaxed)
    }

    fn state(&self) -> &'static StopState {
        self.0
    }
}

/// What a stop signal led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalAction {
    /// First signal: the flag is set; the runner winds down on its own.
    StopGracefully,
    /// Second (or later) signal: every registered group was SIGKILLed; the
    /// caller must exit 130 now.
    KillAll { groups: usize },
}

/// The state machine of the handler, without the exit: count the signal,
/// set the flag, and on the second one kill every group of `groups`.
/// Async-signal-safe.
pub fn on_signal(flag: StopFlag, groups: &Registry) -> SignalAction {
    let state = flag.state();
    let n = state.signals.fetch_add(1, Ordering::AcqRel) + 1;
    state.stopping.store(true, Ordering::Release);
    if n == 1 {
        SignalAction::StopGracefully
    } else {
        SignalAction::KillAll {
            groups: groups.kill_all(),
        }
    }
}

fn write_stderr(msg: &[u8]) {
    // SAFETY: write(2) on fd 2 with a valid buffer; async-signal-safe.
    unsafe {
        libc::write(2, msg.as_ptr().cast(), msg.len());
    }
}

extern "C" fn handle(_sig: libc::c_int) {
    match on_signal(StopFlag::global(), &GROUPS) {
        SignalAction::StopGracefully => write_stderr(
            b"\nmatrix: stopping after the current step; finished cells are kept (press Ctrl-C again to kill everything)\n",
        ),
        SignalAction::KillAll { .. } => {
            write_stderr(b"\nmatrix: interrupted twice; killed every child process group\n");
            // SAFETY: _exit is async-signal-safe and skips destructors,
            // which may hold locks this handler interrupted.
            unsafe { libc::_exit(EXIT_INTERRUPTED) }
        }
    }
}

static INSTALLED: Mutex<bool> = Mutex::new(false);

/// Install the SIGINT/SIGTERM handlers (once; later calls return the same
/// flag). Call it before spawning anything.
pub fn install() -> Result<StopFlag, ExecError> {
    let mut installed = INSTALLED.lock().unwrap_or_else(|e| e.into_inner());
    if !*installed {
        // SA_RESTART: a blocking read or wait in the runner resumes instead
        // of failing with EINTR; the runner sees the flag at its next poll.
        let action = SigAction::new(
            SigHandler::Handler(handle),
            SaFlags::SA_RESTART,
            SigSet::empty(),
        );
        for sig in [Signal::SIGINT, Signal::SIGTERM] {
            // SAFETY: the handler only uses async-signal-safe functions.
            unsafe { sigaction(sig, &action) }
                .map_err(|e| ExecError::SignalInstall(std::io::Error::from(e)))?;
        }
        *installed = true;
    }
    Ok(StopFlag::global())
}

/// Run `f` with SIGINT and SIGTERM blocked on this thread, so that a
/// signal cannot land between a spawn and the registration of its group
/// (the handler would then miss that group). A blocked signal is delivered
/// as soon as the mask is restored. `f` gets the mask to restore: a child
/// inherits the mask of the thread that forks it, so the spawn must put
/// the old mask back in the child (see [`super::process`]), or SIGTERM
/// would stay blocked there forever.
pub(crate) fn with_stop_signals_blocked<T>(f: impl FnOnce(SigSet) -> T) -> T {
    use nix::sys::signal::{SigmaskHow, pthread_sigmask};
    let mut set = SigSet::empty();
    set.add(Signal::SIGINT);
    set.add(Signal::SIGTERM);
    let mut old = SigSet::empty();
    let blocked = pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), Some(&mut old)).is_ok();
    let out = f(old);
    if blocked {
        let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_signal_stops_second_kills_all() {
        let flag = StopFlag::detached();
        let groups = Registry::new();
        // A real group to kill: `sleep` in its own process group.
        let mut child = {
            use std::os::unix::process::CommandExt;
            std::process::Command::new("sleep")
                .arg("600")
                .process_group(0)
                .spawn()
                .expect("spawn sleep")
        };
        let pgid = child.id() as i32;
        assert!(groups.register(pgid));
        assert!(!flag.is_stopping());

        assert_eq!(on_signal(flag, &groups), SignalAction::StopGracefully);
        assert!(flag.is_stopping());
        assert_eq!(flag.signals(), 1);
        assert!(
            child.try_wait().unwrap().is_none(),
            "first signal kills nothing"
        );

        assert_eq!(
            on_signal(flag, &groups),
            SignalAction::KillAll { groups: 1 }
        );
        let status = child.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(libc::SIGKILL));
        assert_eq!(flag.signals(), 2);
    }

    #[test]
    fn registry_never_holds_own_or_init_group() {
        let r = Registry::new();
        assert!(!r.register(0));
        assert!(!r.register(1));
        assert!(r.register(12345));
        assert_eq!(r.live(), vec![12345]);
        r.unregister(12345);
        assert!(r.live().is_empty());
        assert_eq!(r.kill_all(), 0);
    }

    #[test]
    fn request_stop_sets_the_flag_without_counting_a_signal() {
        let flag = StopFlag::detached();
        flag.request_stop();
        assert!(flag.is_stopping());
        assert_eq!(flag.signals(), 0);
        assert!(!StopFlag::detached().is_stopping());
    }
}
