//! One HTTP/1.1 client connection: write a request, read the response head,
//! then the body straight from the socket into one reused 64 KiB buffer.
//!
//! This replaces hyper's client on the hot path. hyper reads on its own
//! connection task and sends each chunk as a `Bytes` frame through a
//! channel to the request task (two task wake-ups, a `BytesMut` split and a
//! refcount per chunk); here the request task reads the socket itself and
//! decodes every SSE chunk of one read in place.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::body::{Framing, Malformed};

/// Read buffer per connection: one read takes dozens of SSE chunks.
const BUF: usize = 64 * 1024;
/// Most response headers parsed.
const MAX_HEADERS: usize = 64;

/// A connection and its read buffer (bytes `start..end` are unread).
pub struct Conn {
    tcp: TcpStream,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    /// Request bytes, kept to reuse the allocation.
    out: Vec<u8>,
}

/// Why a request on a connection failed.
#[derive(Debug)]
pub enum ConnError {
    /// Nothing of a response arrived (write failed, or the server closed a
    /// kept-alive connection first): safe to retry on a fresh connection.
    Stale(String),
    /// Anything else.
    Failed(String),
}

impl From<ConnError> for String {
    fn from(e: ConnError) -> String {
        match e {
            ConnError::Stale(s) | ConnError::Failed(s) => s,
        }
    }
}

/// What the response head says.
pub struct Head {
    pub status: u16,
    pub framing: Framing,
    /// The connection may carry another request after this body.
    pub keep_alive: bool,
}

impl Conn {
    /// Connect (Nagle off: small requests leave at once).
    pub async fn connect(authority: &str, timeout: Duration) -> Result<Conn, String> {
        let tcp = match tokio::time::timeout(timeout, TcpStream::connect(authority)).await {
            Ok(r) => r.map_err(|e| format!("tcp connect error: {e}"))?,
            Err(_) => return Err(format!("tcp connect timed out after {timeout:?}")),
        };
        tcp.set_nodelay(true)
            .map_err(|e| format!("tcp set_nodelay: {e}"))?;
        Ok(Conn {
            tcp,
            buf: vec![0; BUF].into_boxed_slice(),
            start: 0,
            end: 0,
            out: Vec::new(),
        })
    }

    /// Whether an idle pooled connection still looks usable: the server
    /// has not closed it (a read would not return EOF) and sent nothing.
    pub fn looks_alive(&mut self) -> bool {
        let mut probe = [0u8; 1];
        matches!(self.tcp.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }

    /// Send one request and read the response head.
    pub async fn request(&mut self, head: &[u8], body: &[u8]) -> Result<Head, ConnError> {
        self.out.clear();
        self.out.extend_from_slice(head);
        self.out.extend_from_slice(body);
        if let Err(e) = self.tcp.write_all(&self.out).await {
            return Err(ConnError::Stale(format!("write error: {e}")));
        }
        self.start = 0;
        self.end = 0;
        loop {
            let head = self.read_head().await?;
            // 1xx (other than 101) is informational: the real head follows.
            if !(100..200).contains(&head.status) || head.status == 101 {
                return Ok(head);
            }
        }
    }

    async fn read_head(&mut self) -> Result<Head, ConnError> {
        loop {
            if let Some(head) = self.parse_head().map_err(ConnError::Failed)? {
                return Ok(head);
            }
            if self.end == self.buf.len() {
                return Err(ConnError::Failed("response head too large".into()));
            }
            let fresh = self.start == self.end;
            match self.tcp.read(&mut self.buf[self.end..]).await {
                Ok(0) if fresh => {
                    return Err(ConnError::Stale(
                        "connection closed before message completed".into(),
                    ));
                }
                Ok(0) => {
                    return Err(ConnError::Failed(
                        "connection closed before message completed".into(),
                    ));
                }
                Ok(n) => self.end += n,
                Err(e) if fresh => return Err(ConnError::Stale(format!("read error: {e}"))),
                Err(e) => return Err(ConnError::Failed(format!("read error: {e}"))),
            }
        }
    }

    /// Parse a complete head at `start`, consuming it; `None` if partial.
    fn parse_head(&mut self) -> Result<Option<Head>, String> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut resp = httparse::Response::new(&mut headers);
        let n = match resp.parse(&self.buf[self.start..self.end]) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(e) => return Err(format!("invalid HTTP response: {e}")),
        };
        let status = resp.code.unwrap_or(0);
        let head = head_of(status, resp.version == Some(1), resp.headers)?;
        self.start += n;
        Ok(Some(head))
    }

    /// Decode the buffered body bytes into `on_data`; keep what is left
    /// (an incomplete chunk-size line) for the next read.
    pub fn decode<E: From<Malformed>>(
        &mut self,
        framing: &mut Framing,
        on_data: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        let used = framing.decode(&self.buf[self.start..self.end], on_data)?;
        self.start += used;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        Ok(())
    }

    /// Read more bytes after what is buffered. `Ok(false)` at end of
    /// stream (the server closed the connection).
    pub async fn fill(&mut self) -> Result<bool, String> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            return Err("response line too long".into());
        }
        match self.tcp.read(&mut self.buf[self.end..]).await {
            Ok(0) => Ok(false),
            Ok(n) => {
                self.end += n;
                Ok(true)
            }
            Err(e) => Err(format!("read error: {e}")),
        }
    }

    /// Whether bytes beyond the current response were received.
    pub fn has_leftover(&self) -> bool {
        self.start < self.end
    }
}

/// Framing and keep-alive from the status and headers (RFC 9112 §6.3).
fn head_of(status: u16, http11: bool, headers: &[httparse::Header<'_>]) -> Result<Head, String> {
    let mut keep_alive = http11;
    let (mut chunked, mut other_coding, mut length) = (false, false, None);
    for h in headers {
        let value = std::str::from_utf8(h.value).unwrap_or("");
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            let last = value.rsplit(',').next().unwrap_or("").trim();
            chunked = last.eq_ignore_ascii_case("chunked");
            other_coding = !chunked;
        } else if h.name.eq_ignore_ascii_case("content-length") {
            let n: u64 = value
                .trim()
                .parse()
                .map_err(|_| format!("invalid content-length {value:?}"))?;
            if length.is_some_and(|l| l != n) {
                return Err("conflicting content-length headers".into());
            }
            length = Some(n);
        } else if h.name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("close") {
                    keep_alive = false;
                } else if token.eq_ignore_ascii_case("keep-alive") {
                    keep_alive = true;
                }
            }
        }
    }
    let framing = if (100..200).contains(&status) || status == 204 || status == 304 {
        Framing::Done
    } else if chunked {
        Framing::ChunkSize
    } else if other_coding {
        Framing::UntilClose
    } else {
        length.map_or(Framing::UntilClose, Framing::length)
    };
    keep_alive &= framing != Framing::UntilClose;
    Ok(Head {
        status,
        framing,
        keep_alive,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(status: u16, http11: bool, hs: &[(&'static str, &'static str)]) -> Head {
        let hs: Vec<_> = hs
            .iter()
            .map(|(n, v)| httparse::Header {
                name: n,
                value: v.as_bytes(),
            })
            .collect();
        head_of(status, http11, &hs).unwrap()
    }

    #[test]
    fn framing_from_headers() {
        let h = head(200, true, &[("Transfer-Encoding", "chunked")]);
        assert_eq!((h.framing, h.keep_alive), (Framing::ChunkSize, true));
        let h = head(200, true, &[("content-length", "12")]);
        assert_eq!((h.framing, h.keep_alive), (Framing::Length(12), true));
        let h = head(
            200,
            true,
            &[("content-length", "3"), ("Connection", "close")],
        );
        assert_eq!((h.framing, h.keep_alive), (Framing::Length(3), false));
        let h = head(200, true, &[]);
        assert_eq!((h.framing, h.keep_alive), (Framing::UntilClose, false));
        let h = head(
            200,
            false,
            &[("content-length", "1"), ("connection", "keep-alive")],
        );
        assert!(h.keep_alive);
        let h = head(200, false, &[("content-length", "1")]);
        assert!(!h.keep_alive);
        let h = head(204, true, &[]);
        assert_eq!((h.framing, h.keep_alive), (Framing::Done, true));
        let h = head(200, true, &[("transfer-encoding", "gzip")]);
        assert_eq!(h.framing, Framing::UntilClose);
    }

    #[test]
    fn bad_lengths_are_errors() {
        let hs = |v: &'static [u8]| {
            vec![
                httparse::Header {
                    name: "content-length",
                    value: b"4",
                },
                httparse::Header {
                    name: "content-length",
                    value: v,
                },
            ]
        };
        assert!(head_of(200, true, &hs(b"4")).is_ok());
        assert!(head_of(200, true, &hs(b"5")).is_err());
        assert!(head_of(200, true, &hs(b"x")).is_err());
    }
}
