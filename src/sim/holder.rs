//! The `grandchild_port` fault: a re-exec of this binary that inherits the
//! listening socket and outlives its parent, in the same process group.
//! Runners that only kill the server's pid leak the port; killing the group
//! frees it. The holder exits by itself after ten minutes so a broken test
//! cannot leak it forever.

use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use nix::fcntl::{FcntlArg, FdFlag, fcntl};

use super::error::SimError;
use super::log::Logger;

/// Hidden flag that turns `launch-server` into the holder.
pub const FLAG: &str = "--sim-internal-hold-fd";
const LIFETIME: Duration = Duration::from_secs(600);

/// The fd to hold, when argv asks for holder mode.
pub fn requested(argv: &[String]) -> Option<String> {
    let at = argv.iter().position(|a| a == FLAG)?;
    Some(argv.get(at + 1).cloned().unwrap_or_default())
}

/// Holder mode: keep the inherited socket open and do nothing.
pub fn run(fd: &str, log: &Logger) -> Result<i32, SimError> {
    log.info(&format!(
        "grandchild pid {} holds listening fd {fd} (MATRIX_SIM_FAULT grandchild_port)",
        std::process::id()
    ));
    let until = Instant::now() + LIFETIME;
    while Instant::now() < until {
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(0)
}

/// Spawn the holder with `listener` inherited (close-on-exec cleared just
/// for the spawn).
pub fn spawn(listener: &std::net::TcpListener) -> Result<u32, SimError> {
    let fail = |e: std::io::Error| SimError::io("cannot start the grandchild_port holder", e);
    let exe = std::env::current_exe().map_err(fail)?;
    fcntl(listener, FcntlArg::F_SETFD(FdFlag::empty())).map_err(|e| fail(e.into()))?;
    let child = std::process::Command::new(exe)
        .args([
            "sim",
            "launch-server",
            FLAG,
            &listener.as_raw_fd().to_string(),
        ])
        .stdin(std::process::Stdio::null())
        .spawn();
    fcntl(listener, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC)).map_err(|e| fail(e.into()))?;
    Ok(child.map_err(fail)?.id())
}
