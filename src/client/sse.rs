//! Incremental Server-Sent-Events line splitter on raw byte buffers.
//!
//! Bytes arrive in arbitrary frames; [`LineBuf::push`] appends one and
//! [`LineBuf::next_event`] yields each complete `data:` payload as a byte
//! slice into the buffer (no per-line allocation). Blank lines, comments
//! (`:`) and other fields (`event:`, `id:`) are skipped.

/// One SSE payload.
#[derive(Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// The JSON after `data:` (leading spaces trimmed).
    Data(&'a [u8]),
    /// `data: [DONE]`.
    Done,
    /// A non-empty line that is not an SSE field at all.
    Garbage,
}

/// Accumulates bytes and hands out complete lines.
#[derive(Debug, Default)]
pub struct LineBuf {
    buf: Vec<u8>,
    /// Start of the first unconsumed byte.
    pos: usize,
}

impl LineBuf {
    /// Append a frame of bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.pos > 0 && self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        } else if self.pos > 64 * 1024 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete event, or `None` when more bytes are needed.
    pub fn next_event(&mut self) -> Option<Event<'_>> {
        loop {
            let rest = &self.buf[self.pos..];
            let nl = memchr::memchr(b'\n', rest)?;
            let start = self.pos;
            self.pos += nl + 1;
            let line = trim(&self.buf[start..start + nl]);
            if line.is_empty() || line[0] == b':' {
                continue;
            }
            if let Some(payload) = line.strip_prefix(b"data:") {
                let payload = trim(payload);
                return Some(if payload == b"[DONE]" {
                    Event::Done
                } else {
                    Event::Data(payload)
                });
            }
            if is_other_field(line) {
                continue;
            }
            return Some(Event::Garbage);
        }
    }

    /// Bytes received after the last newline (a final unterminated line).
    pub fn remainder(&self) -> &[u8] {
        trim(&self.buf[self.pos..])
    }
}

fn is_other_field(line: &[u8]) -> bool {
    [&b"event:"[..], b"id:", b"retry:"]
        .iter()
        .any(|p| line.starts_with(p))
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if first.is_ascii_whitespace() {
            s = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = s {
        if last.is_ascii_whitespace() {
            s = rest;
        } else {
            break;
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_events_across_frames() {
        let mut b = LineBuf::default();
        b.push(b"data: {\"a\"");
        assert_eq!(b.next_event(), None);
        b.push(b":1}\r\n\r\n: keepalive\nevent: x\ndata: [DONE]\n\n");
        assert_eq!(b.next_event(), Some(Event::Data(b"{\"a\":1}")));
        assert_eq!(b.next_event(), Some(Event::Done));
        assert_eq!(b.next_event(), None);
    }

    #[test]
    fn flags_garbage_lines() {
        let mut b = LineBuf::default();
        b.push(b"<html>\n");
        assert_eq!(b.next_event(), Some(Event::Garbage));
    }
}
