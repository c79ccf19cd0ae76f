//! A minimal SSE inference server for the load-generator tests.
//!
//! It speaks SGLang's `/generate` stream (cumulative `text` + `meta_info`)
//! and the OpenAI completions / chat streams (deltas + a final usage chunk),
//! with deterministic per-request timing, and records the ground truth of
//! every request: arrival time and the instant each chunk was handed to
//! the socket. Tests compare the client's measurements with that trace.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use http_body_util::channel::{Channel, Sender};
use serde_json::{Value, json};

/// How the server behaves.
#[derive(Clone, Debug)]
pub struct Config {
    /// TTFT of request n: `ttft_base + (n % 5) ms`.
    pub ttft_base: Duration,
    /// Gap before token k: `itl_base + (k % 3) ms`.
    pub itl_base: Duration,
    /// Answer every request with this status.
    pub fail_status: Option<u16>,
    /// Every `k`-th request (n % k == 1) breaks its stream mid-way.
    pub garbage_every: Option<usize>,
    /// No delays at all (throughput benchmark).
    pub unthrottled: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            ttft_base: Duration::from_millis(4),
            itl_base: Duration::from_millis(1),
            fail_status: None,
            garbage_every: None,
            unthrottled: false,
        }
    }
}

/// Ground truth of one finished request (µs since the server's epoch).
#[derive(Clone, Debug)]
pub struct Trace {
    pub arrival_us: u64,
    pub emit_us: Vec<u64>,
    pub prompt_len: u64,
}

struct St {
    cfg: Config,
    epoch: Instant,
    next: AtomicUsize,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    flushes: AtomicUsize,
    trace: Mutex<Vec<Trace>>,
}

/// A running test server; stops when dropped (its thread ends with the test).
pub struct TestServer {
    pub base_url: String,
    st: Arc<St>,
}

impl TestServer {
    pub fn start(cfg: Config) -> TestServer {
        let st = Arc::new(St {
            cfg,
            epoch: Instant::now(),
            next: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            flushes: AtomicUsize::new(0),
            trace: Mutex::new(Vec::new()),
        });
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr: SocketAddr = listener.local_addr().expect("addr");
        let app = Router::new()
            .route("/health", get(|| async { "ok" }))
            .route("/v1/models", get(models))
            .route("/server_info", get(|| async { axum::Json(json!({})) }))
            .route("/flush_cache", post(flush))
            .route("/generate", post(generate))
            .route("/v1/completions", post(completions))
            .route("/v1/chat/completions", post(chat))
            .with_state(st.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                use axum::serve::ListenerExt;
                let l = tokio::net::TcpListener::from_std(listener).expect("listener");
                // Nagle off, as uvicorn does: small SSE writes leave at once.
                let l = l.tap_io(|tcp| {
                    let _ = tcp.set_nodelay(true);
                });
                axum::serve(l, app).await.expect("serve");
            });
        });
        TestServer {
            base_url: format!("http://{addr}"),
            st,
        }
    }

    /// Finished requests, in finishing order.
    pub fn trace(&self) -> Vec<Trace> {
        self.st.trace.lock().expect("lock").clone()
    }

    pub fn max_in_flight(&self) -> usize {
        self.st.max_in_flight.load(Ordering::SeqCst)
    }

    pub fn flushes(&self) -> usize {
        self.st.flushes.load(Ordering::SeqCst)
    }
}

async fn models() -> axum::Json<Value> {
    axum::Json(json!({"object": "list", "data": [{"id": "tiny", "object": "model"}]}))
}

async fn flush(State(st): State<Arc<St>>) -> &'static str {
    st.flushes.fetch_add(1, Ordering::SeqCst);
    "ok"
}

#[derive(Clone, Copy, PartialEq)]
enum Api {
    Generate,
    Completions,
    Chat,
}

async fn generate(State(st): State<Arc<St>>, body: Bytes) -> Response {
    start(st, body, Api::Generate)
}
async fn completions(State(st): State<Arc<St>>, body: Bytes) -> Response {
    start(st, body, Api::Completions)
}
async fn chat(State(st): State<Arc<St>>, body: Bytes) -> Response {
    start(st, body, Api::Chat)
}

fn start(st: Arc<St>, body: Bytes, api: Api) -> Response {
    let arrival = Instant::now();
    let n = st.next.fetch_add(1, Ordering::SeqCst);
    if let Some(code) = st.cfg.fail_status {
        let code = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return (code, "simulated failure").into_response();
    }
    let Ok(req) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "bad json").into_response();
    };
    let max_new = [
        "/sampling_params/max_new_tokens",
        "/max_tokens",
        "/max_completion_tokens",
    ]
    .iter()
    .find_map(|p| req.pointer(p).and_then(Value::as_u64))
    .unwrap_or(16);
    let prompt_len = ["/input_ids", "/prompt"]
        .iter()
        .find_map(|p| {
            req.pointer(p)
                .and_then(Value::as_array)
                .map(|a| a.len() as u64)
        })
        .unwrap_or(8);
    let now = st.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    st.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let (tx, ch) = Channel::<Bytes>::new(64);
    tokio::spawn(emit(st, n, api, arrival, prompt_len, max_new, tx));
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(Body::new(ch))
        .expect("response")
}

fn chunk(api: Api, n: usize, k: u64, prompt_len: u64, max_new: u64) -> String {
    let last = k == max_new;
    match api {
        Api::Generate => {
            let text = "tok ".repeat(k as usize);
            let finish = if last {
                json!({"type": "length", "length": max_new})
            } else {
                Value::Null
            };
            // SGLang's field order and shape: cumulative `text` and
            // `output_ids`, then `meta_info` (orjson, compact).
            let ids: Vec<u64> = (0..k).map(|i| 1000 + i % 30000).collect();
            let meta = json!({"id": format!("r{n}"), "finish_reason": finish, "prompt_tokens": prompt_len,
                "completion_tokens": k, "cached_tokens": 0});
            format!(
                "data: {{\"text\":{},\"output_ids\":{},\"meta_info\":{meta}}}\n\n",
                json!(text),
                json!(ids)
            )
        }
        Api::Completions => {
            let finish = if last { json!("length") } else { Value::Null };
            let v = json!({"id": format!("r{n}"), "object": "text_completion", "created": 0, "model": "tiny",
                "choices": [{"index": 0, "text": "tok ", "logprobs": null, "finish_reason": finish}], "usage": null});
            format!("data: {v}\n\n")
        }
        Api::Chat => {
            let finish = if last { json!("length") } else { Value::Null };
            let v = json!({"id": format!("r{n}"), "object": "chat.completion.chunk", "created": 0, "model": "tiny",
                "choices": [{"index": 0, "delta": {"role": "assistant", "content": "tok "}, "finish_reason": finish}], "usage": null});
            format!("data: {v}\n\n")
        }
    }
}

fn usage(api: Api, n: usize, prompt_len: u64, max_new: u64) -> Option<String> {
    let object = match api {
        Api::Generate => return None,
        Api::Completions => "text_completion",
        Api::Chat => "chat.completion.chunk",
    };
    let v = json!({"id": format!("r{n}"), "object": object, "created": 0, "model": "tiny", "choices": [],
        "usage": {"prompt_tokens": prompt_len, "completion_tokens": max_new, "total_tokens": prompt_len + max_new}});
    Some(format!("data: {v}\n\n"))
}

async fn emit(
    st: Arc<St>,
    n: usize,
    api: Api,
    arrival: Instant,
    prompt_len: u64,
    max_new: u64,
    mut tx: Sender<Bytes>,
) {
    let cfg = st.cfg.clone();
    let mut due = arrival + cfg.ttft_base + Duration::from_millis((n % 5) as u64);
    let mut emits = Vec::with_capacity(max_new as usize);
    let garbage = cfg.garbage_every.is_some_and(|k| n % k == 1);
    for k in 1..=max_new {
        if !cfg.unthrottled {
            tokio::time::sleep_until(due.into()).await;
        }
        if garbage && k == 2 {
            let _ = tx
                .send_data(Bytes::from_static(b"data: {not json\n\n"))
                .await;
            break;
        }
        let bytes = Bytes::from(chunk(api, n, k, prompt_len, max_new));
        emits.push(st.epoch.elapsed().as_micros() as u64);
        if tx.send_data(bytes).await.is_err() {
            break;
        }
        due += cfg.itl_base + Duration::from_millis(k % 3);
    }
    if let Some(u) = usage(api, n, prompt_len, max_new) {
        let _ = tx.send_data(Bytes::from(u)).await;
    }
    let _ = tx.send_data(Bytes::from_static(b"data: [DONE]\n\n")).await;
    drop(tx);
    st.in_flight.fetch_sub(1, Ordering::SeqCst);
    let arrival_us = arrival.duration_since(st.epoch).as_micros() as u64;
    st.trace.lock().expect("lock").push(Trace {
        arrival_us,
        emit_us: emits,
        prompt_len,
    });
}

/// Parse a JSON line written Python-style (`Infinity`, `NaN` → null).
pub fn parse_py_json(line: &str) -> Value {
    let fixed = line
        .replace(": Infinity", ": null")
        .replace(": -Infinity", ": null")
        .replace(": NaN", ": null");
    serde_json::from_str(&fixed).expect("valid JSON line")
}

/// numpy-style percentile (linear) of unsorted data.
pub fn percentile(xs: &[f64], p: f64) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let h = (v.len() - 1) as f64 * p / 100.0;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(v.len() - 1);
    v[lo] + (h - lo as f64) * (v[hi] - v[lo])
}
