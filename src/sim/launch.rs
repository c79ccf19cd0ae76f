//! `matrix sim launch-server`: validate, record the start, then either wait
//! as a non-zero rank or serve HTTP while "loading" and run the scheduler.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::json;

use super::args::RawArgs;
use super::error::SimError;
use super::fault;
use super::help;
use super::holder;
use super::loading::Loaded;
use super::log::Logger;
use super::noise::ServerNoise;
use super::pyfmt;
use super::scheduler::{Limits, OomHandler, Scheduler, Shared};
use super::server;
use super::setup::Setup;
use super::signals::StopSignals;
use super::state::AppState;
use super::timing::NoisyTimer;

/// Env var naming a file that gets one JSON line per server start.
pub const START_LOG_ENV: &str = "MATRIX_SIM_START_LOG";

pub fn launch_server(argv: &[String]) -> Result<i32, SimError> {
    if help::wanted(argv) {
        print!("{}", help::LAUNCH);
        return Ok(0);
    }
    if let Some(fd) = holder::requested(argv) {
        return holder::run(&fd, &Logger::new("", false));
    }
    let raw = RawArgs::parse(argv)?;
    let setup = Setup::new(&raw, &[])?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| SimError::io("cannot start the async runtime", e))?;
    let result = rt.block_on(run(setup));
    rt.shutdown_timeout(Duration::from_millis(200));
    result
}

async fn run(setup: Setup) -> Result<i32, SimError> {
    let stop = StopSignals::install(setup.log.plain(), setup.faults.ignore_sigterm)?;
    record_start(&setup, "launch-server")?;
    let args_value = serde_json::to_value(&setup.args).unwrap_or(json!({}));
    setup.log.plain().info(&format!(
        "server_args={}",
        pyfmt::namespace_repr("ServerArgs", &args_value)
    ));
    if setup.args.node_rank > 0 {
        return follower(setup, stop).await;
    }
    let listener = bind(&setup)?;
    if setup.faults.grandchild_port {
        let pid = holder::spawn(&listener)?;
        setup.log.info(&format!(
            "spawned grandchild {pid} holding the listening socket"
        ));
    }
    let listener = into_tokio(listener)?;
    let state = Arc::new(AppState::new(
        setup.args.clone(),
        setup.deployment.clone(),
        setup.model.clone(),
        setup.faults.clone(),
        setup.clock,
        setup.log.plain(),
        oom_handler(&setup),
        Arc::new(ServerNoise::new(
            setup.noise,
            [
                u64::from(setup.args.tp_size),
                u64::from(setup.args.ep_size),
                u64::from(setup.args.dp_size),
                u64::from(setup.args.nnodes),
            ],
        )),
    ));
    let app = server::router(state.clone());
    tokio::spawn(server::serve(listener, app));
    tokio::task::spawn_blocking(move || start_engine(setup, state));
    stop.wait().await;
    Ok(0)
}

/// A rank > 0 node: loads, serves nothing, waits for a stop signal.
async fn follower(setup: Setup, stop: StopSignals) -> Result<i32, SimError> {
    let addr = setup.args.dist_init_addr.clone().unwrap_or_default();
    setup.log.info(&format!(
        "Init torch distributed begin. node_rank={} nnodes={} dist_init_addr={addr}",
        setup.args.node_rank, setup.args.nnodes
    ));
    tokio::task::spawn_blocking(move || {
        let _ = setup.loader().run();
        setup
            .log
            .info("Non-zero rank: no HTTP server; waiting for rank 0.");
    });
    stop.wait().await;
    Ok(0)
}

/// Loading, then the scheduler thread, then readiness (blocking thread).
fn start_engine(setup: Setup, state: Arc<AppState>) {
    if setup.loader().run() == Loaded::Hung {
        return;
    }
    let d = &setup.deployment;
    setup.log.info(&format!(
        "max_total_num_tokens={}, chunked_prefill_size={}, max_prefill_tokens={}, max_running_requests={}, context_len={}, available_gpu_mem={:.2} GB",
        d.max_total_num_tokens,
        setup.args.chunked_prefill_size,
        d.max_prefill_tokens,
        d.max_running_requests,
        d.context_len,
        setup.loader().available_gb(),
    ));
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    if let Err(e) = scheduler(&setup, &state, rx).spawn() {
        setup.log.info(&format!("cannot start the scheduler: {e}"));
        std::process::exit(1);
    }
    let _ = state.submit.set(tx);
    state.ready.store(true, Ordering::Release);
    let plain = setup.log.plain();
    plain.info(&format!(
        "INFO:     Started server process [{}]",
        std::process::id()
    ));
    plain.info("INFO:     Waiting for application startup.");
    plain.info("INFO:     Application startup complete.");
    plain.info(&format!(
        "INFO:     Uvicorn running on http://{}:{} (Press CTRL+C to quit)",
        setup.args.host, setup.args.port
    ));
    plain.info("The server is fired up and ready to roll!");
}

fn scheduler(
    setup: &Setup,
    state: &Arc<AppState>,
    rx: tokio::sync::mpsc::UnboundedReceiver<super::job::Batch>,
) -> Scheduler {
    let d = &setup.deployment;
    let limits = Limits {
        max_running: d.max_running_requests as usize,
        max_prefill_tokens: d.max_prefill_tokens,
        chunk: d.chunked_prefill_size,
        kv_capacity: d.max_total_num_tokens,
        oom_above: setup.faults.oom_above,
        jitter_ms: setup.faults.jitter_ms,
        seed: setup.args.sim_seed,
    };
    let shared = Shared {
        stats: state.stats.clone(),
        hung: state.hung.clone(),
        log: setup.log.clone(),
        on_oom: state.on_oom.clone(),
    };
    let timer = NoisyTimer {
        inner: setup.timer(),
        noise: state.noise.clone(),
    };
    Scheduler::new(limits, Arc::new(timer), setup.clock, rx, shared)
}

/// The `oom_above` death: PyTorch's traceback for the logits of `bs`
/// sequences, then exit 1 like a crashed SGLang scheduler.
fn oom_handler(setup: &Setup) -> OomHandler {
    let (log, gpu_mem, vocab) = (
        setup.log.clone(),
        setup.gpu.memory_bytes,
        setup.model.vocab_size(),
    );
    Arc::new(move |bs| {
        let logits = bs as f64 * vocab as f64 * 4.0;
        log.info("Scheduler hit an exception:");
        log.raw(&fault::oom_traceback(logits, gpu_mem));
        std::process::exit(1);
    })
}

fn bind(setup: &Setup) -> Result<std::net::TcpListener, SimError> {
    let (host, port) = (setup.args.host.as_str(), setup.args.port);
    std::net::TcpListener::bind((host, port)).map_err(|e| {
        SimError::io(
            format!("[Errno 98] error while attempting to bind on address ('{host}', {port})"),
            e,
        )
    })
}

fn into_tokio(l: std::net::TcpListener) -> Result<tokio::net::TcpListener, SimError> {
    let fail = |e| SimError::io("cannot use the listening socket", e);
    l.set_nonblocking(true).map_err(fail)?;
    tokio::net::TcpListener::from_std(l).map_err(fail)
}

/// Append `{"pid", "port", "rank", "time", "entry"}` to
/// `MATRIX_SIM_START_LOG`; `entry` is `launch-server` or `one-batch`.
pub(crate) fn record_start(setup: &Setup, entry: &str) -> Result<(), SimError> {
    let Ok(path) = std::env::var(START_LOG_ENV) else {
        return Ok(());
    };
    let line = json!({
        "pid": std::process::id(),
        "port": setup.args.port,
        "rank": setup.args.node_rank,
        "time": jiff::Timestamp::now().to_string(),
        "entry": entry,
    });
    let fail = |e| SimError::io(format!("cannot append to {START_LOG_ENV}={path}"), e);
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(fail)?;
    file.write_all(format!("{line}\n").as_bytes()).map_err(fail)
}
