//! Every `MATRIX_SIM_FAULT` mode does what docs/SIM.md promises.

mod support;

use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use nix::sys::signal::Signal;
use support::sim::*;
use support::{bin, model_dir, wait_for};

const GEN: &str = r#"{"text": "a b", "sampling_params": {"max_new_tokens": 4}}"#;

fn fault(spec: &str) -> [(&str, &str); 1] {
    [("MATRIX_SIM_FAULT", spec)]
}

#[test]
fn slow_start_delays_health() {
    let p = server(&[], &fault("slow_start=0.4"));
    let seen = wait_healthy(p.port, SOON);
    assert!(seen.contains(&503) && seen.last() == Some(&200), "{seen:?}");
}

#[test]
fn crash_at_start_exits_with_the_code_and_a_traceback() {
    let mut p = server(&[], &fault("crash_at_start=7"));
    let status = p.wait_exit(SOON).expect("crashes");
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
    // Wait for the stall itself, not a fixed window (a slow start would
    // still be refusing connections at any fixed instant).
    assert!(
        p.wait_log("Loading stalled", SOON),
        "never stalled:\n{}",
        p.stderr()
    );
    assert_eq!(get(p.port, "/health").status, 503);
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
    let status = p.wait_exit(SOON).expect("process died");
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
    assert!(p.wait_log("ignoring it", SOON), "SIGTERM was seen");
    assert!(
        p.wait_exit(Duration::from_millis(400)).is_none(),
        "SIGTERM ignored"
    );
    assert_eq!(get(p.port, "/health").status, 200);
    p.signal(Signal::SIGKILL);
    assert!(p.wait_exit(SOON).is_some());
}

#[test]
fn sigterm_stops_a_normal_server() {
    let mut p = healthy_server(&[], &[]);
    p.signal(Signal::SIGTERM);
    let status = p.wait_exit(SOON).expect("exits");
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
    p.wait_exit(SOON).expect("server died");
    assert!(
        TcpStream::connect(("127.0.0.1", p.port)).is_ok(),
        "grandchild still holds the port"
    );
    let _ = nix::sys::signal::killpg(p.pgid(), Signal::SIGKILL);
    let freed = wait_for(SOON, || TcpStream::connect(("127.0.0.1", p.port)).is_err());
    assert!(freed, "killing the group frees the port");
}

const OOM: &str = "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate";

/// A batched request of more than B prompts dies at once, whatever batches
/// the scheduler would have formed from it.
#[test]
fn oom_above_kills_server_on_a_batched_request() {
    let mut p = healthy_server(&[], &fault("oom_above=2"));
    let two = r#"{"text": ["a", "b"], "sampling_params": {"max_new_tokens": 2}}"#;
    assert_eq!(post(p.port, "/generate", two).status, 200);
    let big = r#"{"text": ["a", "b", "c", "d"], "sampling_params": {"max_new_tokens": 2}}"#;
    let answer = request_with_timeout(p.port, "POST", "/generate", Some(big), SOON);
    assert!(
        answer.map(|r| r.status != 200).unwrap_or(true),
        "the big batch must not be served"
    );
    let status = p.wait_exit(SOON).expect("server died of OOM");
    assert_eq!(status.code(), Some(1));
    assert!(p.stderr().contains(OOM), "{}", p.stderr());
}

/// Single requests that the scheduler runs together: the decode batch of
/// three long streams exceeds B = 2. Each stream lasts 10 000 steps of
/// 1 ms (scaled), so they overlap even on a starved machine.
#[test]
fn oom_above_kills_server_on_a_formed_batch() {
    let mut p = healthy_server(&["--sim-step-overhead-ms", "100"], &fault("oom_above=2"));
    let long = r#"{"text": "a", "sampling_params": {"max_new_tokens": 10000}, "stream": true}"#;
    let streams: Vec<TcpStream> = (0..3).map(|_| open_stream(p.port, long)).collect();
    let status = p.wait_exit(SOON).expect("server died of OOM");
    drop(streams);
    assert_eq!(status.code(), Some(1));
    assert!(p.stderr().contains(OOM), "{}", p.stderr());
}

/// Send a POST and leave its response unread (the stream stays open).
fn open_stream(port: u16, body: &str) -> TcpStream {
    use std::io::Write;
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let req = format!(
        "POST /generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).expect("send");
    s
}

#[test]
fn oom_above_stops_one_batch_at_the_first_big_combination() {
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
    assert!(String::from_utf8_lossy(&o.stderr).contains(OOM));
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
    let status = p.wait_exit(SOON).expect("exits");
    assert_eq!(status.code(), Some(2));
    assert!(p.stderr().contains("MATRIX_SIM_FAULT"));
}
