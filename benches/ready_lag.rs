//! Readiness lag probe (a program, not a test: it prints numbers and
//! asserts nothing; run by `scripts/bench-ready.sh`, i.e.
//! `cargo bench --profile dev --bench ready_lag`): how long after the
//! server becomes ready does `wait_ready` return? `RUNS` (default 20) and
//! `SLOW_START` (seconds, default 0.2) from the environment.
//!
//! Each launch starts the simulator with `slow_start` so the server is up
//! and answering 503 for a while. A reference thread polls `/sim/stats`
//! every ~100 µs and notes the first instant `"ready":true` (the moment the
//! simulator flips its ready flag; `/health` answers 200 from then on, after
//! one scheduler step). The lag is the instant `wait_ready` returned minus
//! that reference instant.

#[path = "../tests/support/mod.rs"]
mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use matrix::exec::{Child, Readiness, StopFlag, wait_ready};
use support::exec::*;
use support::free_port;

fn stats_ready(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    let req =
        format!("GET /sim/stats HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut body = String::new();
    let _ = s.read_to_string(&mut body);
    body.contains("\"ready\":true")
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn main() {
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let slow: f64 = std::env::var("SLOW_START")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.2);
    let mut lags = Vec::new();
    let mut afters = Vec::new();
    for _ in 0..runs {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let spec = sim_server(dir.path(), port, &format!("slow_start={slow}"));
        let mut server = Child::spawn(&spec).unwrap();
        let done = Arc::new(AtomicBool::new(false));
        let seen: Arc<Mutex<Option<Instant>>> = Arc::default();
        let reference = {
            let (done, seen) = (done.clone(), seen.clone());
            std::thread::spawn(move || {
                while !done.load(Ordering::Relaxed) {
                    if stats_ready(port) {
                        *seen.lock().unwrap() = Some(Instant::now());
                        return;
                    }
                    std::thread::sleep(Duration::from_micros(100));
                }
            })
        };
        let r = wait_ready(
            &mut server,
            &health(port, Duration::from_secs(60)),
            StopFlag::detached(),
        )
        .unwrap();
        let returned = Instant::now();
        let Readiness::Ready { after } = r else {
            panic!("not ready: {r:?}");
        };
        // The reference may still be in flight: wait until it has seen it.
        wait_until("the reference to see ready", Duration::from_secs(5), || {
            seen.lock().unwrap().is_some()
        });
        done.store(true, Ordering::Relaxed);
        reference.join().unwrap();
        let seen = seen.lock().unwrap().expect("reference saw ready");
        let lag = returned.saturating_duration_since(seen).as_secs_f64() * 1e3;
        let early = seen.saturating_duration_since(returned).as_secs_f64() * 1e3;
        lags.push(if early > 0.0 { -early } else { lag });
        afters.push(after.as_secs_f64());
        server.stop(Duration::from_secs(5)).unwrap();
    }
    let mut sorted = lags.clone();
    sorted.sort_by(f64::total_cmp);
    println!("runs={runs} slow_start={slow}s time_scale=0.01");
    println!(
        "ready after (s): min {:.3} max {:.3}",
        afters.iter().cloned().fold(f64::MAX, f64::min),
        afters.iter().cloned().fold(0.0, f64::max)
    );
    println!(
        "lag (ms): median {:.2} p90 {:.2} p99 {:.2} min {:.2} max {:.2}",
        percentile(&sorted, 50.0),
        percentile(&sorted, 90.0),
        percentile(&sorted, 99.0),
        sorted[0],
        sorted[sorted.len() - 1]
    );
    println!(
        "lags (ms): {}",
        lags.iter()
            .map(|l| format!("{l:.2}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
}
