//! Every `MATRIX_SIM_FAULT` mode does what docs/SIM.md promises.

mod sim_support;

use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use nix::sys::signal::Signal;
use sim_support::*;

const GEN: &str = r#"{"text": "a b", "sampling_params": {"max_new_tokens": 4}}"#;

fn fault(spec: &str) -> [(&str, &str); 1] {
    [("MATRIX_SIM_FAULT", spec)]
}

#[test]
fn slow_start_delays_health() {
    let p = server(&[], &fault("slow_start=0.4"));
    let seen = wait_healthy(p.port, Duration::from_secs(20));
    assert!(seen.contains(&503) && seen.last() == Some(&200), "{seen:?}");
}

#[test]
fn crash_at_start_exits_with_the_code_and_a_traceback() {
    let mut p = server(&[], &fault("crash_at_start=7"));
    let status = p.wait_exit(Duration::from_secs(20)).expect("crashes");
    assert_eq!(status.code(), Some(7));
    assert!(p.stderr().contains("Traceback (most recent call last):"));
    let model = model_dir();
    let o = Command::new(bin())
        .args([
            "sim",
            "one-batch",
            "--model-path",
            model.to_str().unwrap(),
            "--result-filename",
            "",
        ])
        .env("MATRIX_SIM_TIME_SCALE", "0.001")
        .env("MATRIX_SIM_FAULT", "crash_at_start=5")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(5));
}

#[test]
fn hang_at_start_never_gets_healthy() {
    let mut p = server(&[], &fault("hang_at_start"));
    let seen = wait_healthy(p.port, Duration::from_millis(800));
    assert_eq!(seen.last(), Some(&503), "{seen:?}");
    assert_eq!(get(p.port, "/sim/stats").json()["ready"], false);
    assert!(
        p.wait_exit(Duration::from_millis(10)).is_none(),
        "still alive"
    );
}

#[test]
fn crash_after_kills_the_process_on_request_n_plus_1() {
    let mut p = healthy_server(&[], &fault("crash_after=2"));
    for _ in 0..2 {
        assert_eq!(post(p.port, "/generate", GEN).status, 200);
    }
    let third = request(p.port, "POST", "/generate", Some(GEN));
    assert!(
        third.map(|r| r.status != 200).unwrap_or(true),
        "third request must fail"
    );
    let status = p.wait_exit(Duration::from_secs(10)).expect("process died");
    assert!(!status.success());
}

#[test]
fn hang_after_goes_silent_but_stays_alive() {
    let mut p = healthy_server(&[], &fault("hang_after=1"));
    assert_eq!(post(p.port, "/generate", GEN).status, 200);
    let second = request_with_timeout(
        p.port,
        "POST",
        "/generate",
        Some(GEN),
        Duration::from_millis(500),
    );
    assert!(second.is_err(), "second request must time out: {second:?}");
    let health = request_with_timeout(p.port, "GET", "/health", None, Duration::from_millis(300));
    assert!(health.is_err(), "health goes silent too");
    assert!(
        p.wait_exit(Duration::from_millis(50)).is_none(),
        "process stays alive"
    );
    assert_eq!(get(p.port, "/sim/stats").json()["hung"], true);
}

#[test]
fn ignore_sigterm_needs_sigkill() {
    let mut p = healthy_server(&[], &fault("ignore_sigterm"));
    p.signal(Signal::SIGTERM);
    assert!(
        p.wait_exit(Duration::from_millis(400)).is_none(),
        "SIGTERM ignored"
    );
    assert_eq!(get(p.port, "/health").status, 200);
    assert!(p.stderr().contains("ignoring it"));
    p.signal(Signal::SIGKILL);
    assert!(p.wait_exit(Duration::from_secs(5)).is_some());
}

#[test]
fn sigterm_stops_a_normal_server() {
    let mut p = healthy_server(&[], &[]);
    p.signal(Signal::SIGTERM);
    let status = p.wait_exit(Duration::from_secs(5)).expect("exits");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn grandchild_port_outlives_the_server_until_the_group_dies() {
    let mut p = healthy_server(&[], &fault("grandchild_port"));
    // Kill only the server's pid, not its group.
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(p.child.id() as i32),
        Signal::SIGKILL,
    );
    p.wait_exit(Duration::from_secs(5)).expect("server died");
    assert!(
        TcpStream::connect(("127.0.0.1", p.port)).is_ok(),
        "grandchild still holds the port"
    );
    let _ = nix::sys::signal::killpg(p.pgid(), Signal::SIGKILL);
    let freed = (0..200).any(|_| {
        std::thread::sleep(Duration::from_millis(10));
        TcpStream::connect(("127.0.0.1", p.port)).is_err()
    });
    assert!(freed, "killing the group frees the port");
}

#[test]
fn oom_above_kills_server_and_one_batch() {
    let mut p = healthy_server(&[], &fault("oom_above=2"));
    assert_eq!(
        post(
            p.port,
            "/generate",
            r#"{"text": ["a", "b"], "sampling_params": {"max_new_tokens": 2}}"#
        )
        .status,
        200
    );
    let big = r#"{"text": ["a", "b", "c", "d"], "sampling_params": {"max_new_tokens": 2}}"#;
    let _ = request_with_timeout(
        p.port,
        "POST",
        "/generate",
        Some(big),
        Duration::from_secs(5),
    );
    let status = p
        .wait_exit(Duration::from_secs(5))
        .expect("server died of OOM");
    assert_eq!(status.code(), Some(1));
    assert!(
        p.stderr()
            .contains("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate")
    );

    let model = model_dir();
    let o = Command::new(bin())
        .args([
            "sim",
            "one-batch",
            "--model-path",
            model.to_str().unwrap(),
            "--batch-size",
            "1",
            "4",
            "--input-len",
            "32",
            "--output-len",
            "4",
            "--result-filename",
            "",
        ])
        .env("MATRIX_SIM_TIME_SCALE", "0.001")
        .env("MATRIX_SIM_FAULT", "oom_above=2")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate")
    );
    assert_eq!(
        String::from_utf8_lossy(&o.stdout)
            .matches("Total. latency")
            .count(),
        2,
        "warmup and bs=1 ran"
    );
}

fn decode_latencies(seed: &str, fault_spec: Option<&str>) -> Vec<String> {
    let model = model_dir();
    let mut cmd = Command::new(bin());
    cmd.args([
        "sim",
        "one-batch",
        "--model-path",
        model.to_str().unwrap(),
        "--output-len",
        "8",
        "--input-len",
        "16",
        "--result-filename",
        "",
        "--sim-seed",
        seed,
    ])
    .env("MATRIX_SIM_TIME_SCALE", "0");
    match fault_spec {
        Some(f) => cmd.env("MATRIX_SIM_FAULT", f),
        None => cmd.env_remove("MATRIX_SIM_FAULT"),
    };
    let out = String::from_utf8(cmd.output().unwrap().stdout).unwrap();
    out.lines()
        .filter(|l| l.starts_with("Decode ") && l.contains("Batch size"))
        .map(String::from)
        .collect()
}

#[test]
fn jitter_is_random_but_seeded() {
    let plain = decode_latencies("1", None);
    let a = decode_latencies("1", Some("jitter=5"));
    let b = decode_latencies("1", Some("jitter=5"));
    let c = decode_latencies("2", Some("jitter=5"));
    let spread = |v: &[String]| {
        let lat: Vec<f64> = v
            .iter()
            .map(|l| {
                l.split("latency: ")
                    .nth(1)
                    .unwrap()
                    .split(' ')
                    .next()
                    .unwrap()
                    .parse()
                    .unwrap()
            })
            .collect();
        lat.iter().cloned().fold(0.0, f64::max) / lat.iter().cloned().fold(f64::MAX, f64::min)
    };
    assert!(spread(&plain) < 1.01, "no jitter: steady steps {plain:?}");
    assert!(spread(&a) > 1.5, "jitter varies steps: {a:?}");
    assert_eq!(a, b, "same seed, same jitter");
    assert_ne!(a, c, "different seed, different jitter");
}

#[test]
fn bad_fault_spec_exits_2() {
    let mut p = server(&[], &fault("explode=1"));
    let status = p.wait_exit(Duration::from_secs(10)).expect("exits");
    assert_eq!(status.code(), Some(2));
    assert!(p.stderr().contains("MATRIX_SIM_FAULT"));
}
