//! HTTP/1.1 response body framing: `Content-Length`, `chunked`, or
//! until the server closes. A pure decoder over byte slices, so the
//! connection can hand it whatever one socket read returned and it yields
//! the body's data pieces in place (no copy, no allocation), many SSE
//! chunks per read.

/// Reading a response body failed: the bytes are not a valid HTTP/1.1
/// body, or the connection broke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyError(pub String);

impl BodyError {
    fn framing(why: &str) -> BodyError {
        BodyError(why.to_string())
    }
}

impl From<BodyError> for String {
    fn from(e: BodyError) -> String {
        e.0
    }
}

/// Longest chunk-size or trailer line accepted (extensions included).
const MAX_LINE: usize = 4096;

/// Where the decoder is in the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `Content-Length`: bytes left.
    Length(u64),
    /// `chunked`: expecting a chunk-size line.
    ChunkSize,
    /// `chunked`: bytes left in the current chunk.
    ChunkData(u64),
    /// `chunked`: expecting the CRLF that ends a chunk's data.
    ChunkEnd,
    /// `chunked`: after the last chunk, expecting trailers and a blank line.
    Trailers,
    /// No length: the body ends when the server closes the connection.
    UntilClose,
    /// The whole body has been decoded.
    Done,
}

impl Framing {
    /// A body of `len` bytes.
    pub fn length(len: u64) -> Framing {
        if len == 0 {
            Framing::Done
        } else {
            Framing::Length(len)
        }
    }

    /// Decode what `buf` holds, handing each piece of body data to
    /// `on_data` in order. Returns how many bytes were consumed; the rest
    /// (an incomplete size or trailer line) must be offered again with more
    /// bytes after it. Bytes after the end of the body are not consumed.
    pub fn decode<E: From<BodyError>>(
        &mut self,
        buf: &[u8],
        mut on_data: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<usize, E> {
        let mut i = 0;
        while i < buf.len() {
            let Some(used) = self.step(&buf[i..], &mut on_data)? else {
                break;
            };
            i += used;
        }
        Ok(i)
    }

    /// One state transition on `buf` (non-empty); `None` when it needs
    /// more bytes than `buf` holds.
    fn step<E: From<BodyError>>(
        &mut self,
        buf: &[u8],
        on_data: &mut impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<Option<usize>, E> {
        match *self {
            Framing::Length(left) | Framing::ChunkData(left) => {
                let n = left.min(buf.len() as u64) as usize;
                on_data(&buf[..n])?;
                let left = left - n as u64;
                *self = match (*self, left) {
                    (Framing::Length(_), 0) => Framing::Done,
                    (Framing::Length(_), l) => Framing::Length(l),
                    (_, 0) => Framing::ChunkEnd,
                    (_, l) => Framing::ChunkData(l),
                };
                Ok(Some(n))
            }
            Framing::UntilClose => {
                on_data(buf)?;
                Ok(Some(buf.len()))
            }
            Framing::ChunkSize => self.size_line(buf),
            Framing::ChunkEnd => chunk_end(buf).map(|n| n.inspect(|_| *self = Framing::ChunkSize)),
            Framing::Trailers => Ok(self.trailer_line(buf)?),
            Framing::Done => Ok(None),
        }
    }

    fn size_line<E: From<BodyError>>(&mut self, buf: &[u8]) -> Result<Option<usize>, E> {
        let (size, used) = match plain_size_line(buf) {
            Some(fast) => fast,
            None => {
                let Some(line) = line(buf)? else {
                    return Ok(None);
                };
                (chunk_size(&buf[..line.content])?, line.total)
            }
        };
        *self = if size == 0 {
            Framing::Trailers
        } else {
            Framing::ChunkData(size)
        };
        Ok(Some(used))
    }

    fn trailer_line<E: From<BodyError>>(&mut self, buf: &[u8]) -> Result<Option<usize>, E> {
        let Some(line) = line(buf)? else {
            return Ok(None);
        };
        if line.content == 0 {
            *self = Framing::Done;
        }
        Ok(Some(line.total))
    }
}

/// A complete line at the start of a buffer: its length without and with
/// its line ending (`\r\n`, or a bare `\n` as hyper also accepts).
struct Line {
    content: usize,
    total: usize,
}

fn line<E: From<BodyError>>(buf: &[u8]) -> Result<Option<Line>, E> {
    let Some(nl) = memchr::memchr(b'\n', &buf[..buf.len().min(MAX_LINE)]) else {
        if buf.len() >= MAX_LINE {
            return Err(BodyError::framing("chunk size or trailer line too long").into());
        }
        return Ok(None);
    };
    let content = if nl > 0 && buf[nl - 1] == b'\r' {
        nl - 1
    } else {
        nl
    };
    Ok(Some(Line {
        content,
        total: nl + 1,
    }))
}

/// The CRLF after a chunk's data.
fn chunk_end<E: From<BodyError>>(buf: &[u8]) -> Result<Option<usize>, E> {
    match buf {
        [b'\n', ..] => Ok(Some(1)),
        [b'\r', b'\n', ..] => Ok(Some(2)),
        [b'\r'] => Ok(None),
        _ => Err(BodyError::framing("chunk data not followed by CRLF").into()),
    }
}

/// The common size line, `<hex>\r\n` with at most 15 digits: its size
/// and length, in one pass (it comes once per SSE event). Anything else,
/// or a line not complete in `buf`, is `None` for the general path.
#[inline]
fn plain_size_line(buf: &[u8]) -> Option<(u64, usize)> {
    let mut size = 0u64;
    for (i, &d) in buf.iter().enumerate().take(16) {
        let v = match d {
            b'0'..=b'9' => d - b'0',
            b'a'..=b'f' => d - b'a' + 10,
            b'A'..=b'F' => d - b'A' + 10,
            b'\r' if i > 0 && buf.get(i + 1) == Some(&b'\n') => return Some((size, i + 2)),
            _ => return None,
        };
        size = size << 4 | v as u64;
    }
    None
}

/// Hex size of a chunk-size line, ignoring `;extensions` and spaces.
fn chunk_size(line: &[u8]) -> Result<u64, BodyError> {
    let bad = || BodyError::framing("invalid chunk size line");
    let end = memchr::memchr(b';', line).unwrap_or(line.len());
    let digits = line[..end].trim_ascii();
    if digits.is_empty() || digits.len() > 15 {
        return Err(bad());
    }
    let mut size = 0u64;
    for &d in digits {
        let v = match d {
            b'0'..=b'9' => d - b'0',
            b'a'..=b'f' => d - b'a' + 10,
            b'A'..=b'F' => d - b'A' + 10,
            _ => return Err(bad()),
        };
        size = size << 4 | v as u64;
    }
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decode `parts` fed one after another (carrying unconsumed bytes
    /// over, as the connection does); the body and the final state.
    fn decode_parts(mut f: Framing, parts: &[&[u8]]) -> Result<(Vec<u8>, Framing), BodyError> {
        let mut out = Vec::new();
        let mut pending = Vec::new();
        for p in parts {
            pending.extend_from_slice(p);
            let used = f.decode(&pending, |d| {
                out.extend_from_slice(d);
                Ok::<_, BodyError>(())
            })?;
            pending.drain(..used);
        }
        Ok((out, f))
    }

    const CHUNKED: &[u8] =
        b"5\r\nhello\r\n1;ext=1\r\n \r\nA\r\n0123456789\r\n0\r\nx-trailer: 1\r\n\r\n";

    #[test]
    fn chunked_body_for_every_split() {
        let want = b"hello 0123456789".to_vec();
        for cut1 in 0..=CHUNKED.len() {
            for cut2 in cut1..=CHUNKED.len() {
                let parts = [&CHUNKED[..cut1], &CHUNKED[cut1..cut2], &CHUNKED[cut2..]];
                let (got, end) = decode_parts(Framing::ChunkSize, &parts).unwrap();
                assert_eq!(got, want, "cuts {cut1} {cut2}");
                assert_eq!(end, Framing::Done);
            }
        }
    }

    #[test]
    fn bare_newlines_and_no_trailers() {
        let (got, end) = decode_parts(Framing::ChunkSize, &[b"3\nabc\n0\n\n"]).unwrap();
        assert_eq!((got.as_slice(), end), (&b"abc"[..], Framing::Done));
    }

    #[test]
    fn content_length_stops_at_its_end() {
        let mut f = Framing::length(4);
        let mut got = Vec::new();
        let used = f
            .decode(b"abcdEXTRA", |d| {
                got.extend_from_slice(d);
                Ok::<_, BodyError>(())
            })
            .unwrap();
        assert_eq!((used, got.as_slice(), f), (4, &b"abcd"[..], Framing::Done));
        assert_eq!(Framing::length(0), Framing::Done);
    }

    #[test]
    fn incomplete_body_is_not_done() {
        let (got, end) = decode_parts(Framing::ChunkSize, &[b"5\r\nhel"]).unwrap();
        assert_eq!((got.as_slice(), end), (&b"hel"[..], Framing::ChunkData(2)));
    }

    #[test]
    fn bad_framing_is_an_error() {
        for bad in [
            &b"zz\r\n"[..],
            b"\r\n",
            b"3\r\nabcX",
            b"ffffffffffffffffff\r\n",
        ] {
            assert!(decode_parts(Framing::ChunkSize, &[bad]).is_err(), "{bad:?}");
        }
        let long = vec![b'1'; MAX_LINE + 1];
        assert!(decode_parts(Framing::ChunkSize, &[&long]).is_err());
    }
}
