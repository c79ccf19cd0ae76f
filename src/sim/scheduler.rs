//! The continuous-batching scheduler, on its own OS thread.
//!
//! Like SGLang's scheduler, every step is either a prefill step (admit
//! waiting requests under `max_running_requests`, the prefill token budget
//! and the KV pool; long prompts are chunked) or a decode step (one token
//! for every running request). Prefill has priority. A step's simulated
//! duration comes from the [`StepTimer`]; the thread sleeps until the
//! step's scaled wall deadline and then emits the step's tokens, so TTFT,
//! ITL and throughput respond to load like a real server.
//!
//! It runs on a plain thread because tokio timers round to milliseconds
//! while a scaled decode step is often tens of microseconds.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::cost::SeqStep;
use super::job::{Batch, Emission, Sink, Submit};
use super::log::{Logger, RateLimit};
use super::rng::Jitter;
use super::stats::Stats;
use super::timing::{Clock, StepTimer};

/// Limits and knobs of one scheduler.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_running: usize,
    pub max_prefill_tokens: u64,
    /// 0 disables chunked prefill.
    pub chunk: u64,
    pub kv_capacity: u64,
    pub oom_above: Option<u64>,
    pub jitter_ms: Option<f64>,
    pub seed: u64,
}

/// What the scheduler shares with the HTTP side.
/// What a CUDA OOM does to the process: log the traceback and exit 1.
/// Shared by the scheduler (a formed batch too big) and the HTTP side (a
/// batched request too big).
pub type OomHandler = Arc<dyn Fn(u64) + Send + Sync>;

pub struct Shared {
    pub stats: Arc<Stats>,
    /// Set by the `hang_after` fault: the scheduler stops stepping.
    pub hung: Arc<AtomicBool>,
    pub log: Logger,
    /// Called with the batch size when a batch exceeds `oom_above`; must not
    /// return (the real server dies on a CUDA OOM).
    pub on_oom: OomHandler,
}

struct Job {
    sub: u32,
    counted: bool,
    sink: Sink,
    prompt: u64,
    max_new: u64,
    prefilled: u64,
    generated: u64,
    arrival_sim: f64,
}

pub struct Scheduler {
    limits: Limits,
    timer: Arc<dyn StepTimer>,
    clock: Clock,
    inbox: mpsc::UnboundedReceiver<Batch>,
    shared: Shared,
    waiting: VecDeque<Job>,
    chunked: Option<Job>,
    running: Vec<Job>,
    kv_used: u64,
    t_sim: f64,
    jitter: Jitter,
    work: Vec<SeqStep>,
    prefill_log: RateLimit,
    decode_log: RateLimit,
    decode_mark: (f64, u64),
}

impl Scheduler {
    pub fn new(
        limits: Limits,
        timer: Arc<dyn StepTimer>,
        clock: Clock,
        inbox: mpsc::UnboundedReceiver<Batch>,
        shared: Shared,
    ) -> Self {
        Scheduler {
            jitter: Jitter::new(limits.seed, limits.jitter_ms),
            limits,
            timer,
            clock,
            inbox,
            shared,
            waiting: VecDeque::new(),
            chunked: None,
            running: Vec::new(),
            kv_used: 0,
            t_sim: 0.0,
            work: Vec::new(),
            prefill_log: RateLimit::new(1, Duration::from_millis(100)),
            decode_log: RateLimit::new(40, Duration::from_millis(100)),
            decode_mark: (0.0, 0),
        }
    }

    /// Start the loop on a new thread.
    pub fn spawn(self) -> std::io::Result<std::thread::JoinHandle<()>> {
        std::thread::Builder::new()
            .name("sim-scheduler".into())
            .spawn(move || self.run())
    }

    /// Step until every request sender is gone.
    pub fn run(mut self) {
        loop {
            if self.shared.hung.load(Ordering::Relaxed) {
                park_forever();
            }
            if self.is_idle() {
                let Some(first) = self.inbox.blocking_recv() else {
                    return;
                };
                if let Some(s) = first.first() {
                    self.wake(s.arrival_wall);
                }
                self.enqueue_all(first);
            }
            self.drain_inbox();
            self.wait_for_readers();
            self.step();
        }
    }

    fn is_idle(&self) -> bool {
        self.waiting.is_empty() && self.running.is_empty() && self.chunked.is_none()
    }

    /// After idling, simulated time jumps to the waking request's arrival
    /// (not to "now": the hand-off latency, magnified by a small time
    /// scale, must not leak into the simulated latencies).
    fn wake(&mut self, arrival_wall: f64) {
        if let Some(arrival) = self.clock.sim_at_wall(arrival_wall) {
            self.t_sim = self.t_sim.max(arrival);
        }
    }

    fn drain_inbox(&mut self) {
        while let Ok(batch) = self.inbox.try_recv() {
            self.enqueue_all(batch);
        }
    }

    fn enqueue_all(&mut self, batch: Batch) {
        for s in batch {
            self.enqueue(s);
        }
    }

    fn enqueue(&mut self, s: Submit) {
        let arrival_sim = self
            .clock
            .sim_at_wall(s.arrival_wall)
            .map_or(self.t_sim, |a| a.min(self.t_sim));
        self.waiting.push_back(Job {
            sub: s.sub,
            counted: s.counted,
            sink: s.sink,
            prompt: s.prompt_tokens.max(1),
            max_new: s.max_new_tokens.max(1),
            prefilled: 0,
            generated: 0,
            arrival_sim,
        });
    }

    /// Backpressure: wait (bounded) while a live reader is far behind.
    fn wait_for_readers(&self) {
        let give_up = Instant::now() + Duration::from_secs(2);
        while self.running.iter().any(|j| j.sink.lagging()) && Instant::now() < give_up {
            std::thread::sleep(Duration::from_micros(100));
        }
    }

    fn step(&mut self) {
        let batch = self.admit();
        if !batch.is_empty() {
            self.prefill(batch);
        } else if !self.running.is_empty() {
            self.decode();
        } else {
            // Nothing admissible and nothing running: only possible if the
            // HTTP side let through a request larger than the pool.
            self.reject_unfittable();
        }
    }

    /// Pick the prefill batch: `(job, tokens to prefill now)`.
    fn admit(&mut self) -> Vec<(Job, u64)> {
        let l = &self.limits;
        let mut budget = match l.chunk {
            0 => l.max_prefill_tokens,
            c => l.max_prefill_tokens.min(c),
        };
        let mut batch = Vec::new();
        if let Some(job) = self.chunked.take() {
            let take = (job.prompt - job.prefilled).min(budget);
            budget -= take;
            batch.push((job, take));
        }
        while budget > 0 {
            let Some(front) = self.waiting.front() else {
                break;
            };
            let need = front.prompt + front.max_new;
            let full = self.running.len() + batch.len() >= l.max_running;
            let no_room = self.kv_used + need > l.kv_capacity;
            let too_long = l.chunk == 0 && front.prompt > budget && !batch.is_empty();
            if full || no_room || too_long {
                break;
            }
            let take = if l.chunk == 0 {
                front.prompt
            } else {
                front.prompt.min(budget)
            };
            budget = budget.saturating_sub(take);
            self.kv_used += need;
            if let Some(job) = self.waiting.pop_front() {
                batch.push((job, take));
            }
        }
        batch
    }

    fn prefill(&mut self, batch: Vec<(Job, u64)>) {
        self.work.clear();
        self.work.extend(batch.iter().map(|(j, take)| SeqStep {
            new_tokens: *take,
            context: j.prefilled,
        }));
        let new_tokens: u64 = batch.iter().map(|(_, t)| t).sum();
        self.log_prefill(batch.len(), new_tokens);
        self.advance(batch.len() as u64);
        Stats::add(&self.shared.stats.prefill_steps, 1);
        Stats::add(&self.shared.stats.prompt_tokens, new_tokens);
        for (mut job, take) in batch {
            job.prefilled += take;
            if job.prefilled < job.prompt {
                self.chunked = Some(job);
            } else {
                self.emit_and_keep(job);
            }
        }
    }

    fn decode(&mut self) {
        self.work.clear();
        self.work.extend(self.running.iter().map(|j| SeqStep {
            new_tokens: 1,
            context: j.prompt + j.generated - 1,
        }));
        self.log_decode();
        self.advance(self.running.len() as u64);
        Stats::add(&self.shared.stats.decode_steps, 1);
        let running = std::mem::take(&mut self.running);
        for job in running {
            self.emit_and_keep(job);
        }
    }

    /// Price `self.work`, move simulated time on, wait for its wall deadline.
    fn advance(&mut self, batch_size: u64) {
        if self.limits.oom_above.is_some_and(|b| batch_size > b) {
            (self.shared.on_oom)(batch_size);
        }
        self.t_sim += self.timer.step_seconds(&self.work) + self.jitter.next_seconds();
        self.clock.sleep_until_sim(self.t_sim);
    }

    /// Emit the job's next token; keep it running unless it is done or its
    /// client is gone (both free its KV reservation).
    fn emit_and_keep(&mut self, mut job: Job) {
        job.generated += 1;
        let finished = job.generated >= job.max_new;
        // Count before sending: a client that reads /sim/stats as soon as
        // it has its last token must see it counted. Taken back when the
        // client turns out to be gone.
        let stats = &self.shared.stats;
        if job.counted {
            Stats::add(&stats.generated_tokens, 1);
            if finished {
                Stats::add(&stats.finished, 1);
            }
        }
        let delivered = job.sink.send(Emission {
            sub: job.sub,
            sim_time: self.t_sim,
            arrival_sim: job.arrival_sim,
            finished,
        });
        if !delivered && job.counted {
            Stats::sub(&stats.generated_tokens, 1);
            if finished {
                Stats::sub(&stats.finished, 1);
            }
            Stats::add(&stats.aborted, 1);
        }
        if finished || !delivered {
            self.kv_used -= job.prompt + job.max_new;
        } else {
            self.running.push(job);
        }
    }

    fn reject_unfittable(&mut self) {
        if let Some(job) = self.waiting.pop_front() {
            self.shared.log.info(&format!(
                "Abort request: {} tokens exceed the KV pool of {} tokens",
                job.prompt + job.max_new,
                self.limits.kv_capacity
            ));
            Stats::add(&self.shared.stats.aborted, 1);
        }
    }

    fn usage(&self) -> f64 {
        self.kv_used as f64 / self.limits.kv_capacity.max(1) as f64
    }

    fn log_prefill(&mut self, seqs: usize, tokens: u64) {
        if self.prefill_log.allow() {
            self.shared.log.info(&format!(
                "Prefill batch. #new-seq: {seqs}, #new-token: {tokens}, #cached-token: 0, token usage: {:.2}, #running-req: {}, #queue-req: {}, ",
                self.usage(),
                self.running.len(),
                self.waiting.len(),
            ));
        }
    }

    fn log_decode(&mut self) {
        if !self.decode_log.allow() {
            return;
        }
        let generated = self.shared.stats.generated_tokens.load(Ordering::Relaxed);
        let (t0, g0) = self.decode_mark;
        let dt = self.t_sim - t0;
        let rate = if dt > 0.0 {
            (generated - g0) as f64 / dt
        } else {
            0.0
        };
        self.decode_mark = (self.t_sim, generated);
        let tokens: u64 = self.running.iter().map(|j| j.prompt + j.generated).sum();
        self.shared.log.info(&format!(
            "Decode batch. #running-req: {}, #token: {tokens}, token usage: {:.2}, cuda graph: True, gen throughput (token/s): {rate:.2}, #queue-req: {}, ",
            self.running.len(),
            self.usage(),
            self.waiting.len(),
        ));
    }
}

fn park_forever() -> ! {
    loop {
        std::thread::park();
    }
}
