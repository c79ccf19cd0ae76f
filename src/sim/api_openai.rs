//! OpenAI-compatible `POST /v1/completions`, `POST /v1/chat/completions`
//! and `GET /v1/models`, shaped like SGLang's responses.

use std::sync::Arc;

use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::generation::Generation;
use super::sse::{self, Render};
use super::state::{ApiError, AppState, Arrival, Kind};
use super::tokens;

#[derive(Debug, Deserialize)]
struct CompletionReq {
    prompt: PromptInput,
    max_tokens: Option<u64>,
    #[serde(default)]
    stream: bool,
    stream_options: Option<StreamOptions>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum PromptInput {
    Text(String),
    Texts(Vec<String>),
    Ids(Vec<u64>),
    IdBatch(Vec<Vec<u64>>),
}

#[derive(Debug, Default, Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: bool,
}

#[derive(Debug, Deserialize)]
struct ChatReq {
    messages: Vec<Message>,
    max_tokens: Option<u64>,
    max_completion_tokens: Option<u64>,
    #[serde(default)]
    stream: bool,
    stream_options: Option<StreamOptions>,
}

#[derive(Debug, Deserialize)]
struct Message {
    #[serde(default)]
    content: Content,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Parts(Vec<serde_json::Value>),
}

impl Default for Content {
    fn default() -> Self {
        Content::Text(String::new())
    }
}

impl Content {
    fn tokens(&self) -> u64 {
        match self {
            Content::Text(t) => tokens::count_text(t),
            Content::Parts(parts) => parts
                .iter()
                .filter_map(|p| p.get("text").and_then(|t| t.as_str()))
                .map(tokens::count_text)
                .sum(),
        }
    }
}

/// Chat-template overhead: role markers and separators per message.
const TOKENS_PER_MESSAGE: u64 = 4;

fn prompt_tokens(p: &PromptInput) -> Vec<u64> {
    match p {
        PromptInput::Text(t) => vec![tokens::count_text(t)],
        PromptInput::Texts(ts) => ts.iter().map(|t| tokens::count_text(t)).collect(),
        PromptInput::Ids(ids) => vec![ids.len() as u64],
        PromptInput::IdBatch(b) => b.iter().map(|ids| ids.len() as u64).collect(),
    }
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("invalid request body: {e}")))
}

pub async fn completions(
    State(state): State<Arc<AppState>>,
    arrival: Option<Extension<Arrival>>,
    body: Bytes,
) -> Response {
    completions_run(state, arrival.map(|a| a.0), &body)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn completions_run(
    state: Arc<AppState>,
    arrival: Option<Arrival>,
    body: &[u8],
) -> Result<Response, ApiError> {
    let req: CompletionReq = parse(body)?;
    let max_new = req.max_tokens.unwrap_or(16).max(1);
    let prompts = prompt_tokens(&req.prompt);
    let mut run = state
        .start(&prompts, max_new, Kind::Client("/v1/completions"), arrival)
        .await?;
    let usage = req.stream_options.unwrap_or_default().include_usage;
    if req.stream {
        return Ok(sse::respond(run, OaiChunks { chat: false, usage }));
    }
    run.finish().await;
    let choices: Vec<_> = run
        .subs
        .iter()
        .enumerate()
        .map(|(i, s)| json!({"index": i, "text": s.text, "logprobs": null, "finish_reason": "length", "matched_stop": null}))
        .collect();
    Ok(Json(envelope(&run, "text_completion", choices, true)).into_response())
}

pub async fn chat(
    State(state): State<Arc<AppState>>,
    arrival: Option<Extension<Arrival>>,
    body: Bytes,
) -> Response {
    chat_run(state, arrival.map(|a| a.0), &body)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn chat_run(
    state: Arc<AppState>,
    arrival: Option<Arrival>,
    body: &[u8],
) -> Result<Response, ApiError> {
    let req: ChatReq = parse(body)?;
    let max_new = req
        .max_completion_tokens
        .or(req.max_tokens)
        .unwrap_or(128)
        .max(1);
    let prompt: u64 = req
        .messages
        .iter()
        .map(|m| m.content.tokens() + TOKENS_PER_MESSAGE)
        .sum();
    let mut run = state
        .start(
            &[prompt],
            max_new,
            Kind::Client("/v1/chat/completions"),
            arrival,
        )
        .await?;
    let usage = req.stream_options.unwrap_or_default().include_usage;
    if req.stream {
        return Ok(sse::respond(run, OaiChunks { chat: true, usage }));
    }
    run.finish().await;
    let text = run
        .subs
        .first()
        .map(|s| s.text.trim_start().to_string())
        .unwrap_or_default();
    let choices = vec![json!({
        "index": 0,
        "message": {"role": "assistant", "content": text, "reasoning_content": null, "tool_calls": null},
        "logprobs": null, "finish_reason": "length", "matched_stop": null,
    })];
    Ok(Json(envelope(&run, "chat.completion", choices, true)).into_response())
}

fn usage(run: &Generation) -> serde_json::Value {
    let (p, c) = (run.prompt_tokens(), run.completion_tokens());
    json!({"prompt_tokens": p, "total_tokens": p + c, "completion_tokens": c, "prompt_tokens_details": null})
}

fn envelope(
    run: &Generation,
    object: &str,
    choices: Vec<serde_json::Value>,
    with_usage: bool,
) -> serde_json::Value {
    let st = run.state();
    json!({
        "id": run.subs.first().map(|s| s.rid.as_str()).unwrap_or(""),
        "object": object,
        "created": st.created,
        "model": st.args.served_model_name,
        "choices": choices,
        "usage": if with_usage { usage(run) } else { serde_json::Value::Null },
    })
}

struct OaiChunks {
    chat: bool,
    usage: bool,
}

#[derive(Serialize)]
struct Chunk<'a, C> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: [C; 1],
    usage: Option<()>,
}

#[derive(Serialize)]
struct TextChoice<'a> {
    index: usize,
    text: &'a str,
    logprobs: Option<()>,
    finish_reason: Option<&'static str>,
    matched_stop: Option<()>,
}

#[derive(Serialize)]
struct ChatChoice<'a> {
    index: usize,
    delta: Delta<'a>,
    logprobs: Option<()>,
    finish_reason: Option<&'static str>,
}

#[derive(Serialize)]
struct Delta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    content: &'a str,
}

impl Render for OaiChunks {
    fn token(&mut self, run: &Generation, sub: usize, out: &mut Vec<u8>) {
        let st = run.state();
        let s = &run.subs[sub];
        let finish_reason = s.finished.then_some("length");
        let (id, model, created) = (
            s.rid.as_str(),
            st.args.served_model_name.as_str(),
            st.created,
        );
        if self.chat {
            let first = s.completion_tokens == 1;
            let content = if first {
                s.delta().trim_start()
            } else {
                s.delta()
            };
            let choice = ChatChoice {
                index: sub,
                delta: Delta {
                    role: first.then_some("assistant"),
                    content,
                },
                logprobs: None,
                finish_reason,
            };
            let chunk = Chunk {
                id,
                object: "chat.completion.chunk",
                created,
                model,
                choices: [choice],
                usage: None,
            };
            sse::write_json(out, &chunk);
        } else {
            let choice = TextChoice {
                index: sub,
                text: s.delta(),
                logprobs: None,
                finish_reason,
                matched_stop: None,
            };
            let chunk = Chunk {
                id,
                object: "text_completion",
                created,
                model,
                choices: [choice],
                usage: None,
            };
            sse::write_json(out, &chunk);
        }
    }

    fn trailer(&mut self, run: &Generation, out: &mut Vec<Vec<u8>>) {
        if !self.usage {
            return;
        }
        let object = if self.chat {
            "chat.completion.chunk"
        } else {
            "text_completion"
        };
        let mut buf = Vec::new();
        sse::write_json(&mut buf, &envelope(run, object, Vec::new(), true));
        out.push(buf);
    }
}

pub async fn models(State(state): State<Arc<AppState>>) -> Response {
    let name = &state.args.served_model_name;
    Json(json!({
        "object": "list",
        "data": [{
            "id": name, "object": "model", "created": state.created, "owned_by": "sglang",
            "root": name, "parent": null, "max_model_len": state.deployment.context_len,
        }],
    }))
    .into_response()
}
