//! Ground truth for client tests, served at `GET /sim/trace`.
//!
//! For every finished sequence: its arrival and the wall time of every token
//! emission (seconds since server start, from the monotonic clock, taken
//! right when the chunk is handed to the HTTP body), plus the simulated
//! (unscaled) times the scheduler assigned. A client's TTFT is
//! `first_token - arrival`; its ITLs are the gaps of `token_times`.

use std::sync::Mutex;

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct TraceRecord {
    pub id: String,
    pub endpoint: &'static str,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Wall seconds since server start when the HTTP request was received.
    pub arrival: f64,
    pub first_token: f64,
    pub token_times: Vec<f64>,
    pub sim_arrival: f64,
    pub sim_first_token: f64,
    pub sim_token_times: Vec<f64>,
}

/// Finished records, in finishing order.
#[derive(Debug, Default)]
pub struct TraceStore {
    records: Mutex<Vec<TraceRecord>>,
}

impl TraceStore {
    pub fn push(&self, r: TraceRecord) {
        if let Ok(mut v) = self.records.lock() {
            v.push(r);
        }
    }

    pub fn snapshot(&self) -> Vec<TraceRecord> {
        self.records.lock().map(|v| v.clone()).unwrap_or_default()
    }
}
