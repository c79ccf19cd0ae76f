//! A small HTTP/1.1 client over hyper with a connection pool: one TCP
//! connection per in-flight stream, reused by later requests (keep-alive),
//! Nagle off so small requests leave at once.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// A cloneable handle to the shared pool.
#[derive(Clone)]
pub struct Http {
    client: Client<HttpConnector, Full<Bytes>>,
}

/// A failed management call (readiness, model list, flush).
pub type HttpError = String;

impl Http {
    /// A pooled client; idle connections are kept for 90 s.
    pub fn new() -> Http {
        let mut conn = HttpConnector::new();
        conn.set_nodelay(true);
        conn.set_connect_timeout(Some(Duration::from_secs(10)));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(usize::MAX)
            // hyper's adaptive read buffer grows to ~400 KB per connection
            // on a fast stream; while the last frame is still held it is
            // reallocated at that size on every read, and those fresh pages
            // (huge pages, zeroed by the kernel) were ~20% of the client's
            // CPU at 256 streams. 64 KB still holds dozens of chunks a read.
            .http1_max_buf_size(64 * 1024)
            .build(conn);
        Http { client }
    }

    /// Start a JSON POST; the caller streams the body.
    pub async fn post_json(&self, url: &str, body: Bytes) -> Result<Response<Incoming>, String> {
        let req = Request::builder()
            .method(Method::POST)
            .uri(url)
            .header("content-type", "application/json")
            .header("accept", "text/event-stream, application/json")
            .body(Full::new(body))
            .map_err(|e| e.to_string())?;
        self.client.request(req).await.map_err(error_chain)
    }

    /// A whole request with a deadline: status and body bytes.
    pub async fn call(
        &self,
        method: Method,
        url: &str,
        body: Option<Bytes>,
        timeout: Duration,
    ) -> Result<(u16, Bytes), HttpError> {
        let fut = async {
            let req = Request::builder()
                .method(method)
                .uri(url)
                .header("content-type", "application/json")
                .body(Full::new(body.unwrap_or_default()))
                .map_err(|e| e.to_string())?;
            let resp = self.client.request(req).await.map_err(error_chain)?;
            let status = resp.status().as_u16();
            let bytes = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| e.to_string())?
                .to_bytes();
            Ok((status, bytes))
        };
        match tokio::time::timeout(timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(format!("no answer within {timeout:?}")),
        }
    }
}

impl Default for Http {
    fn default() -> Self {
        Http::new()
    }
}

/// hyper-util's error text plus its causes ("client error (Connect): ...").
pub fn error_chain(e: impl std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}
