//! SGLang's native `POST /generate`.
//!
//! Input: `text` (string or list) or `input_ids` (list or list of lists),
//! `sampling_params.max_new_tokens` (default 128), `stream`. Output: one
//! object (a list for batched input) with `text` and `meta_info`; streaming
//! sends the same object per token with cumulative `text`.

use std::sync::Arc;

use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::generation::{Generation, SubSeq};
use super::sse::{self, Render};
use super::state::{ApiError, AppState, Arrival, Kind};
use super::tokens;

#[derive(Debug, Deserialize)]
struct GenerateReq {
    text: Option<TextInput>,
    input_ids: Option<IdsInput>,
    #[serde(default)]
    sampling_params: SamplingParams,
    #[serde(default)]
    stream: bool,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum TextInput {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum IdsInput {
    One(Vec<u64>),
    Many(Vec<Vec<u64>>),
}

#[derive(Debug, Default, Deserialize)]
struct SamplingParams {
    max_new_tokens: Option<u64>,
}

/// Prompt token counts and whether the input was a batch.
fn prompts(req: &GenerateReq) -> Result<(Vec<u64>, bool), ApiError> {
    match (&req.text, &req.input_ids) {
        (Some(TextInput::One(t)), None) => Ok((vec![tokens::count_text(t)], false)),
        (Some(TextInput::Many(ts)), None) => {
            Ok((ts.iter().map(|t| tokens::count_text(t)).collect(), true))
        }
        (None, Some(IdsInput::One(ids))) => Ok((vec![ids.len() as u64], false)),
        (None, Some(IdsInput::Many(b))) => {
            Ok((b.iter().map(|ids| ids.len() as u64).collect(), true))
        }
        (Some(_), Some(_)) => Err(ApiError::BadRequest(
            "Either text or input_ids should be provided, not both.".into(),
        )),
        (None, None) => Err(ApiError::BadRequest(
            "Either text or input_ids should be provided.".into(),
        )),
    }
}

pub async fn generate(
    State(state): State<Arc<AppState>>,
    arrival: Option<Extension<Arrival>>,
    body: Bytes,
) -> Response {
    match handle(state, arrival.map(|a| a.0), &body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn handle(
    state: Arc<AppState>,
    arrival: Option<Arrival>,
    body: &[u8],
) -> Result<Response, ApiError> {
    let req: GenerateReq = serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("invalid request body: {e}")))?;
    let (prompts, batched) = prompts(&req)?;
    let max_new = req.sampling_params.max_new_tokens.unwrap_or(128).max(1);
    let mut run = state
        .start(&prompts, max_new, Kind::Client("/generate"), arrival)
        .await?;
    if req.stream {
        return Ok(sse::respond(run, Chunks { batched }));
    }
    run.finish().await;
    let outs: Vec<Out> = run.subs.iter().map(|s| Out::of(s, None)).collect();
    Ok(match (batched, outs.len()) {
        (false, 1) => Json(&outs[0]).into_response(),
        _ => Json(&outs).into_response(),
    })
}

#[derive(Serialize)]
struct Out<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    index: Option<usize>,
    text: &'a str,
    meta_info: Meta<'a>,
}

#[derive(Serialize)]
struct Meta<'a> {
    id: &'a str,
    finish_reason: Option<Finish>,
    prompt_tokens: u64,
    weight_version: &'static str,
    total_retractions: u64,
    completion_tokens: u64,
    cached_tokens: u64,
    e2e_latency: f64,
}

#[derive(Serialize)]
struct Finish {
    #[serde(rename = "type")]
    kind: &'static str,
    length: u64,
}

impl<'a> Out<'a> {
    /// Text after a leading space is trimmed, as a tokenizer decode would.
    fn of(s: &'a SubSeq, index: Option<usize>) -> Self {
        Out {
            index,
            text: s.text.strip_prefix(' ').unwrap_or(&s.text),
            meta_info: Meta {
                id: &s.rid,
                finish_reason: s.finished.then_some(Finish {
                    kind: "length",
                    length: s.completion_tokens,
                }),
                prompt_tokens: s.prompt_tokens,
                weight_version: "default",
                total_retractions: 0,
                completion_tokens: s.completion_tokens,
                cached_tokens: 0,
                e2e_latency: s.sim_latency(),
            },
        }
    }
}

struct Chunks {
    batched: bool,
}

impl Render for Chunks {
    fn token(&mut self, run: &Generation, sub: usize, out: &mut Vec<u8>) {
        let index = self.batched.then_some(sub);
        sse::write_json(out, &Out::of(&run.subs[sub], index));
    }
}
