//! `matrix bench`: the built-in load generator.
//!
//! Two entry points, both taking plain request structs (see [`args`]):
//!
//! - [`serving`]: SGLang `bench_serving` semantics — a dataset of prompts
//!   sent on a seeded Poisson (or all-at-once) schedule to `/generate` or an
//!   OpenAI-compatible endpoint, streamed, timed per chunk, summarised with
//!   SGLang's labels and JSON keys.
//! - [`batch`]: SGLang `bench_one_batch_server` semantics — one static batch
//!   per batch size × input length × output length, with prefill / decode /
//!   total latency and throughput.
//!
//! Files, one noun each: [`args`] request types, [`dataset`] prompts,
//! [`arrivals`] the schedule, [`dispatch`] releasing requests on time,
//! [`http`] the pooled client over [`conn`] connections and [`body`]
//! framing, [`deadline`] the per-request limit, [`sse`] + [`chunk`] +
//! [`meta`] + [`scan`] stream parsing,
//! [`request`] one timed request, [`record`] what it leaves, [`metrics`] +
//! [`stats`] the numbers, [`report`] + [`pyjson`] the output, [`timescale`]
//! the server's clock (a time-scaled simulator's).

pub mod args;
pub mod arrivals;
pub mod batch;
pub mod body;
pub mod chunk;
pub mod conn;
pub mod dataset;
pub mod deadline;
pub mod dispatch;
pub mod error;
pub mod http;
pub mod meta;
pub mod metrics;
pub mod payload;
pub mod pyjson;
pub mod ready;
pub mod record;
pub mod report;
pub mod request;
pub mod scan;
pub mod serving;
pub mod sse;
pub mod stats;
pub mod timescale;
pub mod tokenizer;

pub use args::{BatchRequest, ServingRequest};
pub use batch::batch;
pub use error::ClientError;
pub use serving::serving;

/// Raise the soft open-file limit to the hard one (as SGLang's
/// `set_ulimit`): every in-flight stream holds a socket. Best effort.
fn raise_nofile_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        if soft < hard {
            let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
        }
    }
}

/// A runtime with one worker per 4 cores (1 to 4; one worker = tokio's
/// current-thread runtime, no worker thread to wake at all). Streams
/// are cheap to serve (~1-2 µs of CPU per token), and every extra worker
/// adds park/unpark and work-stealing wake-ups per token: on 2 cores, two
/// workers cost ~30% more CPU per token than one (docs/PERFORMANCE.md).
/// Schedule release runs on its own blocking thread either way.
fn runtime() -> Result<tokio::runtime::Runtime, ClientError> {
    raise_nofile_limit();
    let workers = (std::thread::available_parallelism().map_or(2, |n| n.get()) / 4).clamp(1, 4);
    let mut b = if workers == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(workers);
        b
    };
    b.enable_all().build().map_err(ClientError::Runtime)
}
