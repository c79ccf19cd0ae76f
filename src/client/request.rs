//! Send one request and time its stream.
//!
//! Every HTTP chunk is stamped once, when it is decoded; all SSE events in
//! it share that stamp. A chunk counts as a token event when it carries text
//! (SGLang's test); for `/generate`, a chunk whose `completion_tokens` did
//! not grow is skipped without moving the last-token time, as SGLang does.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::args::Api;
use super::body::BodyError;
use super::chunk::{self, ChunkInfo};
use super::deadline;
use super::http::{Body, Endpoint, Http};
use super::record::{ErrorKind, Failure, RequestRecord};
use super::sse::{Event, LineBuf};

/// Everything shared by the requests of one run.
#[derive(Clone)]
pub struct Sender {
    pub http: Http,
    /// The API endpoint.
    pub endpoint: Endpoint,
    pub api: Api,
    pub stream: bool,
    pub timeout: Duration,
    /// Zero point of every `*_us` field.
    pub epoch: Instant,
    /// OpenAI APIs: time every chunk with a choice and count its tokens
    /// (batch latency needs every decode step), instead of SGLang's
    /// serving semantics (only chunks with non-empty text, no counts).
    pub every_token: bool,
}

/// µs from `since` to now, saturating at `u32::MAX` (71 minutes).
fn us_since(since: Instant) -> u32 {
    since.elapsed().as_micros().min(u32::MAX as u128) as u32
}

fn fail(kind: ErrorKind, message: impl Into<String>) -> Failure {
    Failure {
        kind,
        message: message.into(),
    }
}

/// A broken connection or bad HTTP framing in a response body fails the
/// request as a transport error (as hyper's body errors did).
impl From<BodyError> for Failure {
    fn from(e: BodyError) -> Failure {
        fail(ErrorKind::Transport, e.0)
    }
}

impl Sender {
    /// Send `body` now and record the outcome. `scheduled_us` is when it was
    /// due; `output_len` (requested tokens, 0 if unknown) sizes the per-chunk
    /// vectors once, so a stream does not regrow them token by token.
    pub async fn send(
        &self,
        body: Bytes,
        prompt_len: u32,
        output_len: u32,
        scheduled_us: u64,
    ) -> RequestRecord {
        let sent = Instant::now();
        let mut rec = RequestRecord {
            scheduled_us,
            send_us: sent.duration_since(self.epoch).as_micros() as u64,
            prompt_len,
            ..Default::default()
        };
        if self.stream {
            rec.chunk_us = Vec::with_capacity(output_len as usize);
            if self.api == Api::Generate {
                rec.chunk_tokens = Vec::with_capacity(output_len as usize);
            }
        }
        let outcome = deadline::within(self.timeout, self.exchange(body, sent, &mut rec)).await;
        let result = outcome.unwrap_or_else(|_| {
            Err(fail(
                ErrorKind::Timeout,
                format!("no complete response within {:?}", self.timeout),
            ))
        });
        if let Err(f) = result {
            rec.latency_us = us_since(sent);
            rec.failure = Some(f);
        }
        rec
    }

    async fn exchange(
        &self,
        body: Bytes,
        sent: Instant,
        rec: &mut RequestRecord,
    ) -> Result<(), Failure> {
        let resp = self
            .http
            .post_json(&self.endpoint, &body)
            .await
            .map_err(|e| fail(ErrorKind::Transport, e))?;
        let (status, mut body) = (resp.status, resp.body);
        if status != 200 {
            let text = body.collect().await.unwrap_or_default();
            let msg = String::from_utf8_lossy(&text[..text.len().min(512)]).into_owned();
            return Err(fail(
                ErrorKind::Http(status),
                format!("HTTP {status}: {msg}"),
            ));
        }
        if self.stream {
            self.read_stream(body, sent, rec).await
        } else {
            self.read_whole(body, sent, rec).await
        }
    }

    async fn read_whole(
        &self,
        mut body: Body,
        sent: Instant,
        rec: &mut RequestRecord,
    ) -> Result<(), Failure> {
        let bytes = body
            .collect()
            .await
            .map_err(|e| fail(ErrorKind::Transport, e))?;
        let now = us_since(sent);
        let info = chunk::parse(self.api, &bytes)
            .map_err(|e| fail(ErrorKind::MalformedStream, e.to_string()))?;
        check_error(&info)?;
        rec.latency_us = now;
        rec.chunk_us.push(now);
        if let Some(p) = info.prompt_tokens.filter(|&p| p > 0) {
            rec.prompt_len = p;
        }
        rec.output_len = info.completion_tokens.unwrap_or(1);
        Ok(())
    }

    /// Read the stream as it arrives, every complete SSE event handed to
    /// [`Sender::on_event`] with its HTTP chunk's stamp.
    async fn read_stream(
        &self,
        mut body: Body,
        sent: Instant,
        rec: &mut RequestRecord,
    ) -> Result<(), Failure> {
        let mut lines = LineBuf::default();
        let mut state = StreamState::default();
        // One stamp per HTTP chunk, taken as it is decoded (hyper's client
        // handed each chunk over as a frame, and SGLang's client stamps each
        // chunk it iterates): chunks that came in one read still get the
        // order they were handled in, not one shared instant.
        while body
            .read(|data| {
                let now = us_since(sent);
                lines.feed(data, |ev| self.on_event(ev, now, &mut state, rec))
            })
            .await?
        {}
        if !lines.remainder().is_empty() {
            lines.push(b"\n");
            let now = us_since(sent);
            self.drain(&mut lines, now, &mut state, rec)?;
        }
        rec.latency_us = state.last_line_us;
        rec.output_len = state.completion_tokens.unwrap_or(rec.chunk_us.len() as u32);
        Ok(())
    }

    fn drain(
        &self,
        lines: &mut LineBuf,
        now: u32,
        st: &mut StreamState,
        rec: &mut RequestRecord,
    ) -> Result<(), Failure> {
        while let Some(ev) = lines.next_event() {
            self.on_event(ev, now, st, rec)?;
        }
        Ok(())
    }

    fn on_event(
        &self,
        ev: Event<'_>,
        now: u32,
        st: &mut StreamState,
        rec: &mut RequestRecord,
    ) -> Result<(), Failure> {
        st.last_line_us = now;
        let json = match ev {
            Event::Done => return Ok(()),
            Event::Garbage => {
                return Err(fail(
                    ErrorKind::MalformedStream,
                    "a stream line is not SSE data",
                ));
            }
            Event::Data(j) => j,
        };
        let info = chunk::parse_in_stream(self.api, json, &mut st.meta).map_err(|e| {
            let head = String::from_utf8_lossy(&json[..json.len().min(120)]).into_owned();
            fail(ErrorKind::MalformedStream, format!("{e}: {head}"))
        })?;
        check_error(&info)?;
        self.on_chunk(&info, now, st, rec);
        Ok(())
    }

    fn on_chunk(&self, info: &ChunkInfo, now: u32, st: &mut StreamState, rec: &mut RequestRecord) {
        if let Some(p) = info.prompt_tokens.filter(|&p| p > 0) {
            rec.prompt_len = p;
        }
        if info.completion_tokens.is_some() {
            st.completion_tokens = info.completion_tokens;
        }
        if self.api != Api::Generate && !self.every_token {
            if info.has_content {
                rec.chunk_us.push(now);
            }
            return;
        }
        let counted = match self.api {
            Api::Generate => info.has_content,
            Api::Completions | Api::Chat => info.has_choice,
        };
        if !counted {
            return;
        }
        let tokens = info
            .completion_tokens
            .unwrap_or(rec.chunk_tokens.last().map_or(1, |t| t + 1));
        let grew = rec.chunk_tokens.last().is_none_or(|&last| tokens > last);
        if grew {
            rec.chunk_us.push(now);
            rec.chunk_tokens.push(tokens);
        }
    }
}

/// Per-stream scratch state.
#[derive(Default)]
struct StreamState {
    last_line_us: u32,
    completion_tokens: Option<u32>,
    /// The stream's last `meta_info`, to read the next one cheaply.
    meta: super::meta::Template,
}

fn check_error(info: &ChunkInfo) -> Result<(), Failure> {
    match &info.error {
        Some(e) => Err(fail(
            ErrorKind::StreamError,
            format!("server error in stream: {e}"),
        )),
        None => Ok(()),
    }
}
