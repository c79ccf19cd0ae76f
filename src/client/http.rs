//! A small HTTP/1.1 client with a connection pool: one TCP connection per
//! in-flight stream, reused by later requests (keep-alive), Nagle off so
//! small requests leave at once. Plain `http://` only, as the benchmark
//! needs; bodies with `Content-Length`, `chunked`, or read to close.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::body::{BodyError, Framing};
use super::conn::{Conn, ConnError};

/// Idle connections older than this are not reused.
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A failed management call (readiness, model list, flush).
pub type HttpError = String;

/// The request methods the client sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

/// A parsed `http://host[:port]/path` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `host:port` to connect to (port 80 when absent).
    pub authority: String,
    /// The `Host` header value (as written in the URL).
    pub host: String,
    /// Path and query, starting with `/`.
    pub path: String,
}

impl Endpoint {
    /// Parse `url`; `Err` says why it is not a plain `http://` URL.
    pub fn parse(url: &str) -> Result<Endpoint, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or("must start with http://")?;
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (host, path) = rest.split_at(split);
        let bad = |c: char| c.is_whitespace() || c.is_control() || matches!(c, '@' | '#');
        if host.is_empty() || host.contains(bad) || path.contains(bad) {
            return Err("invalid host or path".into());
        }
        let has_port = match host.rfind(']') {
            Some(b) => host[b..].contains(':'),
            None => host.contains(':'),
        };
        let authority = if has_port {
            host.to_string()
        } else {
            format!("{host}:80")
        };
        let path = match path {
            "" => "/".to_string(),
            p if p.starts_with('?') => format!("/{p}"),
            p => p.to_string(),
        };
        Ok(Endpoint {
            authority,
            host: host.to_string(),
            path,
        })
    }

    /// The request head for `method` with a body of `len` bytes.
    fn head(&self, method: Method, len: usize) -> Vec<u8> {
        let m = match method {
            Method::Get => "GET",
            Method::Post => "POST",
        };
        format!(
            "{m} {} HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\n\
             accept: text/event-stream, application/json\r\ncontent-length: {len}\r\n\r\n",
            self.path, self.host
        )
        .into_bytes()
    }
}

/// A cloneable handle to the shared pool.
#[derive(Clone, Default)]
pub struct Http {
    pool: Arc<Pool>,
}

/// Idle connections by authority, most recently used last.
#[derive(Default)]
struct Pool {
    idle: Mutex<Vec<(String, Instant, Conn)>>,
}

impl Pool {
    fn take(&self, authority: &str) -> Option<Conn> {
        let mut idle = self.idle.lock().ok()?;
        while let Some(i) = idle.iter().rposition(|(a, ..)| a == authority) {
            let (_, since, mut conn) = idle.swap_remove(i);
            if since.elapsed() < IDLE_TIMEOUT && conn.looks_alive() {
                return Some(conn);
            }
        }
        None
    }

    fn put(&self, authority: String, conn: Conn) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.push((authority, Instant::now(), conn));
        }
    }
}

/// A response whose body has not been read yet.
pub struct Response {
    pub status: u16,
    pub body: Body,
}

/// A response body, read straight from its connection. The connection
/// goes back to the pool when the body was read to its end.
pub struct Body {
    conn: Option<Conn>,
    framing: Framing,
    keep_alive: bool,
    authority: String,
    pool: Arc<Pool>,
}

impl Body {
    /// Hand the next body bytes to `on_data` (in pieces, in order): those
    /// of one socket read. `Ok(false)` once the body is complete.
    pub async fn read<E: From<BodyError>>(
        &mut self,
        on_data: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<bool, E> {
        match self.conn.as_mut() {
            Some(conn) => conn.read_body(&mut self.framing, on_data).await,
            None => Ok(false),
        }
    }

    /// The whole body (for short answers: errors, management calls).
    pub async fn collect(&mut self) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        let mut append = |d: &[u8]| {
            out.extend_from_slice(d);
            Ok::<_, BodyError>(())
        };
        while self.read(&mut append).await? {}
        Ok(out)
    }
}

impl Drop for Body {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else {
            return;
        };
        if self.keep_alive && self.framing == Framing::Done && !conn.has_leftover() {
            self.pool.put(std::mem::take(&mut self.authority), conn);
        }
    }
}

impl Http {
    /// A client with an empty pool.
    pub fn new() -> Http {
        Http::default()
    }

    /// Send a JSON POST; the caller reads the body.
    pub async fn post_json(&self, to: &Endpoint, body: &[u8]) -> Result<Response, String> {
        self.send(to, Method::Post, body).await
    }

    /// Send a request on a pooled connection (or a new one). A pooled
    /// connection the server closed while idle is replaced once.
    async fn send(&self, to: &Endpoint, method: Method, body: &[u8]) -> Result<Response, String> {
        let head = to.head(method, body.len());
        if let Some(mut conn) = self.pool.take(&to.authority) {
            match conn.request(&head, body).await {
                Ok(h) => return Ok(self.response(to, conn, h)),
                Err(ConnError::Stale(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let mut conn = Conn::connect(&to.authority, CONNECT_TIMEOUT).await?;
        let h = conn.request(&head, body).await?;
        Ok(self.response(to, conn, h))
    }

    fn response(&self, to: &Endpoint, conn: Conn, h: super::conn::Head) -> Response {
        Response {
            status: h.status,
            body: Body {
                conn: Some(conn),
                framing: h.framing,
                keep_alive: h.keep_alive,
                authority: to.authority.clone(),
                pool: self.pool.clone(),
            },
        }
    }

    /// A whole request with a deadline: status and body bytes.
    pub async fn call(
        &self,
        method: Method,
        url: &str,
        body: Option<Bytes>,
        timeout: Duration,
    ) -> Result<(u16, Bytes), HttpError> {
        let to = Endpoint::parse(url).map_err(|e| format!("{url}: {e}"))?;
        let fut = async {
            let mut resp = self.send(&to, method, &body.unwrap_or_default()).await?;
            let bytes = resp.body.collect().await?;
            Ok((resp.status, Bytes::from(bytes)))
        };
        match tokio::time::timeout(timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(format!("no answer within {timeout:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let e = Endpoint::parse("http://127.0.0.1:30000/generate").unwrap();
        assert_eq!(
            (e.authority.as_str(), e.host.as_str(), e.path.as_str()),
            ("127.0.0.1:30000", "127.0.0.1:30000", "/generate")
        );
        let e = Endpoint::parse("http://localhost").unwrap();
        assert_eq!(
            (e.authority.as_str(), e.path.as_str()),
            ("localhost:80", "/")
        );
        let e = Endpoint::parse("http://[::1]:8/v1/models?x=1").unwrap();
        assert_eq!(
            (e.authority.as_str(), e.path.as_str()),
            ("[::1]:8", "/v1/models?x=1")
        );
        assert_eq!(
            Endpoint::parse("http://[::1]").unwrap().authority,
            "[::1]:80"
        );
        for bad in ["https://x", "http://", "http://a b/", "http://u@h/", "x"] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
    }
}
