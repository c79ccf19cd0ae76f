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
        next_in(&self.buf, &mut self.pos)
    }

    /// Hand every complete event of `frame` (after what is buffered) to
    /// `on_event`, in order. Complete lines are parsed in place in `frame`;
    /// only a partial line is copied (the line that straddles two frames,
    /// and the frame's unterminated tail), so a large frame of many chunks
    /// costs no copy and no buffer growth.
    pub fn feed<E>(
        &mut self,
        mut frame: &[u8],
        mut on_event: impl FnMut(Event<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        if self.pos < self.buf.len() {
            let Some(nl) = memchr::memchr(b'\n', frame) else {
                self.push(frame);
                return Ok(());
            };
            self.push(&frame[..=nl]);
            while let Some(ev) = self.next_event() {
                on_event(ev)?;
            }
            frame = &frame[nl + 1..];
        }
        self.buf.clear();
        self.pos = 0;
        let mut pos = 0;
        while let Some(ev) = next_in(frame, &mut pos) {
            on_event(ev)?;
        }
        self.buf.extend_from_slice(&frame[pos..]);
        Ok(())
    }

    /// Bytes received after the last newline (a final unterminated line).
    pub fn remainder(&self) -> &[u8] {
        trim(&self.buf[self.pos..])
    }
}

/// The next complete event of `buf` from `*pos`, moving `*pos` past it.
fn next_in<'a>(buf: &'a [u8], pos: &mut usize) -> Option<Event<'a>> {
    loop {
        let rest = &buf[*pos..];
        let nl = memchr::memchr(b'\n', rest)?;
        let start = *pos;
        *pos += nl + 1;
        let line = trim(&buf[start..start + nl]);
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

    /// `feed` yields the same events as `push` + `next_event` for every way
    /// of cutting the stream into frames.
    #[test]
    fn feed_matches_push_for_any_split() {
        let s: &[u8] = b"data: {\"a\":1}\r\n\r\n: ka\nevent: x\ndata: {\"b\":22}\n\ndata: [DONE]\n\ndata: tail";
        let owned = |ev: Event<'_>| match ev {
            Event::Data(d) => Some(d.to_vec()),
            Event::Done => Some(b"DONE".to_vec()),
            Event::Garbage => None,
        };
        let mut want = Vec::new();
        let mut b = LineBuf::default();
        b.push(s);
        while let Some(ev) = b.next_event() {
            want.push(owned(ev));
        }
        for cut1 in 0..=s.len() {
            for cut2 in cut1..=s.len() {
                let mut got = Vec::new();
                let mut b = LineBuf::default();
                for part in [&s[..cut1], &s[cut1..cut2], &s[cut2..]] {
                    b.feed(part, |ev| {
                        got.push(owned(ev));
                        Ok::<_, ()>(())
                    })
                    .unwrap();
                }
                assert_eq!(got, want, "cuts {cut1} {cut2}");
                assert_eq!(b.remainder(), b"data: tail");
            }
        }
    }

    #[test]
    fn flags_garbage_lines() {
        let mut b = LineBuf::default();
        b.push(b"<html>\n");
        assert_eq!(b.next_event(), Some(Event::Garbage));
    }
}
