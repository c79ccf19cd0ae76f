//! `matrix serve` as a process for the dashboard tests: started on port 0,
//! its address read from the first line of stdout, killed on drop; and a
//! tiny HTTP/1.1 client that sends a path exactly as given (no
//! normalisation, so `..` reaches the server as written).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running `matrix serve`.
pub struct Server {
    pub child: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// What it printed on stderr so far is in this file.
    pub stderr: std::path::PathBuf,
}

impl Server {
    /// `matrix --root ROOT serve --port 0 ARGS...`, waiting for the
    /// `listening on http://ADDR/` line.
    pub fn start(root: &Path, args: &[&str]) -> Server {
        let stderr = root.join(format!("serve-{}.err", super::run::unique()));
        let mut cmd = Command::new(super::bin());
        cmd.env_remove("MATRIX_DB")
            .env_remove("MATRIX_ROOT")
            .arg("--root")
            .arg(root)
            .args(["serve", "--port", "0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap());
        let mut child = cmd.spawn().expect("matrix serve starts");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        // Blocks until the line is written or the process exits (EOF).
        out.read_line(&mut line).expect("read serve's stdout");
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .and_then(|a| a.strip_suffix('/'))
            .unwrap_or_else(|| {
                let _ = child.kill();
                panic!(
                    "matrix serve did not print its address: {line:?}; stderr: {}",
                    std::fs::read_to_string(&stderr).unwrap_or_default()
                )
            })
            .to_string();
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut sink = Vec::new();
            let _ = out.read_to_end(&mut sink);
        });
        Server {
            child,
            addr,
            stderr,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn get(&self, path: &str) -> Response {
        get(&self.addr, path)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// `GET path` (sent verbatim) with `Connection: close`.
pub fn get(addr: &str, path: &str) -> Response {
    let mut s = TcpStream::connect(addr).expect("connect to matrix serve");
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read the answer");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .expect("a status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    if chunked {
        body = dechunk(&body);
    }
    Response {
        status,
        headers,
        body,
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = b.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size = usize::from_str_radix(
            String::from_utf8_lossy(&b[..eol])
                .split(';')
                .next()
                .unwrap()
                .trim(),
            16,
        )
        .expect("chunk size");
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
        b = &b[eol + 2 + size + 2..];
    }
}

/// Two `matrix run --engine sim` runs of qwen 2l on tp8 (4 latency cells,
/// 5 repeats, 2 % noise), the second 10 % slower (`sim_slowdown=1.10`):
/// the planted regression. Returns (base id, new id).
pub fn planted_runs(p: &super::run::RunProject) -> (String, String) {
    p.write("bs.csv", "1,2,4,8;128\n");
    let run = |name: &str, extra: &[&str]| {
        let mut args = vec![
            "--run-name",
            name,
            "--model",
            "qwen",
            "--mconf",
            "2l",
            "--deploy",
            "tp8",
            "--bsz-seq",
            "bs.csv",
            "--set",
            "workload.output_len=16",
            "--set",
            "workload.repeats=5",
            "--set",
            "sim_noise_cv=0.02",
            "-q",
        ];
        args.extend_from_slice(extra);
        let before = p.run_ids();
        let out = p.run(&args);
        assert_eq!(out.code, 0, "{}", out.text());
        p.run_ids()
            .into_iter()
            .find(|i| !before.contains(i))
            .expect("a new run")
    };
    let base = run("base", &["--set", "sim_noise_seed=1"]);
    let new = run(
        "slow",
        &["--set", "sim_noise_seed=2", "--set", "sim_slowdown=1.10"],
    );
    (base, new)
}
