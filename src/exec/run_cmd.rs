//! Run a short-lived command (a benchmark client, `one_batch`) to the end,
//! with a timeout and the stop flag. Like a server it runs in its own
//! process group, and whatever it leaves behind is killed when it ends.

use std::process::ExitStatus;
use std::time::{Duration, Instant};

use super::ExecError;
use super::process::{Child, Spec};
use super::signals::StopFlag;

/// How a command ended.
#[derive(Debug, Clone, Copy)]
pub enum CmdOutcome {
    /// It exited on its own (any code; success is the caller's call).
    Exited(ExitStatus),
    /// It ran past the timeout and was stopped (SIGTERM, grace, SIGKILL).
    TimedOut { after: Duration },
    /// The stop flag was set and it was stopped.
    Interrupted,
}

/// Spawn `spec` and wait for it: at most `timeout`, polling `stop` every
/// 10 ms at most. On timeout or stop, the group gets SIGTERM, `grace`, then
/// SIGKILL. On a normal exit, group members it left behind are SIGKILLed.
pub fn run_cmd(
    spec: &Spec,
    timeout: Duration,
    grace: Duration,
    stop: StopFlag,
) -> Result<CmdOutcome, ExecError> {
    run_cmd_polling(spec, timeout, grace, stop, Duration::MAX, &mut || {})
}

/// [`run_cmd`], calling `tick` about every `every` while the command runs
/// (and once more when it has ended), e.g. to read its progress from its
/// log. `Duration::MAX`: only the final call.
pub fn run_cmd_polling(
    spec: &Spec,
    timeout: Duration,
    grace: Duration,
    stop: StopFlag,
    every: Duration,
    tick: &mut dyn FnMut(),
) -> Result<CmdOutcome, ExecError> {
    let mut child = Child::spawn(spec)?;
    let start = Instant::now();
    let mut nap = Duration::from_millis(1);
    let mut next_tick = every;
    let outcome = loop {
        if let Some(status) = child.try_wait()? {
            child.stop(grace)?; // sweep leftovers of the group
            break CmdOutcome::Exited(status);
        }
        if stop.is_stopping() {
            child.stop(grace)?;
            break CmdOutcome::Interrupted;
        }
        let elapsed = start.elapsed();
        if elapsed >= timeout {
            child.stop(grace)?;
            break CmdOutcome::TimedOut { after: elapsed };
        }
        if elapsed >= next_tick {
            tick();
            next_tick = elapsed.saturating_add(every);
        }
        std::thread::sleep(nap.min(timeout - elapsed));
        nap = (nap * 2).min(Duration::from_millis(10));
    };
    if every != Duration::MAX {
        tick();
    }
    Ok(outcome)
}
