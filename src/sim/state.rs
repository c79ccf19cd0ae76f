//! Everything the HTTP handlers share, and the one door into the scheduler.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tokio::sync::mpsc::UnboundedSender;

use super::cost::SimModel;
use super::deployment::Deployment;
use super::fault::Faults;
use super::generation::{Generation, SubSeq};
use super::job::{self, Batch, Submit};
use super::log::Logger;
use super::noise::ServerNoise;
use super::scheduler::OomHandler;
use super::server_args::ServerArgs;
use super::stats::Stats;
use super::timing::Clock;
use super::trace::TraceStore;

pub struct AppState {
    pub args: ServerArgs,
    pub deployment: Deployment,
    pub model: SimModel,
    pub faults: Faults,
    pub clock: Clock,
    pub log: Logger,
    /// Unix seconds at start, for OpenAI `created` fields.
    pub created: u64,
    pub ready: AtomicBool,
    pub hung: Arc<AtomicBool>,
    pub stats: Arc<Stats>,
    pub trace: TraceStore,
    /// Set once the model is "loaded" and the scheduler runs.
    pub submit: OnceLock<UnboundedSender<Batch>>,
    /// The `oom_above` fault's death, for batched requests that are too big.
    pub on_oom: OomHandler,
    /// Run-to-run noise: `/flush_cache` and `/server_info` start a new run.
    pub noise: Arc<ServerNoise>,
    next_rid: AtomicU64,
}

/// Why a generation request was not started.
#[derive(Debug)]
pub enum ApiError {
    NotReady,
    BadRequest(String),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            ApiError::NotReady => (
                StatusCode::SERVICE_UNAVAILABLE,
                "The server is not ready yet.".to_string(),
            ),
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
        };
        let body = serde_json::json!({
            "object": "error",
            "message": message,
            "type": "BadRequestError",
            "param": null,
            "code": status.as_u16(),
        });
        (status, axum::Json(body)).into_response()
    }
}

/// Wall seconds since server start when a request's headers were parsed,
/// stamped by the router's gate before the body is read or parsed. This is
/// the trace's `arrival`: a client's TTFT includes reading and parsing the
/// body (a 2000-id prompt is ~1 ms of JSON in a debug build), so the ground
/// truth must too.
#[derive(Debug, Clone, Copy)]
pub struct Arrival(pub f64);

/// Whether a request counts towards faults, stats and the trace.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    Client(&'static str),
    Health,
}

impl AppState {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        args: ServerArgs,
        deployment: Deployment,
        model: SimModel,
        faults: Faults,
        clock: Clock,
        log: Logger,
        on_oom: OomHandler,
        noise: Arc<ServerNoise>,
    ) -> Self {
        let created = jiff::Timestamp::now().as_second().max(0) as u64;
        AppState {
            next_rid: AtomicU64::new(args.sim_seed.wrapping_mul(0x1000_0000)),
            args,
            deployment,
            model,
            faults,
            clock,
            log,
            created,
            ready: AtomicBool::new(false),
            hung: Arc::new(AtomicBool::new(false)),
            stats: Arc::new(Stats::default()),
            trace: TraceStore::default(),
            submit: OnceLock::new(),
            on_oom,
            noise,
        }
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Validate, apply request-count faults, and hand the prompts to the
    /// scheduler. Never returns when the `hang_after` fault has tripped.
    pub async fn start(
        self: &Arc<Self>,
        prompts: &[u64],
        max_new: u64,
        kind: Kind,
        arrival: Option<Arrival>,
    ) -> Result<Generation, ApiError> {
        let submit = self
            .submit
            .get()
            .filter(|_| self.is_ready())
            .ok_or(ApiError::NotReady)?;
        self.check(prompts, max_new)?;
        if let Kind::Client(_) = kind {
            let n = self.stats.requests.fetch_add(1, Ordering::Relaxed) + 1;
            self.apply_count_faults(n).await;
        }
        if kind != Kind::Health {
            self.apply_oom_fault(prompts.len());
        }
        let arrival_wall = arrival.map_or_else(|| self.clock.wall_now(), |a| a.0);
        let (sink, tap) = job::channel();
        let rid = self.next_rid.fetch_add(1, Ordering::Relaxed);
        let counted = kind != Kind::Health;
        let batch: Batch = (0..prompts.len())
            .map(|i| Submit {
                sub: i as u32,
                prompt_tokens: prompts[i],
                max_new_tokens: max_new,
                arrival_wall,
                sink: sink.clone(),
                counted,
            })
            .collect();
        submit.send(batch).map_err(|_| ApiError::NotReady)?;
        let seed = self.args.sim_seed;
        let subs = prompts
            .iter()
            .enumerate()
            .map(|(i, &tokens)| SubSeq::new(rid, i, seed, tokens, max_new, arrival_wall))
            .collect();
        Ok(Generation::new(self.clone(), tap, subs, kind))
    }

    fn check(&self, prompts: &[u64], max_new: u64) -> Result<(), ApiError> {
        if prompts.is_empty() || prompts.contains(&0) {
            return Err(ApiError::BadRequest("The input is empty.".into()));
        }
        let d = &self.deployment;
        for &p in prompts {
            if p + max_new > d.context_len {
                return Err(ApiError::BadRequest(format!(
                    "Requested token count exceeds the model's maximum context length of {} tokens. You requested a total of {} tokens: {p} tokens from the input messages and {max_new} tokens for the completion.",
                    d.context_len,
                    p + max_new
                )));
            }
            if !d.fits(p, max_new) {
                return Err(ApiError::BadRequest(format!(
                    "The request needs {} KV tokens but the pool holds {}.",
                    p + max_new,
                    d.max_total_num_tokens
                )));
            }
        }
        Ok(())
    }

    /// `oom_above=B`: a batched request of more than B prompts dies here,
    /// whatever batches the scheduler would form from it, so the fault
    /// does not depend on thread timing.
    fn apply_oom_fault(&self, prompts: usize) {
        let n = prompts as u64;
        if self.faults.oom_above.is_some_and(|b| n > b) {
            (self.on_oom)(n);
        }
    }

    async fn apply_count_faults(&self, n: u64) {
        if self.faults.crash_after.is_some_and(|k| n > k) {
            self.log.info(&format!(
                "Scheduler hit an exception: simulated crash on request {n} (MATRIX_SIM_FAULT crash_after)"
            ));
            die_abruptly();
        }
        if self.faults.hang_after.is_some_and(|k| n > k) {
            if !self.hung.swap(true, Ordering::SeqCst) {
                self.log.info(&format!(
                    "simulated hang from request {n} on (MATRIX_SIM_FAULT hang_after)"
                ));
            }
            hang().await;
        }
    }
}

/// Never completes: a hung server keeps the connection open and silent.
pub async fn hang() -> ! {
    let never: Infallible = std::future::pending().await;
    match never {}
}

/// SIGKILL to ourselves: no cleanup, sockets reset, like a segfaulting
/// worker taking the server down.
pub fn die_abruptly() -> ! {
    let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
    std::process::exit(137)
}
