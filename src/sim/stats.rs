//! Counters served at `GET /sim/stats`: what the simulator actually did,
//! so tests can check a client's totals against ground truth.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

#[derive(Debug, Default)]
pub struct Stats {
    /// Generation HTTP requests received (health checks excluded).
    pub requests: AtomicU64,
    /// Sequences that finished generating.
    pub finished: AtomicU64,
    pub prompt_tokens: AtomicU64,
    pub generated_tokens: AtomicU64,
    pub prefill_steps: AtomicU64,
    pub decode_steps: AtomicU64,
    pub aborted: AtomicU64,
    pub flushes: AtomicU64,
}

/// A point-in-time copy for JSON.
#[derive(Debug, Serialize)]
pub struct StatsSnapshot {
    pub requests: u64,
    pub finished: u64,
    pub prompt_tokens: u64,
    pub generated_tokens: u64,
    pub prefill_steps: u64,
    pub decode_steps: u64,
    pub steps: u64,
    pub aborted: u64,
    pub flushes: u64,
}

impl Stats {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn sub(counter: &AtomicU64, n: u64) {
        counter.fetch_sub(n, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            requests: get(&self.requests),
            finished: get(&self.finished),
            prompt_tokens: get(&self.prompt_tokens),
            generated_tokens: get(&self.generated_tokens),
            prefill_steps: get(&self.prefill_steps),
            decode_steps: get(&self.decode_steps),
            steps: get(&self.prefill_steps) + get(&self.decode_steps),
            aborted: get(&self.aborted),
            flushes: get(&self.flushes),
        }
    }
}
