//! Is a freshly launched server ready? Poll its health URL (and optionally
//! wait for a log line) while watching for the three ways a start goes
//! wrong: the process exits, the log shows a CUDA out-of-memory error, or
//! the startup timeout passes. Ctrl-C ([`StopFlag`]) interrupts the wait.
//!
//! The poll starts at 1 ms and doubles up to 10 ms, so the lag between the
//! server answering 200 and `wait_ready` returning stays around 10 ms (see
//! "Readiness lag" in docs/PERFORMANCE.md), while a server that takes
//! minutes to load gets ~100 cheap probes a second (connection refused
//! until its HTTP server is up).
//!
//! The prober is a tiny blocking HTTP/1.1 GET over `TcpStream`: one request,
//! read the status line, close. Readiness needs nothing more, and it keeps
//! the runner synchronous and free of an async runtime.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use super::ExecError;
use super::process::Child;
use super::signals::StopFlag;

/// Log text that means the GPU ran out of memory (SGLang / PyTorch).
pub const OOM_MARKERS: &[&str] = &[
    "CUDA out of memory",
    "torch.OutOfMemoryError",
    "OutOfMemoryError",
];

/// How many log lines the failure outcomes carry.
pub const TAIL_LINES: usize = 40;

/// What "ready" means for one server: every condition that is set must
/// hold (with neither `url` nor `log_pattern`, a child that is still alive
/// at the first poll is ready).
#[derive(Debug, Clone)]
pub struct ReadyCheck {
    /// `http://host:port/path` that must answer 200 (None: no HTTP check,
    /// e.g. a rank > 0 node that serves nothing).
    pub url: Option<String>,
    /// A plain substring that must appear in the log (None: no log check).
    pub log_pattern: Option<String>,
    /// Give up after this long.
    pub timeout: Duration,
    /// Connect/read timeout of one probe.
    pub probe_timeout: Duration,
}

impl ReadyCheck {
    pub fn http(url: impl Into<String>, timeout: Duration) -> ReadyCheck {
        ReadyCheck {
            url: Some(url.into()),
            log_pattern: None,
            timeout,
            probe_timeout: Duration::from_secs(2),
        }
    }

    pub fn with_log_pattern(mut self, pattern: impl Into<String>) -> ReadyCheck {
        self.log_pattern = Some(pattern.into());
        self
    }
}

/// How the wait ended.
#[derive(Debug, Clone)]
pub enum Readiness {
    /// Every configured condition held `after` this long since the call.
    Ready { after: Duration },
    /// The process exited while starting.
    Exited {
        status: ExitStatus,
        log_tail: String,
    },
    /// Not ready within the timeout; the process is still running (the
    /// caller stops it).
    TimedOut { log_tail: String },
    /// The log shows a CUDA out-of-memory error (the process may still be
    /// running; the caller stops it).
    Oom { log_tail: String },
    /// The stop flag was set.
    Interrupted,
}

impl Readiness {
    pub fn is_ready(&self) -> bool {
        matches!(self, Readiness::Ready { .. })
    }
}

/// Wait until `child` is ready by `check`, or one of the failure outcomes.
/// Never stops the child: what to do next is the caller's decision.
pub fn wait_ready(
    child: &mut Child,
    check: &ReadyCheck,
    stop: StopFlag,
) -> Result<Readiness, ExecError> {
    let start = Instant::now();
    let url = check.url.as_deref().map(Url::parse).transpose()?;
    let mut log = LogWatch::new(child.log_path());
    let oom = OOM_MARKERS.to_vec();
    let pattern: Vec<&str> = check.log_pattern.iter().map(String::as_str).collect();
    let mut http_ok = url.is_none();
    let mut pattern_seen = pattern.is_empty();
    let mut nap = Duration::from_millis(1);
    loop {
        let text = log.poll()?;
        if log.found(&text, &oom) {
            return Ok(Readiness::Oom {
                log_tail: log_tail(child.log_path(), TAIL_LINES),
            });
        }
        pattern_seen = pattern_seen || log.found_pattern(&text, &pattern);
        if let Some(status) = child.try_wait()? {
            // The last lines may have been written right before the exit.
            let text = log.poll()?;
            let log_tail = log_tail(child.log_path(), TAIL_LINES);
            if log.found(&text, &oom) {
                return Ok(Readiness::Oom { log_tail });
            }
            return Ok(Readiness::Exited { status, log_tail });
        }
        if stop.is_stopping() {
            return Ok(Readiness::Interrupted);
        }
        if let (false, Some(u)) = (http_ok, &url) {
            http_ok = u.get_status(check.probe_timeout) == Some(200);
        }
        if http_ok && pattern_seen {
            return Ok(Readiness::Ready {
                after: start.elapsed(),
            });
        }
        let elapsed = start.elapsed();
        if elapsed >= check.timeout {
            return Ok(Readiness::TimedOut {
                log_tail: log_tail(child.log_path(), TAIL_LINES),
            });
        }
        std::thread::sleep(nap.min(check.timeout - elapsed));
        nap = (nap * 2).min(Duration::from_millis(10));
    }
}

/// A parsed `http://host:port/path`.
#[derive(Debug, Clone)]
pub struct Url {
    host: String,
    port: u16,
    path: String,
}

impl Url {
    pub fn parse(url: &str) -> Result<Url, ExecError> {
        let bad = |reason: &str| ExecError::BadUrl {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| bad("only http:// is supported"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (
                h,
                p.parse::<u16>()
                    .map_err(|_| bad("the port is not a number"))?,
            ),
            _ => (authority, 80),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(bad("no host"));
        }
        Ok(Url {
            host: host.to_string(),
            port,
            path: path.to_string(),
        })
    }

    /// One GET; the status code, or None on any connection or protocol
    /// error (refused, reset, timeout: all mean "not ready yet").
    pub fn get_status(&self, timeout: Duration) -> Option<u16> {
        self.request("GET", None, timeout)
    }

    /// One POST of a JSON body (`/start_profile`, `/flush_cache`); the
    /// status code, or None on any connection or protocol error.
    pub fn post_json(&self, body: &str, timeout: Duration) -> Option<u16> {
        self.request("POST", Some(body), timeout)
    }

    fn request(&self, method: &str, body: Option<&str>, timeout: Duration) -> Option<u16> {
        let addr = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .ok()?
            .next()?;
        let mut s = TcpStream::connect_timeout(&addr, timeout).ok()?;
        s.set_read_timeout(Some(timeout)).ok()?;
        s.set_write_timeout(Some(timeout)).ok()?;
        let _ = s.set_nodelay(true);
        let body_headers = match body {
            Some(b) => format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                b.len()
            ),
            None => String::new(),
        };
        let req = format!(
            "{method} {} HTTP/1.1\r\nHost: {}:{}\r\n{body_headers}Connection: close\r\n\r\n{}",
            self.path,
            self.host,
            self.port,
            body.unwrap_or("")
        );
        s.write_all(req.as_bytes()).ok()?;
        let mut line = String::new();
        BufReader::new(s).take(1024).read_line(&mut line).ok()?;
        let mut parts = line.split_whitespace();
        if !parts.next()?.starts_with("HTTP/") {
            return None;
        }
        parts.next()?.parse().ok()
    }
}

/// Follows a log file as it grows: each `poll` returns the new bytes
/// (lossy UTF-8) prefixed with the end of the previous chunk, so a marker
/// split across two writes is still found.
struct LogWatch {
    path: PathBuf,
    file: Option<File>,
    offset: u64,
    carry: String,
}

/// Bytes kept from the previous chunk: longer than any marker or pattern.
const CARRY: usize = 4096;

impl LogWatch {
    fn new(path: &Path) -> LogWatch {
        LogWatch {
            path: path.to_path_buf(),
            file: None,
            offset: 0,
            carry: String::new(),
        }
    }

    fn poll(&mut self) -> Result<String, ExecError> {
        let fail = |source| ExecError::ReadLog {
            path: self.path.clone(),
            source,
        };
        if self.file.is_none() {
            match File::open(&self.path) {
                Ok(f) => self.file = Some(f),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Ok(self.carry.clone());
                }
                Err(e) => return Err(fail(e)),
            }
        }
        let f = self.file.as_mut().expect("opened above");
        f.seek(SeekFrom::Start(self.offset)).map_err(fail)?;
        let mut buf = Vec::new();
        let n = f.read_to_end(&mut buf).map_err(fail)?;
        self.offset += n as u64;
        let mut text = std::mem::take(&mut self.carry);
        text.push_str(&String::from_utf8_lossy(&buf));
        let keep = text.len().saturating_sub(CARRY);
        let keep = (keep..=text.len())
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(text.len());
        self.carry = text[keep..].to_string();
        Ok(text)
    }

    fn found(&self, text: &str, needles: &[&str]) -> bool {
        needles.iter().any(|n| text.contains(n))
    }

    fn found_pattern(&self, text: &str, needles: &[&str]) -> bool {
        needles.iter().all(|n| text.contains(n))
    }
}

/// The last `lines` lines of the file at `path` (reads at most the last
/// 64 KiB; empty if it cannot be read).
pub fn log_tail(path: &Path, lines: usize) -> String {
    const MAX: u64 = 64 * 1024;
    let Ok(mut f) = File::open(path) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(MAX)));
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let u = Url::parse("http://127.0.0.1:30000/health").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("127.0.0.1", 30000, "/health")
        );
        let u = Url::parse("http://localhost").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("localhost", 80, "/")
        );
        let u = Url::parse("http://[::1]:8080/x").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 8080));
        assert!(Url::parse("https://x/").is_err());
        assert!(Url::parse("http://h:port/").is_err());
    }

    #[test]
    fn log_watch_finds_markers_split_across_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut w = LogWatch::new(&path);
        assert_eq!(w.poll().unwrap(), "", "missing file is empty");
        std::fs::write(&path, "loading...\ntorch.OutOfMem").unwrap();
        let t = w.poll().unwrap();
        assert!(!w.found(&t, OOM_MARKERS));
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(b"oryError: CUDA out of mem").unwrap();
        let t = w.poll().unwrap();
        assert!(w.found(&t, OOM_MARKERS));
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let text: String = (0..100).map(|i| format!("line {i}\n")).collect();
        std::fs::write(&path, text).unwrap();
        assert_eq!(log_tail(&path, 2), "line 98\nline 99");
        assert_eq!(log_tail(&dir.path().join("none"), 2), "");
    }
}
