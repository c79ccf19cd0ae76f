//! Ctrl-C twice, end to end: a helper process (this test binary re-run with
//! `MATRIX_EXEC_SIGNAL_HELPER` set) installs the handlers, launches a
//! simulator that ignores SIGTERM, and on the first SIGINT starts a
//! graceful stop with a very long grace. The first SIGINT must only set the
//! flag; the second must SIGKILL the server's group and exit 130 at once.

mod support;

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use matrix::exec::{self, Child, group_alive, wait_ready};
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use support::exec::*;
use support::free_port;

const HELPER_ENV: &str = "MATRIX_EXEC_SIGNAL_HELPER";

/// The helper's body, run only by `second_sigint_kills_every_group_and_exits_130`
/// (which re-runs this binary with `--ignored --exact helper_process` and
/// `MATRIX_EXEC_SIGNAL_HELPER` set). Ignored, so that it is never counted
/// as a passing test that did nothing; run on its own, it fails.
#[test]
#[ignore = "helper process of second_sigint_kills_every_group_and_exits_130, not a test"]
fn helper_process() {
    let dir = std::env::var(HELPER_ENV).unwrap_or_else(|_| {
        panic!("{HELPER_ENV} is not set: run second_sigint_kills_every_group_and_exits_130")
    });
    let dir = Path::new(&dir);
    let stop = exec::install_signals().unwrap();
    let port = free_port();
    let mut server = Child::spawn(&sim_server(dir, port, "ignore_sigterm")).unwrap();
    let r = wait_ready(&mut server, &health(port, Duration::from_secs(30)), stop).unwrap();
    assert!(r.is_ready(), "{r:?}");
    std::fs::write(dir.join("pgid"), server.pgid().to_string()).unwrap();
    while !stop.is_stopping() {
        std::thread::sleep(Duration::from_millis(2));
    }
    std::fs::write(dir.join("stopping"), "").unwrap();
    // The server ignores SIGTERM: only the second Ctrl-C ends this.
    let _ = server.stop(Duration::from_secs(600));
    std::fs::write(dir.join("stopped"), "").unwrap();
}

/// Kills the helper's group and the server's on drop, whatever happens.
struct Cleanup(Vec<i32>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for &g in &self.0 {
            let _ = killpg(Pid::from_raw(g), Signal::SIGKILL);
        }
    }
}

#[test]
fn second_sigint_kills_every_group_and_exits_130() {
    let dir = tempfile::tempdir().unwrap();
    let mut helper = Command::new(std::env::current_exe().unwrap())
        .args([
            "helper_process",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(HELPER_ENV, dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("helper.log")).unwrap())
        .process_group(0)
        .spawn()
        .unwrap();
    let helper_pid = helper.id() as i32;
    let mut cleanup = Cleanup(vec![helper_pid]);
    let helper_log = || std::fs::read_to_string(dir.path().join("helper.log")).unwrap_or_default();

    let pgid_file = dir.path().join("pgid");
    wait_until("the server to be ready", Duration::from_secs(30), || {
        pgid_file.exists() || helper.try_wait().unwrap().is_some()
    });
    let pgid: i32 = std::fs::read_to_string(&pgid_file)
        .unwrap_or_else(|_| panic!("helper failed:\n{}", helper_log()))
        .parse()
        .unwrap();
    cleanup.0.push(pgid);

    kill(Pid::from_raw(helper_pid), Signal::SIGINT).unwrap();
    wait_until("the stop flag", Duration::from_secs(10), || {
        dir.path().join("stopping").exists()
    });
    // The graceful stop is under way (SIGTERM sent, ignored, long grace):
    // nothing has been killed and the helper is still running.
    wait_until(
        "the server to log the ignored SIGTERM",
        Duration::from_secs(10),
        || {
            std::fs::read_to_string(dir.path().join("server.log"))
                .is_ok_and(|l| l.contains("Received SIGTERM; ignoring it"))
        },
    );
    assert!(
        helper.try_wait().unwrap().is_none(),
        "first SIGINT must not exit"
    );
    assert!(group_alive(pgid), "first SIGINT must not kill the server");

    kill(Pid::from_raw(helper_pid), Signal::SIGINT).unwrap();
    // "At once": well before the 600 s grace the helper's stop was given.
    let mut status = None;
    wait_until(
        "the helper to exit on the second SIGINT",
        Duration::from_secs(10),
        || {
            status = helper.try_wait().unwrap();
            status.is_some()
        },
    );
    let status = status.expect("exited");
    assert_eq!(status.code(), Some(130), "{}", helper_log());
    assert!(
        !dir.path().join("stopped").exists(),
        "exited without finishing the stop"
    );
    exec::process::wait_group_gone(pgid, Duration::from_secs(5)).expect("server group killed");
    let log = helper_log();
    assert!(log.contains("press Ctrl-C again"), "{log}");
    assert!(log.contains("interrupted twice"), "{log}");
}
