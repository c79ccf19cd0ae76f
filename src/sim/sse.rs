//! Server-sent events: one `data: {json}\n\n` write per token per request,
//! then the endpoint's trailer chunks and `data: [DONE]`.

use std::convert::Infallible;

use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::generation::Generation;

/// How an endpoint renders its stream chunks.
pub trait Render: Send + 'static {
    /// The JSON payload for the token just received by sequence `sub`.
    fn token(&mut self, run: &Generation, sub: usize, out: &mut Vec<u8>);
    /// Payloads after the last token (e.g. OpenAI's usage chunk).
    fn trailer(&mut self, _run: &Generation, _out: &mut Vec<Vec<u8>>) {}
}

struct Driver<R> {
    run: Generation,
    render: R,
    done: bool,
}

/// Stream a generation as an SSE response.
pub fn respond<R: Render>(run: Generation, render: R) -> Response {
    let driver = Driver {
        run,
        render,
        done: false,
    };
    let stream = futures_util::stream::unfold(driver, |mut d| async move {
        if d.done {
            return None;
        }
        let bytes = match d.run.next().await {
            Some(sub) => {
                let mut buf = Vec::with_capacity(256);
                buf.extend_from_slice(b"data: ");
                d.render.token(&d.run, sub, &mut buf);
                buf.extend_from_slice(b"\n\n");
                buf
            }
            None => {
                d.done = true;
                let mut extra = Vec::new();
                d.render.trailer(&d.run, &mut extra);
                let mut out = Vec::new();
                for json in extra {
                    out.extend_from_slice(&frame(&json));
                }
                out.extend_from_slice(b"data: [DONE]\n\n");
                out
            }
        };
        Some((Ok::<_, Infallible>(Bytes::from(bytes)), d))
    });
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

fn frame(json: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(json.len() + 8);
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(json);
    out.extend_from_slice(b"\n\n");
    out
}

/// Serialize into `out`; our payload types always serialize.
pub fn write_json<T: serde::Serialize>(out: &mut Vec<u8>, value: &T) {
    if serde_json::to_writer(&mut *out, value).is_err() {
        out.extend_from_slice(b"{}");
    }
}
