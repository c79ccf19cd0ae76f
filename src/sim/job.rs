//! What flows between the HTTP side and the scheduler thread.
//!
//! An HTTP request becomes one [`Submit`] per prompt (a batched `/generate`
//! has several), all sharing one [`Sink`], handed over together as one
//! [`Batch`]. The scheduler sends an
//! [`Emission`] at the simulated end of every step that produced a token.
//! The sink counts unread emissions so the scheduler can wait for slow
//! readers instead of piling up tokens (backpressure at time scale 0).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use tokio::sync::mpsc;

/// A sequence submitted for generation.
#[derive(Debug)]
pub struct Submit {
    /// Position of this prompt in its HTTP request (batched input).
    pub sub: u32,
    pub prompt_tokens: u64,
    pub max_new_tokens: u64,
    /// Wall seconds since server start when the HTTP request arrived.
    pub arrival_wall: f64,
    pub sink: Sink,
    /// False for health checks: they do not show in `/sim/stats`.
    pub counted: bool,
}

/// Every sequence of one HTTP request, sent to the scheduler in one
/// message. Sending them one by one let a busy machine interleave the
/// scheduler's steps between them, so a batched request was not admitted
/// as one batch (and `oom_above` could miss it).
pub type Batch = Vec<Submit>;

/// One generated token of one sequence, at a simulated step end.
#[derive(Debug, Clone, Copy)]
pub struct Emission {
    pub sub: u32,
    /// Simulated seconds since server start at which the token exists.
    pub sim_time: f64,
    /// Simulated arrival time the scheduler assigned to the sequence.
    pub arrival_sim: f64,
    /// True on the sequence's last token.
    pub finished: bool,
}

/// Tokens above this many unread per request make the scheduler wait.
const LAG_LIMIT: u32 = 64;

/// Scheduler-side end of a request's token channel.
#[derive(Debug, Clone)]
pub struct Sink {
    tx: mpsc::UnboundedSender<Emission>,
    unread: Arc<AtomicU32>,
}

/// HTTP-side end of a request's token channel.
#[derive(Debug)]
pub struct Tap {
    rx: mpsc::UnboundedReceiver<Emission>,
    unread: Arc<AtomicU32>,
}

/// A fresh channel for one HTTP request.
pub fn channel() -> (Sink, Tap) {
    let (tx, rx) = mpsc::unbounded_channel();
    let unread = Arc::new(AtomicU32::new(0));
    (
        Sink {
            tx,
            unread: unread.clone(),
        },
        Tap { rx, unread },
    )
}

impl Sink {
    /// Deliver a token; false when the client has gone away.
    pub fn send(&self, e: Emission) -> bool {
        if self.tx.send(e).is_err() {
            return false;
        }
        self.unread.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// Whether the reader is alive and far behind.
    pub fn lagging(&self) -> bool {
        !self.tx.is_closed() && self.unread.load(Ordering::Relaxed) > LAG_LIMIT
    }
}

impl Tap {
    /// The next token, or None when the scheduler is gone.
    pub async fn recv(&mut self) -> Option<Emission> {
        let e = self.rx.recv().await?;
        self.unread.fetch_sub(1, Ordering::Relaxed);
        Some(e)
    }
}
