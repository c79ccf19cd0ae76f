//! `matrix bench batch`: SGLang `bench_one_batch_server` semantics against a
//! running server.
//!
//! For each batch size × input length × output length: `POST /flush_cache`,
//! then `bsz` concurrent streamed `/generate` requests with random
//! `input_ids` of length `seq`, `max_new_tokens = output_len`, `ignore_eos`.
//! With `--backend openai` the same requests go to `/v1/completions` as
//! token-id prompts (`max_tokens`, vLLM's `ignore_eos`), so an engine
//! without SGLang's native API (vLLM) gets the same latency sweep.
//! Concurrent streams (not one batched request) give a timestamp for every
//! token of every sequence, from which:
//!
//! - `prefill_latency`: batch start → the last sequence's first token;
//! - decode step `k`: the instant the last sequence received token `k`;
//!   step latency = step `k` − step `k−1`; `median_decode_latency` is the
//!   median over steps;
//! - `total_latency`: batch start → the last sequence's end;
//! - throughputs: `bsz·seq/prefill`, `bsz/median_decode`,
//!   `bsz·(seq+out)/total` (tokens/s). Latencies are in seconds.
//!
//! Against a time-scaled simulator the times are converted to simulated
//! time before any of this ([`super::timescale`]), as one_batch reports.

use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value, json};

use super::args::{Api, BatchRequest};
use super::dataset::{Prompt, PromptBody};
use super::http::{Http, Method};
use super::payload::{self, BodyOptions};
use super::record::RequestRecord;
use super::request::Sender;
use super::stats::percentile_sorted;
use super::timescale::{self, TimeScale};
use super::{ClientError, pyjson, ready};

/// One combination's result, in one_batch's units (seconds, tokens/s).
#[derive(Debug, Clone, PartialEq)]
pub struct BatchResult {
    pub batch_size: u32,
    pub input_len: u32,
    pub output_len: u32,
    pub prefill_latency: f64,
    /// Per decode step (seconds), step 1 = second token.
    pub step_latencies: Vec<f64>,
    pub median_decode_latency: Option<f64>,
    pub total_latency: f64,
}

/// Run every combination; returns the exit code.
pub fn batch(req: &BatchRequest) -> Result<i32, ClientError> {
    req.validate()?;
    let rt = super::runtime()?;
    rt.block_on(run(req))
}

async fn run(req: &BatchRequest) -> Result<i32, ClientError> {
    let http = Http::new();
    ready::wait_ready(&http, &req.base_url, req.ready_check_timeout_sec).await?;
    let api = req.backend.api;
    if api == Api::Chat {
        return Err(ClientError::bad_arg(
            "--backend",
            "batch sends token-id prompts: use sglang or openai, not a chat backend",
        ));
    }
    let sender = Sender {
        http: http.clone(),
        endpoint: super::serving::endpoint(&format!("{}{}", req.base_url, api.path()))?,
        api,
        stream: true,
        timeout: Duration::from_secs_f64(req.request_timeout_sec),
        epoch: Instant::now(),
        every_token: true,
    };
    let scale = TimeScale::learn(&http, &req.base_url).await;
    timescale::announce(scale);
    let mut rng = ChaCha8Rng::seed_from_u64(req.seed);
    if !req.skip_warmup {
        println!("Warmup ...");
        let (bs, il) = (req.batch_size[0], req.input_len[0]);
        let r = one_case(
            req,
            &sender,
            scale,
            &mut rng,
            (bs, il, req.output_len[0].min(4)),
        )
        .await?;
        print!("{}", lines(&r));
    }
    println!("Benchmark ...");
    for &bs in &req.batch_size {
        for &il in &req.input_len {
            for &ol in &req.output_len {
                let r = one_case(req, &sender, scale, &mut rng, (bs, il, ol)).await?;
                print!("{}", lines(&r));
                if let Some(path) = &req.result_filename {
                    super::serving::append_line(
                        path,
                        &pyjson::to_line(&json_line(&req.run_name, &r)),
                    )?;
                }
            }
        }
    }
    Ok(0)
}

async fn flush_cache(sender: &Sender, base: &str) -> Result<(), ClientError> {
    let url = format!("{base}/flush_cache");
    let r = sender
        .http
        .call(Method::Post, &url, None, Duration::from_secs(60))
        .await;
    match r {
        Ok((200, _)) => Ok(()),
        Ok((s, body)) => Err(ClientError::Request {
            what: "POST /flush_cache".into(),
            reason: format!("HTTP {s}: {}", String::from_utf8_lossy(&body)),
        }),
        Err(e) => Err(ClientError::Request {
            what: "POST /flush_cache".into(),
            reason: e,
        }),
    }
}

async fn one_case(
    req: &BatchRequest,
    sender: &Sender,
    scale: TimeScale,
    rng: &mut ChaCha8Rng,
    (bs, il, ol): (u32, u32, u32),
) -> Result<BatchResult, ClientError> {
    if req.flush_cache {
        flush_cache(sender, &req.base_url).await?;
    }
    // Cumulative token counts in every OpenAI chunk (vLLM and SGLang both
    // honour continuous_usage_stats), so a chunk holding several tokens
    // counts them all.
    let mut extra = Map::new();
    if sender.api != Api::Generate {
        extra.insert(
            "stream_options".into(),
            json!({"include_usage": true, "continuous_usage_stats": true}),
        );
    }
    let opts = BodyOptions {
        api: sender.api,
        model: &req.model,
        stream: true,
        ignore_eos: !req.disable_ignore_eos,
        temperature: req.temperature,
        top_p: 1.0,
        extra: &extra,
    };
    let vocab = req.vocab_size.max(1);
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..bs {
        let ids = (0..il).map(|_| rng.random_range(0..vocab)).collect();
        let p = Prompt {
            body: PromptBody::Ids(ids),
            prompt_len: il,
            output_len: ol,
        };
        let body = payload::body(&opts, &p, ol);
        let s = sender.clone();
        set.spawn(async move { s.send(body, il, ol, 0).await });
    }
    let mut recs = set.join_all().await;
    if let Some(f) = recs.iter().find_map(|r| r.failure.as_ref()) {
        return Err(ClientError::Request {
            what: format!("batch (bs={bs}, il={il}, ol={ol})"),
            reason: f.message.clone(),
        });
    }
    scale.unscale(&mut recs);
    Ok(summarise(&recs, (bs, il, ol)))
}

/// Absolute time (µs since epoch) at which `r` held at least `k` tokens.
fn token_time(r: &RequestRecord, k: u32) -> Option<u64> {
    let i = r.chunk_tokens.iter().position(|&t| t >= k)?;
    Some(r.send_us + r.chunk_us[i] as u64)
}

/// Turn the batch's per-token times into one_batch's numbers.
pub fn summarise(recs: &[RequestRecord], (bs, il, ol): (u32, u32, u32)) -> BatchResult {
    let start = recs.iter().map(|r| r.send_us).min().unwrap_or(0);
    let end = recs
        .iter()
        .map(|r| r.send_us + r.latency_us as u64)
        .max()
        .unwrap_or(start);
    let produced = recs.iter().map(|r| r.output_len).min().unwrap_or(0).min(ol);
    let step_at = |k: u32| recs.iter().filter_map(|r| token_time(r, k)).max();
    let first = step_at(1).unwrap_or(end);
    let mut steps = Vec::new();
    let mut prev = first;
    for k in 2..=produced {
        if let Some(t) = step_at(k) {
            steps.push(t.saturating_sub(prev) as f64 * 1e-6);
            prev = t;
        }
    }
    let median = (!steps.is_empty()).then(|| {
        let mut s = steps.clone();
        s.sort_by(f64::total_cmp);
        percentile_sorted(&s, 50.0)
    });
    BatchResult {
        batch_size: bs,
        input_len: il,
        output_len: ol,
        prefill_latency: first.saturating_sub(start) as f64 * 1e-6,
        step_latencies: steps,
        median_decode_latency: median.filter(|_| ol > 1),
        total_latency: end.saturating_sub(start) as f64 * 1e-6,
    }
}

/// one_batch's printed lines for one combination.
pub fn lines(r: &BatchResult) -> String {
    let bs = r.batch_size as f64;
    let mut o = format!(
        "Prefill. latency: {:6.5} s, throughput: {:9.2} token/s\n",
        r.prefill_latency,
        bs * r.input_len as f64 / r.prefill_latency
    );
    for (i, lat) in r.step_latencies.iter().take(5).enumerate() {
        o += &format!(
            "Decode {i}. Batch size: {}, latency: {lat:6.5} s, throughput: {:9.2} token/s\n",
            r.batch_size,
            bs / lat
        );
    }
    if let Some(m) = r.median_decode_latency {
        o += &format!(
            "Decode.  median latency: {m:6.5} s, median throughput: {:9.2} token/s\n",
            bs / m
        );
    }
    o += &format!(
        "Total. latency: {:6.3} s, throughput: {:9.2} token/s\n",
        r.total_latency,
        bs * (r.input_len + r.output_len) as f64 / r.total_latency
    );
    o
}

/// The `--result-filename` object, keys as in one_batch's result.jsonl.
pub fn json_line(run_name: &str, r: &BatchResult) -> Value {
    let bs = r.batch_size as f64;
    let mut o = Map::new();
    o.insert("run_name".into(), json!(run_name));
    o.insert("batch_size".into(), json!(r.batch_size));
    o.insert("input_len".into(), json!(r.input_len));
    o.insert("output_len".into(), json!(r.output_len));
    o.insert("prefill_latency".into(), pyjson::float(r.prefill_latency));
    let prefill_tp = bs * r.input_len as f64 / r.prefill_latency;
    o.insert("prefill_throughput".into(), pyjson::float(prefill_tp));
    if let Some(m) = r.median_decode_latency {
        o.insert("median_decode_latency".into(), pyjson::float(m));
        o.insert("median_decode_throughput".into(), pyjson::float(bs / m));
    }
    o.insert("total_latency".into(), pyjson::float(r.total_latency));
    let overall = bs * (r.input_len + r.output_len) as f64 / r.total_latency;
    o.insert("overall_throughput".into(), pyjson::float(overall));
    Value::Object(o)
}
