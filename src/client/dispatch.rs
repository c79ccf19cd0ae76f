//! The dispatcher: releases requests at their scheduled absolute instants.
//!
//! It runs on a blocking-pool thread, not on the async workers: it sleeps
//! with the OS timer (µs resolution, unlike tokio's 1 ms wheel) until just
//! before each due instant, spins the last stretch, then spawns the request
//! task. Due instants are `start + offset[i]`, computed up front, so a late
//! wake-up never delays the requests after it. With `--max-concurrency` a
//! request waits for a free slot; its due time is then the later of its
//! schedule and the moment the slot freed (so lateness measures the client,
//! not the cap). When every request is due at once (infinite rate) and
//! capped, there is no schedule to keep: see [`run_slots`].

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use indicatif::ProgressBar;
use tokio::runtime::Handle;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use super::record::{ErrorKind, Failure, RequestRecord};
use super::request::Sender;

/// How long before a deadline the dispatcher stops sleeping and spins.
const SPIN: Duration = Duration::from_micros(200);

/// One request ready to go.
pub struct Job {
    pub body: Bytes,
    pub prompt_len: u32,
    /// Requested output tokens (sizes the per-token buffers up front).
    pub output_len: u32,
    /// Seconds after the run start.
    pub offset_s: f64,
}

/// Block the current (non-async) thread until `deadline`.
pub fn wait_until(deadline: Instant) {
    loop {
        let now = Instant::now();
        if now >= deadline {
            return;
        }
        let left = deadline - now;
        if left > SPIN {
            std::thread::sleep(left - SPIN);
        } else {
            std::thread::yield_now();
        }
    }
}

/// Release every job on schedule; returns the records in job order.
pub async fn run(
    jobs: Vec<Job>,
    sender: Sender,
    max_concurrency: Option<usize>,
    progress: Option<ProgressBar>,
) -> Vec<RequestRecord> {
    if let Some(c) = max_concurrency.filter(|_| jobs.iter().all(|j| j.offset_s <= 0.0)) {
        return run_slots(jobs, sender, c, progress).await;
    }
    let handle = Handle::current();
    let sem = max_concurrency.map(|c| Arc::new(Semaphore::new(c)));
    let spawned = tokio::task::spawn_blocking(move || release(jobs, sender, sem, progress, handle));
    let handles = spawned.await.unwrap_or_default();
    let mut recs = Vec::with_capacity(handles.len());
    for h in handles {
        recs.push(h.await.unwrap_or_else(|e| lost(e.to_string())));
    }
    recs
}

/// Every job due at once (`--request-rate inf`) under a concurrency cap:
/// `cap` tasks on the runtime each take the next job as soon as their
/// previous one finished, which is exactly when its slot frees (the due
/// time). No schedule to keep, so no dispatcher thread: it would be woken
/// through a futex on every completion just to spawn the next request,
/// and on this 2-core VM each such wake-up costs more than the request's
/// own bookkeeping.
async fn run_slots(
    jobs: Vec<Job>,
    sender: Sender,
    cap: usize,
    progress: Option<ProgressBar>,
) -> Vec<RequestRecord> {
    let n = jobs.len();
    let queue = Arc::new(Mutex::new(jobs.into_iter().enumerate()));
    let mut slots = Vec::with_capacity(cap.min(n));
    for _ in 0..cap.min(n) {
        let (queue, sender, pb) = (queue.clone(), sender.clone(), progress.clone());
        slots.push(tokio::spawn(async move {
            let mut done = Vec::new();
            loop {
                let next = queue.lock().map(|mut q| q.next()).unwrap_or(None);
                let Some((i, job)) = next else {
                    return done;
                };
                let due_us = sender.epoch.elapsed().as_micros() as u64;
                let rec = sender
                    .send(job.body, job.prompt_len, job.output_len, due_us)
                    .await;
                if let Some(pb) = &pb {
                    pb.inc(1);
                }
                done.push((i, rec));
            }
        }));
    }
    let mut recs: Vec<Option<RequestRecord>> = (0..n).map(|_| None).collect();
    for slot in slots {
        for (i, rec) in slot.await.unwrap_or_default() {
            recs[i] = Some(rec);
        }
    }
    let missing = || lost("request slot task ended early".into());
    recs.into_iter()
        .map(|r| r.unwrap_or_else(missing))
        .collect()
}

/// The record of a request task that died (it cannot panic by design, but
/// a runtime shutdown can cancel it): a transport failure, not a success.
fn lost(why: String) -> RequestRecord {
    RequestRecord {
        failure: Some(Failure {
            kind: ErrorKind::Transport,
            message: format!("request task lost: {why}"),
        }),
        ..Default::default()
    }
}

fn release(
    jobs: Vec<Job>,
    sender: Sender,
    sem: Option<Arc<Semaphore>>,
    progress: Option<ProgressBar>,
    handle: Handle,
) -> Vec<JoinHandle<RequestRecord>> {
    let start = Instant::now();
    let mut out = Vec::with_capacity(jobs.len());
    for job in jobs {
        let due = start + Duration::from_secs_f64(job.offset_s);
        wait_until(due);
        let permit = sem
            .as_ref()
            .and_then(|s| handle.block_on(s.clone().acquire_owned()).ok());
        let due = due.max(if permit.is_some() {
            Instant::now()
        } else {
            due
        });
        let scheduled_us = due.saturating_duration_since(sender.epoch).as_micros() as u64;
        let sender = sender.clone();
        let pb = progress.clone();
        out.push(handle.spawn(async move {
            let rec = sender
                .send(job.body, job.prompt_len, job.output_len, scheduled_us)
                .await;
            drop(permit);
            if let Some(pb) = pb {
                pb.inc(1);
            }
            rec
        }));
    }
    out
}
