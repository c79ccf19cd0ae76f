//! Debian's `chromium`, headless, driven over the Chrome DevTools Protocol:
//! a page target opened through the browser's `/json/new` endpoint, its
//! WebSocket spoken with `tungstenite` (blocking). Only what the dashboard
//! tests need: navigate and wait for `load`, evaluate an expression, wait
//! for a condition, take a screenshot, and collect console errors
//! (`console.error`, uncaught exceptions, and the browser's own error log
//! entries such as a failed resource load).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tungstenite::{Message, WebSocket};

/// The browser binary: `$MATRIX_CHROMIUM`, else `chromium` on PATH.
pub fn chromium_bin() -> String {
    std::env::var("MATRIX_CHROMIUM").unwrap_or_else(|_| "chromium".into())
}

/// A headless browser, killed on drop.
pub struct Browser {
    child: Child,
    port: u16,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Start headless chromium. A missing browser fails the test with how
    /// to install it (never a skip).
    pub fn launch() -> Browser {
        let bin = chromium_bin();
        let found = Command::new(&bin)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            found,
            "`{bin}` is not installed or does not run: the dashboard's browser tests need \
             Debian's chromium. Install it with `apt-get install -y chromium` (.ci/run does), \
             or point MATRIX_CHROMIUM at a Chromium binary."
        );
        let profile = tempfile::tempdir().expect("profile dir");
        let child = Command::new(&bin)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {bin}: {e}"));
        // Chromium writes the port it bound to this file once it listens.
        let port_file = profile.path().join("DevToolsActivePort");
        let mut port = None;
        let ok = super::wait_for(Duration::from_secs(60), || {
            port = std::fs::read_to_string(&port_file)
                .ok()
                .and_then(|t| t.lines().next().and_then(|l| l.trim().parse::<u16>().ok()));
            port.is_some()
        });
        let mut b = Browser {
            child,
            port: port.unwrap_or(0),
            _profile: profile,
        };
        if !ok {
            let _ = b.child.kill();
            panic!("chromium did not open its DevTools port within 60 s");
        }
        b
    }

    /// A new tab, its DevTools session ready (Page, Runtime and Log on).
    pub fn page(&self) -> Page {
        let target = http(self.port, "PUT", "/json/new?about:blank");
        let v: Value = serde_json::from_str(&target)
            .unwrap_or_else(|e| panic!("/json/new answered {target:?}: {e}"));
        let ws_url = v["webSocketDebuggerUrl"]
            .as_str()
            .expect("webSocketDebuggerUrl")
            .to_string();
        let stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to DevTools");
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let (ws, _) = tungstenite::client(ws_url.as_str(), stream).expect("DevTools WebSocket");
        let mut p = Page {
            ws,
            next: 0,
            events: Vec::new(),
            errors: Vec::new(),
        };
        p.call("Page.enable", json!({}));
        p.call("Runtime.enable", json!({}));
        p.call("Log.enable", json!({}));
        p.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": 1400, "height": 1000, "deviceScaleFactor": 1, "mobile": false}),
        );
        p
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain HTTP/1.1 request to the DevTools endpoint; the body.
fn http(port: u16, method: &str, path: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to DevTools");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    // DevTools keeps the connection open: read the head, then
    // Content-Length bytes.
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = s.read(&mut buf).expect("DevTools answer");
        assert!(n > 0, "DevTools closed the connection early");
        raw.extend_from_slice(&buf[..n]);
        let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&raw[..end]).to_lowercase();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .expect("a Content-Length");
        if raw.len() >= end + 4 + len {
            return String::from_utf8_lossy(&raw[end + 4..end + 4 + len]).into_owned();
        }
    }
}

/// One tab.
pub struct Page {
    ws: WebSocket<TcpStream>,
    next: u64,
    /// Events not yet consumed (method, params).
    events: Vec<(String, Value)>,
    /// Console errors seen so far, as text.
    pub errors: Vec<String>,
}

impl Page {
    fn read(&mut self) -> Value {
        loop {
            match self.ws.read().expect("DevTools message") {
                Message::Text(t) => {
                    let v: Value = serde_json::from_str(t.as_str()).expect("DevTools JSON");
                    if let Some(m) = v["method"].as_str() {
                        self.note(m, &v["params"]);
                        self.events.push((m.to_string(), v["params"].clone()));
                    }
                    return v;
                }
                Message::Close(_) => panic!("DevTools closed the session"),
                _ => {}
            }
        }
    }

    /// Keep console errors, uncaught exceptions and error log entries.
    fn note(&mut self, method: &str, p: &Value) {
        match method {
            "Runtime.consoleAPICalled" if p["type"] == "error" || p["type"] == "assert" => {
                let args: Vec<String> = p["args"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|x| x["value"].to_string().trim_matches('"').to_string())
                            .collect()
                    })
                    .unwrap_or_default();
                self.errors
                    .push(format!("console.error: {}", args.join(" ")));
            }
            "Runtime.exceptionThrown" => self.errors.push(format!(
                "exception: {}",
                p["exceptionDetails"]["exception"]["description"]
                    .as_str()
                    .or(p["exceptionDetails"]["text"].as_str())
                    .unwrap_or("?")
            )),
            "Log.entryAdded" if p["entry"]["level"] == "error" => self.errors.push(format!(
                "log: {} {}",
                p["entry"]["text"].as_str().unwrap_or(""),
                p["entry"]["url"].as_str().unwrap_or("")
            )),
            _ => {}
        }
    }

    /// Send a command and wait for its answer (events read meanwhile are kept).
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let id = self.next;
        let msg = json!({"id": id, "method": method, "params": params}).to_string();
        self.ws.send(Message::text(msg)).expect("send to DevTools");
        loop {
            let v = self.read();
            if v["id"].as_u64() == Some(id) {
                assert!(v.get("error").is_none(), "{method} failed: {}", v["error"]);
                return v["result"].clone();
            }
        }
    }

    /// Wait for an event named `method` (one already received counts).
    fn wait_event(&mut self, method: &str) -> Value {
        loop {
            if let Some(i) = self.events.iter().position(|(m, _)| m == method) {
                return self.events.remove(i).1;
            }
            self.read();
        }
    }

    /// Open `url` and wait for its `load` event.
    pub fn navigate(&mut self, url: &str) {
        self.events.clear();
        let r = self.call("Page.navigate", json!({"url": url}));
        assert!(
            r.get("errorText").is_none(),
            "navigating to {url}: {}",
            r["errorText"]
        );
        self.wait_event("Page.loadEventFired");
    }

    /// The value of a JavaScript expression (promises awaited).
    pub fn eval(&mut self, expr: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": expr, "returnByValue": true, "awaitPromise": true}),
        );
        assert!(
            r.get("exceptionDetails").is_none(),
            "evaluating {expr}: {}",
            r["exceptionDetails"]
        );
        r["result"]["value"].clone()
    }

    /// Evaluate `expr` every 50 ms until it is `true` or `limit` passes.
    /// The limit only bounds a failing test.
    pub fn wait_until(&mut self, expr: &str, limit: Duration) -> bool {
        let until = Instant::now() + limit;
        loop {
            if self.eval(expr) == Value::Bool(true) {
                return true;
            }
            if Instant::now() >= until {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A full-page PNG screenshot written to `path`.
    pub fn screenshot(&mut self, path: &Path) -> PathBuf {
        // The whole page, not only the viewport: clip to the content size.
        let m = self.call("Page.getLayoutMetrics", json!({}));
        let size = &m["cssContentSize"];
        let clip = json!({
            "x": 0, "y": 0,
            "width": size["width"].as_f64().unwrap_or(1400.0).min(4000.0),
            "height": size["height"].as_f64().unwrap_or(1000.0).min(16000.0),
            "scale": 1,
        });
        let r = self.call(
            "Page.captureScreenshot",
            json!({"format": "png", "captureBeyondViewport": true, "clip": clip}),
        );
        let data = base64_decode(r["data"].as_str().expect("screenshot data"));
        assert!(data.starts_with(b"\x89PNG"), "a PNG");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, data).unwrap();
        path.to_path_buf()
    }
}

/// Standard base64 (padding optional).
fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => (c - b'A') as u32,
            b'a'..=b'z' => (c - b'a' + 26) as u32,
            b'0'..=b'9' => (c - b'0' + 52) as u32,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {c}"),
        }
    };
    let bytes: Vec<u8> = s
        .bytes()
        .filter(|c| *c != b'=' && !c.is_ascii_whitespace())
        .collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= val(*c) << (18 - 6 * i);
        }
        let k = chunk.len() - 1;
        for i in 0..k {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    out
}
