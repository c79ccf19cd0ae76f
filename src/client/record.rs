//! What one request leaves behind: a few timestamps and one compact vector of
//! chunk arrival offsets. Response texts are not kept.
//!
//! All instants are microseconds since the run's epoch (`u64`), and chunk
//! times are microseconds since the request's send (`u32`, enough for 71
//! minutes), so a 1000-token stream costs 8 KB, not a `Vec<f64>` per metric.

use std::fmt;

/// Why a request failed. Reported as counts by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorKind {
    /// The server answered with a non-200 HTTP status.
    Http(u16),
    /// Connect, write or read failed at the transport level.
    Transport,
    /// A stream line was not `data: <json>` or the JSON had the wrong shape.
    MalformedStream,
    /// The server sent an error object inside the stream.
    StreamError,
    /// The request did not finish within `--request-timeout-sec`.
    Timeout,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::Http(code) => write!(f, "http_{code}"),
            ErrorKind::Transport => f.write_str("transport"),
            ErrorKind::MalformedStream => f.write_str("malformed_stream"),
            ErrorKind::StreamError => f.write_str("stream_error"),
            ErrorKind::Timeout => f.write_str("timeout"),
        }
    }
}

/// A failed request: its kind and a short message for humans.
#[derive(Debug, Clone)]
pub struct Failure {
    pub kind: ErrorKind,
    pub message: String,
}

/// The outcome of one request.
#[derive(Debug, Clone, Default)]
pub struct RequestRecord {
    /// When the schedule (or a freed concurrency slot) made it due, µs since epoch.
    pub scheduled_us: u64,
    /// When it was handed to the HTTP client, µs since epoch.
    pub send_us: u64,
    /// Offsets from send (µs) of every chunk that carried new content
    /// (for `/generate`: new tokens), first one = first token.
    pub chunk_us: Vec<u32>,
    /// For `/generate`: the cumulative `completion_tokens` at each chunk in
    /// `chunk_us` (empty for OpenAI APIs, which get one ITL per chunk).
    pub chunk_tokens: Vec<u32>,
    /// Offset from send (µs) of the last line received (end of request).
    pub latency_us: u32,
    /// Prompt tokens (server-reported when it says, else the dataset's).
    pub prompt_len: u32,
    /// Output tokens (server-reported when it says, else counted chunks).
    pub output_len: u32,
    pub failure: Option<Failure>,
}

impl RequestRecord {
    /// True when the request finished without error.
    pub fn success(&self) -> bool {
        self.failure.is_none()
    }

    /// Time to first token in seconds (0 when no content arrived, as SGLang).
    pub fn ttft_s(&self) -> f64 {
        self.chunk_us.first().map_or(0.0, |&us| us as f64 * 1e-6)
    }

    /// End-to-end latency in seconds.
    pub fn latency_s(&self) -> f64 {
        self.latency_us as f64 * 1e-6
    }

    /// SGLang's inter-token latencies in seconds, appended to `out`.
    ///
    /// OpenAI APIs: one gap per content chunk. `/generate`: each chunk's gap
    /// is split evenly over the tokens it added (SGLang's `adjust_itl`).
    pub fn push_itls(&self, out: &mut Vec<f64>) {
        for k in 1..self.chunk_us.len() {
            let gap = (self.chunk_us[k] - self.chunk_us[k - 1]) as f64 * 1e-6;
            match (self.chunk_tokens.get(k), self.chunk_tokens.get(k - 1)) {
                (Some(&now), Some(&before)) if now > before => {
                    let n = now - before;
                    let each = gap / n as f64;
                    out.extend(std::iter::repeat_n(each, n as usize));
                }
                _ => out.push(gap),
            }
        }
    }

    /// Send lateness in seconds: actual send minus due time.
    pub fn lateness_s(&self) -> f64 {
        self.send_us.saturating_sub(self.scheduled_us) as f64 * 1e-6
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generate_itls_split_multi_token_chunks() {
        let r = RequestRecord {
            chunk_us: vec![1000, 3000, 9000],
            chunk_tokens: vec![1, 2, 5],
            ..Default::default()
        };
        let mut itl = Vec::new();
        r.push_itls(&mut itl);
        assert_eq!(itl.len(), 4);
        assert!((itl[0] - 0.002).abs() < 1e-12);
        assert!((itl[3] - 0.002).abs() < 1e-12);
    }

    #[test]
    fn openai_itls_one_per_chunk() {
        let r = RequestRecord {
            chunk_us: vec![1000, 3000, 9000],
            ..Default::default()
        };
        let mut itl = Vec::new();
        r.push_itls(&mut itl);
        assert_eq!(itl, vec![0.002, 0.006]);
    }

    /// Lateness is send minus due, to the µs; a send stamped before its due
    /// instant (a slot freed and re-dated after the stamp) counts as on
    /// time, never as negative lateness.
    #[test]
    fn lateness_is_send_minus_due_clamped_at_zero() {
        let at = |scheduled_us, send_us| RequestRecord {
            scheduled_us,
            send_us,
            ..Default::default()
        };
        assert_eq!(at(1_000, 1_250).lateness_s(), 250e-6);
        assert_eq!(at(1_000, 1_000).lateness_s(), 0.0);
        assert_eq!(at(1_250, 1_000).lateness_s(), 0.0);
    }
}
