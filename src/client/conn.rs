//! One HTTP/1.1 client connection: write a request, read the response head,
//! then the body straight from the socket.
//!
//! This replaces hyper's client on the hot path. hyper reads on its own
//! connection task and sends each chunk as a `Bytes` frame through a
//! channel to the request task (two task wake-ups, a `BytesMut` split and a
//! refcount per chunk); here the request task reads the socket itself and
//! decodes every SSE chunk of one read in place.
//!
//! Reads go into one buffer per thread, shared by all its connections: a
//! read is decoded before the task yields, so a connection keeps only the
//! bytes of a line cut by the read (`carry`). 256 streams then touch one
//! cache-warm buffer instead of 256 cold ones (16 MB of fresh pages, which
//! the kernel must zero, at 64 KiB each).

use std::cell::RefCell;
use std::io;
use std::time::Duration;

use tokio::io::{AsyncWriteExt, Interest};
use tokio::net::TcpStream;

use super::body::{BodyError, Framing};

/// The shared read buffer: one read can take a few hundred SSE chunks.
const READ_BUF: usize = 256 * 1024;
/// Most bytes one read takes while the head is incomplete (what comes
/// after the head is kept in `carry` until the body is read).
const HEAD_READ: usize = 16 * 1024;
/// Largest response head accepted.
const MAX_HEAD: usize = 64 * 1024;
/// Most response headers parsed.
const MAX_HEADERS: usize = 64;

thread_local! {
    static BUF: RefCell<Vec<u8>> = RefCell::new(vec![0; READ_BUF]);
}

/// Run `f` on this thread's read buffer.
fn with_read_buf<R>(f: impl FnOnce(&mut [u8]) -> R) -> R {
    BUF.with(|b| match b.try_borrow_mut() {
        Ok(mut b) => f(&mut b),
        // Only if `f` itself read a connection (it never does).
        Err(_) => f(&mut vec![0; READ_BUF]),
    })
}

/// A connection and the bytes read from it but not yet used.
pub struct Conn {
    tcp: TcpStream,
    /// Bytes read but not decoded: an incomplete line, or body bytes that
    /// arrived with the head.
    carry: Vec<u8>,
    /// `carry` holds body bytes the decoder has not seen yet.
    fresh: bool,
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

/// The outcome of one non-blocking read.
enum Got {
    Bytes,
    Eof,
    /// Readiness was stale: wait again.
    Nothing,
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
            carry: Vec::new(),
            fresh: false,
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
        self.carry.clear();
        self.fresh = false;
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
            if self.carry.len() > MAX_HEAD {
                return Err(ConnError::Failed("response head too large".into()));
            }
            let nothing_yet = self.carry.is_empty();
            let fail = |e: String| match nothing_yet {
                true => ConnError::Stale(e),
                false => ConnError::Failed(e),
            };
            let closed = "connection closed before message completed";
            match self.read_into_carry().await {
                Ok(true) => {}
                Ok(false) => return Err(fail(closed.into())),
                Err(e) => return Err(fail(format!("read error: {e}"))),
            }
        }
    }

    /// Append one read (of at most [`HEAD_READ`] bytes) to `carry`;
    /// `false` at end of stream.
    async fn read_into_carry(&mut self) -> io::Result<bool> {
        loop {
            self.tcp.readable().await?;
            let got = with_read_buf(|buf| {
                let buf = &mut buf[..HEAD_READ];
                let n = match self.tcp.try_read(buf) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Got::Nothing),
                    r => r?,
                };
                self.carry.extend_from_slice(&buf[..n]);
                Ok::<_, io::Error>(if n == 0 { Got::Eof } else { Got::Bytes })
            })?;
            match got {
                Got::Bytes => return Ok(true),
                Got::Eof => return Ok(false),
                Got::Nothing => {}
            }
        }
    }

    /// Parse a complete head at the start of `carry`, consuming it; `None`
    /// if it is not complete yet.
    fn parse_head(&mut self) -> Result<Option<Head>, String> {
        if self.carry.is_empty() {
            return Ok(None);
        }
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut resp = httparse::Response::new(&mut headers);
        let n = match resp.parse(&self.carry) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(e) => return Err(format!("invalid HTTP response: {e}")),
        };
        let status = resp.code.unwrap_or(0);
        let head = head_of(status, resp.version == Some(1), resp.headers)?;
        self.carry.drain(..n);
        self.fresh = !self.carry.is_empty();
        Ok(Some(head))
    }

    /// Decode the next body bytes into `on_data`: those that came with the
    /// head, else one socket read. `Ok(false)` once the body is complete.
    pub async fn read_body<E: From<BodyError>>(
        &mut self,
        framing: &mut Framing,
        mut on_data: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<bool, E> {
        if std::mem::take(&mut self.fresh) {
            let used = framing.decode(&self.carry, &mut on_data)?;
            self.carry.drain(..used);
            return Ok(*framing != Framing::Done);
        }
        while *framing != Framing::Done {
            let io_err = |e: io::Error| BodyError(format!("read error: {e}"));
            self.tcp.readable().await.map_err(io_err)?;
            match self.read_decode(framing, &mut on_data)? {
                Got::Bytes => return Ok(*framing != Framing::Done),
                Got::Nothing => {}
                Got::Eof if *framing == Framing::UntilClose => *framing = Framing::Done,
                Got::Eof => {
                    let closed = "connection closed before message completed";
                    return Err(BodyError(closed.into()).into());
                }
            }
        }
        Ok(false)
    }

    /// One non-blocking read into the shared buffer after `carry`, decoded
    /// at once; what the decoder leaves (a cut line) becomes `carry`.
    fn read_decode<E: From<BodyError>>(
        &mut self,
        framing: &mut Framing,
        on_data: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<Got, E> {
        with_read_buf(|buf| {
            let k = self.carry.len();
            buf[..k].copy_from_slice(&self.carry);
            let n = match self.try_read_drained(&mut buf[k..]) {
                Ok(0) => return Ok(Got::Eof),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Got::Nothing),
                Err(e) => return Err(BodyError(format!("read error: {e}")).into()),
            };
            let used = framing.decode(&buf[..k + n], on_data)?;
            self.carry.clear();
            self.carry.extend_from_slice(&buf[used..k + n]);
            Ok(Got::Bytes)
        })
    }

    /// `try_read`, but a short read also clears the socket's readiness (as
    /// tokio's own `poll_read` does on epoll): the receive queue was empty,
    /// so the next read waits for the next epoll event instead of making a
    /// `recv` that returns `EAGAIN` (that was every other `recv` call).
    fn try_read_drained(&self, buf: &mut [u8]) -> io::Result<usize> {
        let mut got = 0;
        let r = self.tcp.try_io(Interest::READABLE, || {
            got = self.tcp.try_read(buf)?;
            if 0 < got && got < buf.len() {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            Ok(got)
        });
        match r {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && got > 0 => Ok(got),
            r => r,
        }
    }

    /// Whether bytes beyond the current response were received.
    pub fn has_leftover(&self) -> bool {
        !self.carry.is_empty()
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
