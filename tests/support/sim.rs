//! Shared helpers for the simulator's integration tests: spawn the binary in
//! its own process group (killed on drop, even when a test fails), free
//! ports, and a tiny HTTP/1.1 client that timestamps every streamed chunk.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use super::{bin, free_port, model_dir, wait_for};

/// Generous bound for anything that should happen "soon": only a broken
/// build waits this long.
pub const SOON: Duration = Duration::from_secs(20);

/// A spawned simulator; its whole process group is SIGKILLed on drop.
pub struct Proc {
    pub child: Child,
    pub port: u16,
    pub stderr_path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Proc {
    pub fn pgid(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Wait for exit up to `limit`; None if still running.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let until = Instant::now() + limit;
        while Instant::now() < until {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    /// Wait until stderr contains `needle` (true) or `limit` passes
    /// (false). Tests wait on log lines instead of sleeping a fixed time.
    pub fn wait_log(&self, needle: &str, limit: Duration) -> bool {
        wait_for(limit, || self.stderr().contains(needle))
    }

    pub fn signal(&self, sig: Signal) {
        let _ = nix::sys::signal::kill(self.pgid(), sig);
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = killpg(self.pgid(), Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

/// Spawn `matrix sim <sub> <args>` with `env`, in a new process group.
pub fn spawn(sub: &str, args: &[&str], env: &[(&str, &str)], port: u16) -> Proc {
    let dir = tempfile::tempdir().expect("tempdir");
    let stderr_path = dir.path().join("stderr.log");
    let stderr = std::fs::File::create(&stderr_path).expect("stderr file");
    let mut cmd = Command::new(bin());
    cmd.arg("sim").arg(sub).args(args);
    cmd.env_remove("MATRIX_SIM_FAULT")
        .env("MATRIX_SIM_TIME_SCALE", "0.01");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .process_group(0);
    let child = cmd.spawn().expect("spawn matrix");
    Proc {
        child,
        port,
        stderr_path,
        _dir: dir,
    }
}

/// Start a server on a free port with the test model and `extra` flags.
pub fn server(extra: &[&str], env: &[(&str, &str)]) -> Proc {
    let port = free_port();
    let port_s = port.to_string();
    let model = model_dir();
    let mut args = vec![
        "--model-path",
        model.to_str().expect("utf8 path"),
        "--port",
        &port_s,
    ];
    args.extend_from_slice(extra);
    spawn("launch-server", &args, env, port)
}

/// Poll `/health` until 200; returns every status seen (connection errors
/// as 0).
pub fn wait_healthy(port: u16, limit: Duration) -> Vec<u16> {
    let until = Instant::now() + limit;
    let mut seen = Vec::new();
    while Instant::now() < until {
        let status = request(port, "GET", "/health", None)
            .map(|r| r.status)
            .unwrap_or(0);
        if seen.last() != Some(&status) {
            seen.push(status);
        }
        if status == 200 {
            return seen;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    seen
}

pub fn healthy_server(extra: &[&str], env: &[(&str, &str)]) -> Proc {
    let p = server(extra, env);
    let seen = wait_healthy(p.port, SOON);
    assert_eq!(
        seen.last(),
        Some(&200),
        "server never healthy: {seen:?}\n{}",
        p.stderr()
    );
    p
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: String,
    /// Body chunks with the instant each was fully read.
    pub chunks: Vec<(Instant, String)>,
    pub sent: Instant,
}

impl Response {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// SSE `data:` payloads with arrival instants, `[DONE]` included.
    pub fn events(&self) -> Vec<(Instant, String)> {
        let mut out = Vec::new();
        for (t, chunk) in &self.chunks {
            for line in chunk.lines() {
                if let Some(data) = line.strip_prefix("data: ") {
                    out.push((*t, data.to_string()));
                }
            }
        }
        out
    }
}

/// One HTTP/1.1 request with `Connection: close`.
pub fn request(
    port: u16,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> std::io::Result<Response> {
    request_with_timeout(port, method, path, body, Duration::from_secs(30))
}

pub fn request_with_timeout(
    port: u16,
    method: &str,
    path: &str,
    body: Option<&str>,
    timeout: Duration,
) -> std::io::Result<Response> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(timeout))?;
    let body = body.unwrap_or("");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let sent = Instant::now();
    s.write_all(req.as_bytes())?;
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line)?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let mut chunked = false;
    loop {
        line.clear();
        r.read_line(&mut line)?;
        if line.trim().is_empty() {
            break;
        }
        let l = line.to_ascii_lowercase();
        if l.starts_with("transfer-encoding:") && l.contains("chunked") {
            chunked = true;
        }
    }
    let chunks = if chunked {
        read_chunks(&mut r)?
    } else {
        read_all(&mut r)?
    };
    let body = chunks.iter().map(|(_, c)| c.as_str()).collect();
    Ok(Response {
        status,
        body,
        chunks,
        sent,
    })
}

fn read_all(r: &mut impl Read) -> std::io::Result<Vec<(Instant, String)>> {
    let mut s = String::new();
    r.read_to_string(&mut s)?;
    Ok(vec![(Instant::now(), s)])
}

fn read_chunks(r: &mut impl BufRead) -> std::io::Result<Vec<(Instant, String)>> {
    let mut out = Vec::new();
    loop {
        let mut size = String::new();
        r.read_line(&mut size)?;
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            return Ok(out);
        }
        let mut buf = vec![0; n + 2];
        r.read_exact(&mut buf)?;
        buf.truncate(n);
        out.push((Instant::now(), String::from_utf8_lossy(&buf).into_owned()));
    }
}

pub fn get(port: u16, path: &str) -> Response {
    request(port, "GET", path, None).unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

pub fn post(port: u16, path: &str, body: &str) -> Response {
    request(port, "POST", path, Some(body)).unwrap_or_else(|e| panic!("POST {path}: {e}"))
}

/// Ask the kernel to keep every CPU out of idle states while the returned
/// file stays open (a PM QoS request of 0 µs on `/dev/cpu_dma_latency`,
/// what `cyclictest` does before measuring). On this VM an idle vCPU halts,
/// and waking it again (a timer or a loopback packet for a sleeping thread)
/// takes over 1 ms for ~1 % of wake-ups: a bare loopback ping-pong between
/// two processes has p99 RTT 0.5 ms and 0.5 % over 1 ms without the
/// request, 0.23 ms and none over 1 ms with it (docs/PERFORMANCE.md). The
/// p99 comparisons against `/sim/trace` need that floor below the 1 ms
/// they assert, so they call this and fail with its error (the device is
/// missing, or not writable: not root); they are `#[ignore]`d and run by
/// `.ci/run` as root.
pub fn cpu_latency_qos() -> Result<std::fs::File, String> {
    use std::io::Write;
    const DEV: &str = "/dev/cpu_dma_latency";
    let hint = "these tests need root to hold the request (.ci/run runs them as root)";
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(DEV)
        .map_err(|e| format!("cannot open {DEV} for writing: {e}; {hint}"))?;
    f.write_all(&0i32.to_ne_bytes())
        .map_err(|e| format!("cannot write a 0 µs request to {DEV}: {e}; {hint}"))?;
    Ok(f)
}
