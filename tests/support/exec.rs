//! Shared helpers for the `exec_*` tests: a simulator launch spec with a
//! tiny model at time scale 0.01, free ports, temp dirs. Every test holds
//! its children as `matrix::exec::Child`, whose Drop SIGKILLs the group, so
//! a failing assertion never leaves a server behind.

use std::path::Path;
use std::time::{Duration, Instant};

use matrix::exec::{ReadyCheck, Spec};

use super::{bin, model_dir};

/// `matrix sim launch-server` on `port`, logging to `dir/server.log`, with
/// `faults` in `MATRIX_SIM_FAULT` (none when empty).
pub fn sim_server(dir: &Path, port: u16, faults: &str) -> Spec {
    let spec = Spec::new(
        [
            bin().into_os_string(),
            "sim".into(),
            "launch-server".into(),
            "--model-path".into(),
            model_dir().into_os_string(),
            "--port".into(),
            port.to_string().into(),
        ],
        dir.join("server.log"),
    )
    .env("MATRIX_SIM_TIME_SCALE", "0.01")
    .env_remove("MATRIX_SIM_FAULT");
    if faults.is_empty() {
        spec
    } else {
        spec.env("MATRIX_SIM_FAULT", faults)
    }
}

/// `sh -c script`, logging to `dir/<name>.log`.
pub fn sh(dir: &Path, name: &str, script: &str) -> Spec {
    Spec::new(["sh", "-c", script], dir.join(format!("{name}.log")))
}

pub fn health(port: u16, timeout: Duration) -> ReadyCheck {
    ReadyCheck::http(format!("http://127.0.0.1:{port}/health"), timeout)
}

/// Poll `cond` every 5 ms until it holds; panic naming `what` once `limit`
/// has passed. The limit only bounds a failing test: a passing one goes on
/// as soon as the condition holds, however loaded the machine is. Tests
/// wait on a condition (a file, a log line, an exit) this way, never on a
/// fixed sleep.
pub fn wait_until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let until = Instant::now() + limit;
    while !cond() {
        assert!(
            Instant::now() < until,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The text of `path` so far ("" while it does not exist).
pub fn read_or_empty(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}
