//! `matrix bench serving`: SGLang `bench_serving` semantics, run by matrix.
//!
//! Order of work: wait for the server → model name → prompts → request
//! bodies (all serialized up front) → the server's time scale → warmup →
//! the measured run on the precomputed schedule → records into the server's
//! time → metrics → summary block, lateness section and `--output-file`
//! JSON line.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use bytes::Bytes;
use indicatif::{ProgressBar, ProgressStyle};

use super::args::{Api, ServingRequest};
use super::dataset::{self, Prompt};
use super::dispatch::{self, Job};
use super::http::{Endpoint, Http};
use super::metrics::{self, Metrics};
use super::payload::{self, BodyOptions};
use super::request::Sender;
use super::timescale::{self, TimeScale};
use super::tokenizer::Tok;
use super::{ClientError, arrivals, pyjson, ready, report};

/// Run the benchmark; returns the exit code (0) or the error.
pub fn serving(req: &ServingRequest) -> Result<i32, ClientError> {
    req.validate()?;
    let rt = super::runtime()?;
    rt.block_on(run(req))
}

async fn run(req: &ServingRequest) -> Result<i32, ClientError> {
    let entered = Instant::now();
    let http = Http::new();
    ready::wait_ready(&http, &req.base_url, req.ready_check_timeout_sec).await?;
    let model = resolve_model(req, &http).await?;
    let tok = req.tokenizer.as_deref().map(Tok::load).transpose()?;
    let prompts = dataset::load(req, tok.as_ref())?;
    drop(tok);
    if prompts.is_empty() {
        return Err(ClientError::bad_arg(
            "--dataset-path",
            "the dataset yielded no prompts",
        ));
    }
    print_token_totals(&prompts);
    let opts = BodyOptions {
        api: req.backend.api,
        model: &model,
        stream: !req.disable_stream,
        ignore_eos: !req.disable_ignore_eos,
        temperature: req.temperature,
        top_p: req.top_p,
        extra: &req.extra_request_body,
    };
    let sender = Sender {
        http: http.clone(),
        endpoint: endpoint(&format!("{}{}", req.base_url, req.backend.api.path()))?,
        api: req.backend.api,
        stream: !req.disable_stream,
        timeout: Duration::from_secs_f64(req.request_timeout_sec),
        every_token: false,
        epoch: Instant::now(),
    };
    let scale = TimeScale::learn(&http, &req.base_url).await;
    timescale::announce(scale);
    let warm_send = warmup(req, &opts, &prompts[0], &sender).await?;
    let sender_epoch = sender.epoch;
    let jobs = jobs(req, &opts, &prompts, scale.factor());
    let progress = progress_bar(req, jobs.len());
    let lines = match &progress {
        Some(pb) if pb.is_hidden() => Some(PlainProgress::start(pb.clone())),
        _ => None,
    };
    let mut recs = dispatch::run(jobs, sender, req.max_concurrency, progress.clone()).await;
    if let Some(pb) = progress {
        pb.finish_and_clear();
    }
    if let Some(l) = lines {
        l.finish();
    }
    // Start-up measures this program, not the server: wall-clock, taken
    // before the records move to the server's time.
    let first_us = warm_send.or_else(|| recs.iter().map(|r| r.send_us).min());
    let to_epoch = sender_epoch.duration_since(entered).as_secs_f64() * 1e3;
    let startup_ms = first_us.map_or(f64::NAN, |us| to_epoch + us as f64 * 1e-3);
    scale.unscale(&mut recs);
    let mut m = metrics::compute(&recs, metrics::span_s(&recs).max(1e-9));
    m.startup_ms = startup_ms;
    print!("{}", report::summary(req, &m));
    print!("{}", report::lateness(&m));
    if let Some(path) = &req.output_file {
        let info = ready::server_info(&http, &req.base_url).await;
        append_line(
            path,
            &pyjson::to_line(&report::json_line(req, &m, info, &recs)),
        )?;
    }
    finish(&m, recs.len())
}

async fn resolve_model(req: &ServingRequest, http: &Http) -> Result<String, ClientError> {
    match (&req.model, req.backend.api) {
        (Some(m), _) => Ok(m.clone()),
        // /generate needs no model name; ask anyway, for the body's sake.
        (None, Api::Generate) => Ok(ready::discover_model(http, &req.base_url)
            .await
            .unwrap_or_default()),
        (None, _) => ready::discover_model(http, &req.base_url).await,
    }
}

/// The API endpoint under `--base-url` (already checked by `validate`).
pub(super) fn endpoint(url: &str) -> Result<Endpoint, ClientError> {
    Endpoint::parse(url).map_err(|e| ClientError::bad_arg("--base-url", format!("{url:?}: {e}")))
}

fn print_token_totals(prompts: &[Prompt]) {
    let input: u64 = prompts.iter().map(|p| p.prompt_len as u64).sum();
    let output: u64 = prompts.iter().map(|p| p.output_len as u64).sum();
    println!("#Input tokens: {input}");
    println!("#Output tokens: {output}");
}

/// The jobs, due at the schedule's offsets times `scale` (wall seconds
/// per second of the server's time).
fn jobs(req: &ServingRequest, opts: &BodyOptions<'_>, prompts: &[Prompt], scale: f64) -> Vec<Job> {
    let offsets = arrivals::schedule(prompts.len(), req.request_rate, req.seed)
        .into_iter()
        .map(|t| t * scale);
    prompts
        .iter()
        .zip(offsets)
        .map(|(p, offset_s)| Job {
            body: payload::body(opts, p, p.output_len),
            prompt_len: p.prompt_len,
            output_len: p.output_len,
            offset_s,
        })
        .collect()
}

/// SGLang's warmup: `n` copies of the first prompt, output capped at 32.
/// Returns the first warmup send time (µs since the sender's epoch).
async fn warmup(
    req: &ServingRequest,
    opts: &BodyOptions<'_>,
    first: &Prompt,
    sender: &Sender,
) -> Result<Option<u64>, ClientError> {
    let mut first_send = None;
    let n = req.warmup_requests;
    println!("Starting warmup with {n} sequences...");
    if n > 0 {
        let body: Bytes = payload::body(opts, first, first.output_len.min(32));
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..n {
            let (s, b) = (sender.clone(), body.clone());
            set.spawn(async move { s.send(b, 0, 0, 0).await });
        }
        let recs = set.join_all().await;
        first_send = recs.iter().map(|r| r.send_us).min();
        if !recs.iter().any(|r| r.success()) {
            let first = recs
                .iter()
                .find_map(|r| r.failure.as_ref().map(|f| f.message.clone()))
                .unwrap_or_default();
            return Err(ClientError::WarmupFailed { first });
        }
    }
    println!("Warmup completed with {n} sequences. Starting main benchmark run...");
    Ok(first_send)
}

/// The requests' progress bar: drawn on a terminal; elsewhere (a log) a
/// hidden bar whose position [`PlainProgress`] prints as tqdm does.
fn progress_bar(req: &ServingRequest, n: usize) -> Option<ProgressBar> {
    if req.disable_tqdm {
        return None;
    }
    if !std::io::stderr().is_terminal() {
        let hidden = indicatif::ProgressDrawTarget::hidden();
        return Some(ProgressBar::with_draw_target(Some(n as u64), hidden));
    }
    let pb = ProgressBar::new(n as u64);
    if let Ok(style) = ProgressStyle::with_template(
        "{percent:>3}%|{wide_bar}| {pos}/{len} [{elapsed_precise}<{eta_precise}]",
    ) {
        pb.set_style(style);
    }
    Some(pb)
}

/// tqdm's lines for a log: `\r  5%| | 1/20 [00:01<?, 1.12it/s]` on
/// stderr at most every [`PlainProgress::EVERY`] while the count changes,
/// and once at the end (then a newline), so whoever reads the log (the
/// runner's request progress) sees requests done / total as bench_serving
/// prints them. A thread of its own; woken at once when the run ends.
struct PlainProgress {
    stop: std::sync::mpsc::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl PlainProgress {
    const EVERY: Duration = Duration::from_millis(250);

    fn start(pb: ProgressBar) -> PlainProgress {
        let (stop, rx) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let started = Instant::now();
            let mut last = None;
            loop {
                let ended = !matches!(
                    rx.recv_timeout(Self::EVERY),
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout)
                );
                let pos = pb.position();
                if last != Some(pos) || ended {
                    last = Some(pos);
                    let line = tqdm_line(pos, pb.length().unwrap_or(0), started.elapsed());
                    let mut err = std::io::stderr().lock();
                    let _ = write!(err, "\r{line}");
                    if ended {
                        let _ = writeln!(err);
                    }
                    let _ = err.flush();
                }
                if ended {
                    return;
                }
            }
        });
        PlainProgress { stop, thread }
    }

    fn finish(self) {
        let _ = self.stop.send(());
        let _ = self.thread.join();
    }
}

/// One tqdm progress line: `100%|##########| 20/20 [00:01<?, 17.50it/s]`.
fn tqdm_line(done: u64, total: u64, elapsed: Duration) -> String {
    let pct = (done * 100).checked_div(total).unwrap_or(0);
    let filled = (pct / 10) as usize;
    let bar = format!("{}{}", "#".repeat(filled), " ".repeat(10 - filled.min(10)));
    let secs = elapsed.as_secs();
    let rate = done as f64 / elapsed.as_secs_f64().max(1e-9);
    format!(
        "{pct:>3}%|{bar}| {done}/{total} [{:02}:{:02}<?, {rate:.2}it/s]",
        secs / 60,
        secs % 60
    )
}

/// Append one line to `path`, creating it if needed.
pub(super) fn append_line(path: &camino::Utf8Path, line: &str) -> Result<(), ClientError> {
    let io = |source| ClientError::Io {
        context: format!("cannot append to {path}"),
        source,
    };
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io)?;
    writeln!(f, "{line}").map_err(io)
}

fn finish(m: &Metrics, total: usize) -> Result<i32, ClientError> {
    if m.completed == 0 {
        return Err(ClientError::AllFailed {
            count: total,
            first: m.first_error.clone().unwrap_or_default(),
        });
    }
    Ok(0)
}

#[cfg(test)]
mod progress_tests {
    use super::*;

    #[test]
    fn tqdm_lines_are_what_the_runner_reads() {
        let line = tqdm_line(5, 20, Duration::from_millis(2500));
        assert_eq!(line, " 25%|##        | 5/20 [00:02<?, 2.00it/s]");
        let log = format!("\r{}\r{}\n", tqdm_line(0, 20, Duration::ZERO), line);
        assert_eq!(crate::parse::progress::last_progress(&log), Some((5, 20)));
        assert_eq!(
            tqdm_line(0, 0, Duration::ZERO),
            "  0%|          | 0/0 [00:00<?, 0.00it/s]"
        );
    }
}
