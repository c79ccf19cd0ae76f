//! SGLang-style log lines on stderr: `[2026-11-22 10:00:00 TP0] message`.
//!
//! Scheduler lines (`Prefill batch.` / `Decode batch.`) are rate-limited so a
//! long benchmark keeps its server.log small, the way SGLang only logs every
//! `decode_log_interval` decode steps.

use std::io::Write;
use std::time::{Duration, Instant};

/// Writes timestamped lines; `prefix` is SGLang's ` TP0` rank tag.
#[derive(Debug, Clone)]
pub struct Logger {
    prefix: String,
    debug: bool,
}

impl Logger {
    pub fn new(prefix: &str, debug: bool) -> Self {
        Logger {
            prefix: prefix.to_string(),
            debug,
        }
    }

    /// The same logger without the rank tag (HTTP-side lines).
    pub fn plain(&self) -> Self {
        Logger::new("", self.debug)
    }

    pub fn info(&self, msg: &str) {
        let stamp = jiff::Zoned::now().strftime("%Y-%m-%d %H:%M:%S");
        let mut err = std::io::stderr().lock();
        // A closed stderr must not take the simulator down.
        let _ = writeln!(err, "[{stamp}{}] {msg}", self.prefix);
    }

    pub fn debug(&self, msg: &str) {
        if self.debug {
            self.info(msg);
        }
    }

    /// Print a multi-line block (tracebacks) verbatim.
    pub fn raw(&self, text: &str) {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{text}");
        let _ = err.flush();
    }
}

/// Lets a line through every `every` events and at most once per `min_gap`.
#[derive(Debug)]
pub struct RateLimit {
    every: u64,
    min_gap: Duration,
    seen: u64,
    last: Option<Instant>,
}

impl RateLimit {
    pub fn new(every: u64, min_gap: Duration) -> Self {
        RateLimit {
            every: every.max(1),
            min_gap,
            seen: 0,
            last: None,
        }
    }

    /// Count one event; true when its line should be printed.
    pub fn allow(&mut self) -> bool {
        self.seen += 1;
        if self.seen % self.every != 0 {
            return false;
        }
        let now = Instant::now();
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < self.min_gap)
        {
            return false;
        }
        self.last = Some(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_counts_and_spaces() {
        let mut r = RateLimit::new(2, Duration::from_secs(3600));
        assert!(!r.allow());
        assert!(r.allow());
        assert!(!r.allow());
        assert!(!r.allow(), "second hit within the gap is dropped");
    }
}
