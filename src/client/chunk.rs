//! Decode one streamed JSON chunk (or a whole non-streamed response) of each
//! API into the few numbers the client needs. Strings borrow from the input
//! buffer (`Cow`), so a chunk costs no allocation unless it has escapes.

use std::borrow::Cow;

use serde::Deserialize;

use super::args::Api;

/// What a chunk tells the client.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ChunkInfo {
    /// The chunk carries generated text (SGLang's `if text:` test).
    pub has_content: bool,
    /// Cumulative completion tokens, when the server says.
    pub completion_tokens: Option<u32>,
    /// Prompt tokens, when the server says.
    pub prompt_tokens: Option<u32>,
    /// The server put an error object in the stream.
    pub error: Option<String>,
}

#[derive(Deserialize)]
struct GenerateChunk<'a> {
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
    #[serde(default)]
    meta_info: Option<Usage>,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

#[derive(Deserialize, Default)]
struct Usage {
    #[serde(default)]
    completion_tokens: Option<u32>,
    #[serde(default)]
    prompt_tokens: Option<u32>,
}

#[derive(Deserialize)]
struct OaiChunk<'a> {
    #[serde(borrow, default)]
    choices: Vec<OaiChoice<'a>>,
    #[serde(default)]
    usage: Option<Usage>,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct OaiChoice<'a> {
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    delta: Option<OaiMessage<'a>>,
    #[serde(borrow, default)]
    message: Option<OaiMessage<'a>>,
}

#[derive(Deserialize)]
struct OaiMessage<'a> {
    #[serde(borrow, default)]
    content: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    reasoning_content: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    reasoning: Option<Cow<'a, str>>,
}

fn non_empty(s: &Option<Cow<'_, str>>) -> bool {
    s.as_deref().is_some_and(|t| !t.is_empty())
}

/// Parse one JSON payload of `api`. `Err` means the bytes are not a chunk of
/// that API (malformed stream).
pub fn parse(api: Api, json: &[u8]) -> Result<ChunkInfo, serde_json::Error> {
    match api {
        Api::Generate => {
            let c: GenerateChunk<'_> = serde_json::from_slice(json)?;
            let usage = c.meta_info.unwrap_or_default();
            Ok(ChunkInfo {
                has_content: non_empty(&c.text),
                completion_tokens: usage.completion_tokens,
                prompt_tokens: usage.prompt_tokens,
                error: c.error.map(|e| e.to_string()),
            })
        }
        Api::Completions | Api::Chat => {
            let c: OaiChunk<'_> = serde_json::from_slice(json)?;
            let usage = c.usage.unwrap_or_default();
            let has_content = c.choices.first().is_some_and(|ch| {
                non_empty(&ch.text)
                    || [&ch.delta, &ch.message].into_iter().flatten().any(|m| {
                        non_empty(&m.content)
                            || non_empty(&m.reasoning_content)
                            || non_empty(&m.reasoning)
                    })
            });
            Ok(ChunkInfo {
                has_content,
                completion_tokens: usage.completion_tokens,
                prompt_tokens: usage.prompt_tokens,
                error: c.error.map(|e| e.to_string()),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generate_chunk() {
        let j = br#"{"text":"ab","meta_info":{"id":"x","prompt_tokens":4,"completion_tokens":2,"finish_reason":null}}"#;
        let c = parse(Api::Generate, j).unwrap();
        assert!(c.has_content);
        assert_eq!(c.completion_tokens, Some(2));
        assert_eq!(c.prompt_tokens, Some(4));
    }

    #[test]
    fn openai_usage_chunk_has_no_content() {
        let j = br#"{"id":"1","object":"text_completion","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":7,"total_tokens":10}}"#;
        let c = parse(Api::Completions, j).unwrap();
        assert!(!c.has_content);
        assert_eq!(c.completion_tokens, Some(7));
    }

    #[test]
    fn chat_delta_content() {
        let j = br#"{"choices":[{"index":0,"delta":{"content":"hi \"x\""},"finish_reason":null}],"usage":null}"#;
        assert!(parse(Api::Chat, j).unwrap().has_content);
    }

    #[test]
    fn wrong_shape_is_an_error() {
        assert!(parse(Api::Completions, b"[1,2]").is_err());
    }
}
