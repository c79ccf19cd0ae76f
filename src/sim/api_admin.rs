//! Health, info, cache, profiling and the simulator's own ground-truth
//! endpoints.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::state::{AppState, Kind};
use super::stats::Stats;

/// `/health` and `/health_generate`: 503 while loading; once up, one token
/// through the scheduler (like SGLang's health check), then 200.
pub async fn health(State(state): State<Arc<AppState>>) -> Response {
    match state.start(&[1], 1, Kind::Health, None).await {
        Ok(mut run) => {
            run.finish().await;
            StatusCode::OK.into_response()
        }
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

pub async fn model_info(State(state): State<Arc<AppState>>) -> Response {
    Json(json!({
        "model_path": state.args.model_path,
        "tokenizer_path": state.args.model_path,
        "is_generation": true,
        "preferred_sampling_params": null,
        "weight_version": "default",
        "has_image_understanding": false,
        "has_audio_understanding": false,
        "model_type": state.model.model_type(),
        "architectures": [state.model.architecture],
    }))
    .into_response()
}

/// Server args like SGLang's, plus `max_total_num_tokens`, the derived
/// deployment, and `"simulated": true` with the simulator's own settings.
pub async fn server_info(State(state): State<Arc<AppState>>) -> Response {
    state.noise.next_run();
    let mut info = serde_json::to_value(&state.args).unwrap_or_else(|_| json!({}));
    let d = &state.deployment;
    if let Some(map) = info.as_object_mut() {
        map.insert("max_total_num_tokens".into(), json!(d.max_total_num_tokens));
        map.insert("max_running_requests".into(), json!(d.max_running_requests));
        map.insert("context_length".into(), json!(d.context_len));
        map.insert("version".into(), json!("0.5.23"));
        map.insert("simulated".into(), json!(true));
        map.insert(
            "sim".into(),
            json!({
                "gpu": d.gpu,
                "n_gpus": d.n_gpus,
                "seed": state.args.sim_seed,
                "step_overhead_ms": state.args.sim_step_overhead_ms,
                "noise": state.noise.args(),
                "time_scale": state.clock.scale,
                "faults": state.faults,
                "deployment": d,
                "ignored_flags": state.args.ignored,
            }),
        );
    }
    Json(info).into_response()
}

/// The simulator has no prefix cache, so flushing only counts and logs.
pub async fn flush_cache(State(state): State<Arc<AppState>>) -> Response {
    Stats::add(&state.stats.flushes, 1);
    state.noise.next_run();
    state.log.info("Cache flushed successfully!");
    (
        StatusCode::OK,
        "Cache flushed.\nPlease check backend logs for more details. (When there are running or waiting requests, the operation will not be performed.)\n",
    )
        .into_response()
}

/// `/start_profile`: with `CUDA_PROFILER` in `activities`, log where SGLang
/// would call `cudaProfilerStart` (an nsys capture range opens there).
pub async fn start_profile(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    let req: serde_json::Value = serde_json::from_slice(&body).unwrap_or(json!({}));
    let cuda = req
        .get("activities")
        .and_then(|a| a.as_array())
        .is_some_and(|a| a.iter().any(|v| v == "CUDA_PROFILER"));
    if cuda {
        state
            .log
            .info("CUDA Profiler started (cudaProfilerStart; simulated)");
    }
    state.log.info("Profiling starts.");
    (StatusCode::OK, "Start profiling.\n").into_response()
}

pub async fn stop_profile(State(state): State<Arc<AppState>>) -> Response {
    state
        .log
        .info("CUDA Profiler stopped (cudaProfilerStop; simulated)");
    state.log.info("Profiling done.");
    (
        StatusCode::OK,
        "Stop profiling. This will take some time.\n",
    )
        .into_response()
}

/// `GET /sim/trace`: every finished sequence's timestamps.
pub async fn trace(State(state): State<Arc<AppState>>) -> Response {
    Json(json!({
        "time_scale": state.clock.scale,
        "requests": state.trace.snapshot(),
    }))
    .into_response()
}

/// `GET /sim/stats`: counters, plus readiness and the hang flag.
pub async fn stats(State(state): State<Arc<AppState>>) -> Response {
    let mut v = serde_json::to_value(state.stats.snapshot()).unwrap_or_else(|_| json!({}));
    if let Some(map) = v.as_object_mut() {
        map.insert("ready".into(), json!(state.is_ready()));
        map.insert("hung".into(), json!(state.hung.load(Ordering::Relaxed)));
    }
    Json(v).into_response()
}
