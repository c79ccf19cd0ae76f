//! One HTTP request's generation in progress: receives the scheduler's
//! emissions, turns them into filler text, and records the trace.

use std::sync::Arc;

use super::job::Tap;
use super::state::{AppState, Kind};
use super::tokens;
use super::trace::TraceRecord;

/// One prompt of the request and what it has produced so far.
#[derive(Debug)]
pub struct SubSeq {
    pub rid: String,
    seed: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Cumulative generated text.
    pub text: String,
    /// The newest token's text (with its leading space).
    pub last_len: usize,
    pub finished: bool,
    arrival_wall: f64,
    pub sim_arrival: f64,
    walls: Vec<f64>,
    sims: Vec<f64>,
}

impl SubSeq {
    pub fn new(rid: u64, index: usize, seed: u64, prompt: u64, max_new: u64, arrival: f64) -> Self {
        let id = rid.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (index as u64);
        SubSeq {
            rid: format!("{rid:016x}{id:016x}"),
            seed: seed ^ id,
            prompt_tokens: prompt,
            completion_tokens: 0,
            text: String::with_capacity(8 * max_new.min(4096) as usize),
            last_len: 0,
            finished: false,
            arrival_wall: arrival,
            sim_arrival: 0.0,
            walls: Vec::with_capacity(max_new.min(4096) as usize),
            sims: Vec::with_capacity(max_new.min(4096) as usize),
        }
    }

    /// The newest token's text.
    pub fn delta(&self) -> &str {
        &self.text[self.text.len() - self.last_len..]
    }

    /// Simulated seconds from arrival to the newest token (SGLang's
    /// `e2e_latency` once finished).
    pub fn sim_latency(&self) -> f64 {
        self.sims.last().map_or(0.0, |t| t - self.sim_arrival)
    }

    fn push_token(&mut self, wall: f64, sim: f64) {
        let word = tokens::filler(self.seed, self.completion_tokens);
        self.text.push(' ');
        self.text.push_str(word);
        self.last_len = word.len() + 1;
        self.completion_tokens += 1;
        self.walls.push(wall);
        self.sims.push(sim);
    }

    fn record(&self, endpoint: &'static str) -> TraceRecord {
        TraceRecord {
            id: self.rid.clone(),
            endpoint,
            prompt_tokens: self.prompt_tokens,
            completion_tokens: self.completion_tokens,
            arrival: self.arrival_wall,
            first_token: self.walls.first().copied().unwrap_or(f64::NAN),
            token_times: self.walls.clone(),
            sim_arrival: self.sim_arrival,
            sim_first_token: self.sims.first().copied().unwrap_or(f64::NAN),
            sim_token_times: self.sims.clone(),
        }
    }
}

/// The receiving side of one request.
pub struct Generation {
    state: Arc<AppState>,
    tap: Tap,
    pub subs: Vec<SubSeq>,
    open: usize,
    kind: Kind,
}

impl Generation {
    pub fn new(state: Arc<AppState>, tap: Tap, subs: Vec<SubSeq>, kind: Kind) -> Self {
        Generation {
            open: subs.len(),
            state,
            tap,
            subs,
            kind,
        }
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Wait for the next token; returns the index of the sequence that got
    /// it, or None when every sequence is done. The wall timestamp is taken
    /// here, right before the caller writes the chunk.
    pub async fn next(&mut self) -> Option<usize> {
        if self.open == 0 {
            return None;
        }
        let e = self.tap.recv().await?;
        let wall = self.state.clock.wall_now();
        let i = e.sub as usize;
        let sub = self.subs.get_mut(i)?;
        sub.sim_arrival = e.arrival_sim;
        sub.push_token(wall, e.sim_time);
        if e.finished && !sub.finished {
            sub.finished = true;
            self.open -= 1;
            if let Kind::Client(endpoint) = self.kind {
                self.state.trace.push(sub.record(endpoint));
            }
        }
        Some(i)
    }

    /// Drain every token (non-streaming responses).
    pub async fn finish(&mut self) {
        while self.next().await.is_some() {}
    }

    pub fn prompt_tokens(&self) -> u64 {
        self.subs.iter().map(|s| s.prompt_tokens).sum()
    }

    pub fn completion_tokens(&self) -> u64 {
        self.subs.iter().map(|s| s.completion_tokens).sum()
    }
}
