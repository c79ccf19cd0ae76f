//! The one test-support module of the integration tests (each test binary
//! says `mod support;`). Shared here: the repository root, the `matrix`
//! binary, the simulator's tiny model, free ports, waiting on a condition,
//! copying the shipped project, the timing lock. By noun:
//!
//! - [`project`]: a scratch project for `matrix` commands (plan, config,
//!   parse), insta redactions;
//! - [`run`]: `matrix run --engine sim` in a scratch project, CSV / journal
//!   readers, leftover-process checks;
//! - [`exec`]: `matrix::exec` specs for the simulator and `sh`;
//! - [`sim`]: the simulator as a process, a tiny streaming HTTP client;
//! - [`bench`]: an in-process fake server for `matrix bench`;
//! - [`serve`]: `matrix serve` as a process and a verbatim HTTP client;
//! - [`cdp`]: headless Chromium over the DevTools protocol.
//!
//! Snapshot assertions (`insta::assert_snapshot!`) stay in the test files,
//! so snapshot names keep following the test file and function.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub mod bench;
pub mod cdp;
pub mod exec;
pub mod project;
pub mod results;
pub mod run;
pub mod serve;
pub mod sim;

/// The repository root.
pub const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The `matrix` binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_matrix"))
}

/// The simulator's tiny model (two layers of Qwen3).
pub fn model_dir() -> PathBuf {
    Path::new(ROOT).join("tests/fixtures/sim/qwen3-2l")
}

/// A port that was free a moment ago (bind to :0, read it, release it).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind :0");
    l.local_addr().expect("local addr").port()
}

/// Poll `cond` every 5 ms until it holds (true) or `limit` passes (false).
/// The limit only bounds a failing test; a passing one returns as soon as
/// the condition holds, however loaded the machine is.
pub fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Copy a folder tree (the shipped conf/, model_conf/, matrices/ into a
/// scratch project).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// Copies of conf/, model_conf/ and matrices/ under `dir`.
pub fn copy_project(dir: &Path) {
    for sub in ["conf", "model_conf", "matrices"] {
        copy_dir(&Path::new(ROOT).join(sub), &dir.join(sub));
    }
}

/// Serialize the timing-sensitive tests (bench client and simulator
/// streaming comparisons): nextest runs each test in its own process, so
/// only a file lock can keep two of them from measuring each other's CPU
/// use on a 2-core machine. Hold the guard for the test.
pub fn timing_lock() -> nix::fcntl::Flock<std::fs::File> {
    let path = std::env::temp_dir().join("matrix-bench-timing-tests.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .expect("lock file");
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| e)
        .expect("flock")
}
