//! The process layer against the real simulator: launch → ready → stop
//! leaves no process and a free port; start-up failures are recognised
//! fast; stubborn servers and grandchildren holding the port are killed
//! with their group; commands time out and stop on the flag.

mod support;

use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use matrix::exec::{
    self, Child, CmdOutcome, ExecError, Readiness, StopFlag, check_port_free, group_alive,
    port_in_use, run_cmd, wait_port_free, wait_ready,
};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use support::exec::*;
use support::free_port;

const GRACE: Duration = Duration::from_secs(5);
const START: Duration = Duration::from_secs(30);

#[test]
fn launch_ready_stop_frees_the_port_and_the_group() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    check_port_free("127.0.0.1", port).expect("port free before launch");
    let mut server = Child::spawn(&sim_server(dir.path(), port, "")).unwrap();
    let pgid = server.pgid();
    assert_eq!(pgid, server.pid(), "the child leads its own group");
    assert!(exec::signals::GROUPS.live().contains(&pgid), "registered");

    let check = health(port, START).with_log_pattern("The server is fired up");
    let r = wait_ready(&mut server, &check, StopFlag::detached()).unwrap();
    let Readiness::Ready { after } = r else {
        panic!("not ready: {r:?}");
    };
    assert!(after > Duration::ZERO);
    assert!(port_in_use("127.0.0.1", port).unwrap(), "server listens");

    let stopped = server.stop(GRACE).unwrap();
    assert!(!stopped.escalated, "the simulator honours SIGTERM");
    assert!(!group_alive(pgid), "no process of the group remains");
    assert!(
        !exec::signals::GROUPS.live().contains(&pgid),
        "unregistered"
    );
    wait_port_free("127.0.0.1", port, Duration::from_secs(5)).expect("port freed");
    assert!(!port_in_use("127.0.0.1", port).unwrap());
    let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap();
    assert!(log.contains("Received SIGTERM"), "{log}");
}

#[test]
fn crash_at_start_is_reported_well_before_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut server = Child::spawn(&sim_server(dir.path(), port, "crash_at_start=3")).unwrap();
    let t = Instant::now();
    let r = wait_ready(&mut server, &health(port, START), StopFlag::detached()).unwrap();
    assert!(t.elapsed() < START / 3, "took {:?}", t.elapsed());
    let Readiness::Exited { status, log_tail } = r else {
        panic!("expected Exited: {r:?}");
    };
    assert_eq!(status.code(), Some(3));
    assert!(
        log_tail.contains("Traceback (most recent call last):"),
        "{log_tail}"
    );
    server.stop(GRACE).unwrap();
    assert!(!group_alive(server.pgid()));
}

#[test]
fn hang_at_start_times_out() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut server = Child::spawn(&sim_server(dir.path(), port, "hang_at_start")).unwrap();
    let timeout = Duration::from_millis(800);
    let t = Instant::now();
    let r = wait_ready(&mut server, &health(port, timeout), StopFlag::detached()).unwrap();
    assert!(t.elapsed() >= timeout);
    assert!(t.elapsed() < START, "took {:?}", t.elapsed());
    let Readiness::TimedOut { log_tail } = r else {
        panic!("expected TimedOut: {r:?}");
    };
    assert!(log_tail.contains("Load weight begin"), "{log_tail}");
    assert!(server.try_wait().unwrap().is_none(), "still running");
    server.stop(GRACE).unwrap();
    assert!(!group_alive(server.pgid()));
}

#[test]
fn wait_ready_is_interrupted_by_the_stop_flag() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut server = Child::spawn(&sim_server(dir.path(), port, "hang_at_start")).unwrap();
    let stop = StopFlag::detached();
    // Stop once the server is up and stalled, i.e. while wait_ready waits.
    let log = dir.path().join("server.log");
    let setter = std::thread::spawn(move || {
        wait_until("the server to stall", START, || {
            read_or_empty(&log).contains("Loading stalled")
        });
        stop.request_stop();
    });
    let t = Instant::now();
    let r = wait_ready(&mut server, &health(port, START), stop).unwrap();
    setter.join().unwrap();
    assert!(matches!(r, Readiness::Interrupted), "{r:?}");
    assert!(t.elapsed() < START / 3);
    server.stop(GRACE).unwrap();
}

#[test]
fn oom_text_in_the_log_is_recognised_after_exit() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let script = "echo 'Load weight begin.'; \
        echo 'torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB' >&2; exit 1";
    let mut child = Child::spawn(&sh(dir.path(), "oom", script)).unwrap();
    let r = wait_ready(&mut child, &health(port, START), StopFlag::detached()).unwrap();
    let Readiness::Oom { log_tail } = r else {
        panic!("expected Oom: {r:?}");
    };
    assert!(log_tail.contains("CUDA out of memory"), "{log_tail}");
    assert!(
        log_tail.contains("Load weight begin."),
        "stdout and stderr share the log"
    );
    child.stop(GRACE).unwrap();
}

#[test]
fn oom_text_in_the_log_is_recognised_while_running() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let script = "echo 'RuntimeError: OutOfMemoryError in the scheduler' >&2; exec sleep 300";
    let mut child = Child::spawn(&sh(dir.path(), "oom", script)).unwrap();
    let t = Instant::now();
    let r = wait_ready(&mut child, &health(port, START), StopFlag::detached()).unwrap();
    assert!(matches!(r, Readiness::Oom { .. }), "{r:?}");
    assert!(t.elapsed() < START / 3);
    assert!(
        child.try_wait().unwrap().is_none(),
        "the caller decides to stop"
    );
    let stopped = child.stop(GRACE).unwrap();
    assert_eq!(stopped.status.signal(), Some(Signal::SIGTERM as i32));
}

#[test]
fn ignore_sigterm_is_killed_after_the_grace() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut server = Child::spawn(&sim_server(dir.path(), port, "ignore_sigterm")).unwrap();
    let r = wait_ready(&mut server, &health(port, START), StopFlag::detached()).unwrap();
    assert!(r.is_ready(), "{r:?}");
    let stopped = server.stop(Duration::from_millis(300)).unwrap();
    assert!(stopped.escalated, "SIGTERM was ignored, SIGKILL needed");
    assert_eq!(stopped.status.signal(), Some(Signal::SIGKILL as i32));
    assert!(!group_alive(server.pgid()));
    wait_port_free("127.0.0.1", port, Duration::from_secs(5)).unwrap();
    let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap();
    assert!(log.contains("ignoring it"), "{log}");
}

/// Why we kill the group and not the pid: the grandchild keeps the
/// listening socket after the server itself is dead.
#[test]
fn grandchild_holding_the_port_dies_with_the_group() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut server = Child::spawn(&sim_server(dir.path(), port, "grandchild_port")).unwrap();
    let r = wait_ready(&mut server, &health(port, START), StopFlag::detached()).unwrap();
    assert!(r.is_ready(), "{r:?}");

    // Killing only the leader's pid is not enough...
    kill(Pid::from_raw(server.pid()), Signal::SIGKILL).unwrap();
    let status = server.wait_timeout(GRACE).unwrap().expect("leader died");
    assert_eq!(status.signal(), Some(Signal::SIGKILL as i32));
    assert!(group_alive(server.pgid()), "the grandchild lives on");
    assert!(
        port_in_use("127.0.0.1", port).unwrap(),
        "and holds the port"
    );

    // ...stopping the group is.
    server.stop(GRACE).unwrap();
    assert!(!group_alive(server.pgid()));
    wait_port_free("127.0.0.1", port, Duration::from_secs(5)).expect("port freed");
}

#[test]
fn drop_kills_the_group() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let server = Child::spawn(&sim_server(dir.path(), port, "ignore_sigterm")).unwrap();
    let pgid = server.pgid();
    assert!(group_alive(pgid));
    drop(server);
    exec::process::wait_group_gone(pgid, Duration::from_secs(5)).expect("group gone after drop");
    assert!(!exec::signals::GROUPS.live().contains(&pgid));
}

#[test]
fn port_preflight_names_the_port() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    assert!(port_in_use("127.0.0.1", port).unwrap());
    let err = check_port_free("127.0.0.1", port).unwrap_err();
    assert!(matches!(err, ExecError::PortInUse { .. }));
    assert!(err.to_string().contains(&port.to_string()), "{err}");
    assert!(err.hint().unwrap().contains(&port.to_string()));
    assert_eq!(matrix::Error::from(err).exit_code(), 2);

    let busy = wait_port_free("127.0.0.1", port, Duration::from_millis(50)).unwrap_err();
    assert!(busy.to_string().contains(&port.to_string()), "{busy}");
    drop(l);
    wait_port_free("127.0.0.1", port, Duration::from_secs(5)).unwrap();
    check_port_free("127.0.0.1", port).unwrap();
}

#[test]
fn spawn_errors_name_the_program() {
    let dir = tempfile::tempdir().unwrap();
    let spec = exec::Spec::new(["/nonexistent/engine"], dir.path().join("x.log"));
    let err = Child::spawn(&spec).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/engine"), "{err}");
    assert!(err.hint().is_some());
    let empty = exec::Spec::new(Vec::<String>::new(), dir.path().join("x.log"));
    assert!(matches!(Child::spawn(&empty), Err(ExecError::EmptyArgv)));
    let nolog = exec::Spec::new(["true"], dir.path().join("no/such/dir/x.log"));
    assert!(matches!(
        Child::spawn(&nolog),
        Err(ExecError::LogFile { .. })
    ));
}

#[test]
fn run_cmd_reports_the_exit_and_sweeps_leftovers() {
    let dir = tempfile::tempdir().unwrap();
    // The shell leaves a background sleep in its group and exits.
    let spec = sh(
        dir.path(),
        "c",
        "echo $$; sleep 300 & echo out; echo err >&2; exit 3",
    );
    let r = run_cmd(&spec, START, GRACE, StopFlag::detached()).unwrap();
    let CmdOutcome::Exited(status) = r else {
        panic!("{r:?}");
    };
    assert_eq!(status.code(), Some(3));
    let log = std::fs::read_to_string(dir.path().join("c.log")).unwrap();
    assert!(log.contains("out") && log.contains("err"), "{log}");
    let pgid: i32 = log.lines().next().unwrap().trim().parse().unwrap();
    assert!(!group_alive(pgid), "the background sleep was killed");
}

#[test]
fn run_cmd_times_out() {
    let dir = tempfile::tempdir().unwrap();
    let spec = sh(dir.path(), "c", "trap '' TERM; echo $$; sleep 300");
    let t = Instant::now();
    let r = run_cmd(
        &spec,
        Duration::from_millis(300),
        Duration::from_millis(200),
        StopFlag::detached(),
    )
    .unwrap();
    assert!(
        matches!(r, CmdOutcome::TimedOut { after } if after >= Duration::from_millis(300)),
        "{r:?}"
    );
    assert!(
        t.elapsed() < Duration::from_secs(20),
        "took {:?}",
        t.elapsed()
    );
    let log = std::fs::read_to_string(dir.path().join("c.log")).unwrap();
    let pgid: i32 = log.lines().next().unwrap().trim().parse().unwrap();
    assert!(!group_alive(pgid));
}

#[test]
fn run_cmd_stops_on_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let stop = StopFlag::detached();
    // Stop once the command runs (it has logged its pid).
    let log = dir.path().join("c.log");
    let setter = std::thread::spawn(move || {
        wait_until("the command to start", START, || {
            read_or_empty(&log).ends_with('\n')
        });
        stop.request_stop();
    });
    let t = Instant::now();
    let r = run_cmd(
        &sh(dir.path(), "c", "echo $$; exec sleep 300"),
        START,
        GRACE,
        stop,
    )
    .unwrap();
    setter.join().unwrap();
    assert!(matches!(r, CmdOutcome::Interrupted), "{r:?}");
    assert!(t.elapsed() < START / 3, "took {:?}", t.elapsed());
    let log = std::fs::read_to_string(dir.path().join("c.log")).unwrap();
    let pgid: i32 = log.lines().next().unwrap().trim().parse().unwrap();
    assert!(!group_alive(pgid));
}

/// Spawning blocks SIGINT/SIGTERM in `matrix` for a moment (so a second
/// Ctrl-C cannot miss the new group); the child must not inherit that
/// block, or it would never see the SIGTERM of a graceful stop.
#[test]
fn children_do_not_inherit_a_blocked_signal_mask() {
    let dir = tempfile::tempdir().unwrap();
    let spec = sh(dir.path(), "c", "exec grep SigBlk /proc/self/status");
    let r = run_cmd(&spec, START, GRACE, StopFlag::detached()).unwrap();
    assert!(matches!(r, CmdOutcome::Exited(s) if s.success()), "{r:?}");
    let log = std::fs::read_to_string(dir.path().join("c.log")).unwrap();
    let mask = log.split_whitespace().nth(1).expect("SigBlk value");
    let mask = u64::from_str_radix(mask, 16).unwrap();
    let term_int = (1 << (Signal::SIGTERM as u64 - 1)) | (1 << (Signal::SIGINT as u64 - 1));
    assert_eq!(mask & term_int, 0, "{log}");
}

/// `Spec::cpus` pins the child like `taskset -c` (its children inherit it);
/// a list with no CPU matrix may use is an error naming them, not a child
/// that silently runs anywhere.
#[test]
fn cpus_pin_the_child_and_unusable_ones_are_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let spec = sh(
        dir.path(),
        "c",
        "sh -c 'grep Cpus_allowed_list /proc/self/status'",
    )
    .cpus(Some(&[0]));
    let r = run_cmd(&spec, START, GRACE, StopFlag::detached()).unwrap();
    assert!(matches!(r, CmdOutcome::Exited(s) if s.success()), "{r:?}");
    let log = std::fs::read_to_string(dir.path().join("c.log")).unwrap();
    assert_eq!(log.split_whitespace().nth(1), Some("0"), "{log}");

    let spec = sh(dir.path(), "d", "true").cpus(Some(&[1000]));
    let err = run_cmd(&spec, START, GRACE, StopFlag::detached()).unwrap_err();
    assert!(matches!(err, ExecError::Cpus { .. }), "{err:?}");
    assert!(err.to_string().contains("[1000]"), "{err}");
    assert_eq!(err.exit_code(), 2);
}
