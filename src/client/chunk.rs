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
    /// OpenAI APIs: the chunk carries a choice, i.e. new tokens, even when
    /// their text is still empty (an incomplete UTF-8 sequence held back).
    pub has_choice: bool,
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
            if let Some(info) = generate_fast(json) {
                return Ok(info);
            }
            let c: GenerateChunk<'_> = serde_json::from_slice(json)?;
            let usage = c.meta_info.unwrap_or_default();
            Ok(ChunkInfo {
                has_content: non_empty(&c.text),
                has_choice: false,
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
                has_choice: !c.choices.is_empty(),
                completion_tokens: usage.completion_tokens,
                prompt_tokens: usage.prompt_tokens,
                error: c.error.map(|e| e.to_string()),
            })
        }
    }
}

/// `/generate` chunk without decoding its growing fields. SGLang resends the
/// whole `text` and `output_ids` in every chunk, so a full parse (UTF-8
/// check, escape decoding, one integer per id) is O(n) per chunk and O(n²)
/// per stream. Here the top-level object is walked key by key: `text` is
/// skipped with `memchr2` (only its emptiness matters), `output_ids` with
/// `memchr`, and every other value (`meta_info`, `error`, …) still goes
/// through serde_json, fully validated. `None` on anything unexpected: the
/// caller then does the full parse, which yields the same answer or the
/// proper error. Not checked in the two skipped fields: UTF-8 validity and
/// raw control characters inside `text`, the digits inside `output_ids`.
fn generate_fast(json: &[u8]) -> Option<ChunkInfo> {
    let mut info = ChunkInfo::default();
    let mut i = skip_ws(json, 0);
    if json.get(i) != Some(&b'{') {
        return None;
    }
    i = skip_ws(json, i + 1);
    if json.get(i) == Some(&b'}') {
        return (skip_ws(json, i + 1) == json.len()).then_some(info);
    }
    let (mut seen_text, mut seen_meta, mut seen_error) = (false, false, false);
    loop {
        // key
        if json.get(i) != Some(&b'"') {
            return None;
        }
        let kend = string_end(json, i + 1)?;
        let key = &json[i + 1..kend];
        i = skip_ws(json, kend + 1);
        if json.get(i) != Some(&b':') {
            return None;
        }
        i = skip_ws(json, i + 1);
        match key {
            b"text" => {
                if std::mem::replace(&mut seen_text, true) {
                    return None;
                }
                match json.get(i)? {
                    b'"' => {
                        let end = string_end(json, i + 1)?;
                        info.has_content = end > i + 1;
                        i = end + 1;
                    }
                    b'n' if json[i..].starts_with(b"null") => i += 4,
                    _ => return None,
                }
            }
            b"output_ids" if json.get(i) == Some(&b'[') => {
                let close = i + 1 + memchr::memchr(b']', &json[i + 1..])?;
                if memchr::memchr3(b'[', b'{', b'"', &json[i + 1..close]).is_some() {
                    return None;
                }
                i = close + 1;
            }
            b"meta_info" => {
                if std::mem::replace(&mut seen_meta, true) {
                    return None;
                }
                let (usage, n) = one_value::<Option<Usage>>(&json[i..])?;
                let usage = usage.unwrap_or_default();
                info.completion_tokens = usage.completion_tokens;
                info.prompt_tokens = usage.prompt_tokens;
                i += n;
            }
            b"error" => {
                if std::mem::replace(&mut seen_error, true) {
                    return None;
                }
                let (e, n) = one_value::<Option<serde_json::Value>>(&json[i..])?;
                info.error = e.map(|e| e.to_string());
                i += n;
            }
            k if memchr::memchr(b'\\', k).is_some() => return None,
            _ => {
                let (_, n) = one_value::<serde::de::IgnoredAny>(&json[i..])?;
                i += n;
            }
        }
        i = skip_ws(json, i);
        match json.get(i)? {
            b',' => i = skip_ws(json, i + 1),
            b'}' => break,
            _ => return None,
        }
    }
    (skip_ws(json, i + 1) == json.len()).then_some(info)
}

/// Deserialize the one JSON value at the start of `s`; its length in bytes.
fn one_value<'de, T: Deserialize<'de>>(s: &'de [u8]) -> Option<(T, usize)> {
    let mut it = serde_json::Deserializer::from_slice(s).into_iter::<T>();
    let v = it.next()?.ok()?;
    Some((v, it.byte_offset()))
}

/// Index of the closing quote of the string whose body starts at `i`.
fn string_end(s: &[u8], mut i: usize) -> Option<usize> {
    loop {
        i += memchr::memchr2(b'"', b'\\', &s[i..])?;
        if s[i] == b'"' {
            return Some(i);
        }
        i += 2; // backslash and the escaped byte
        if i > s.len() {
            return None;
        }
    }
}

fn skip_ws(s: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = s.get(i) {
        i += 1;
    }
    i
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

    /// The fast `/generate` path agrees with the full parse on every shape.
    #[test]
    fn generate_fast_matches_full_parse() {
        let cases: &[&[u8]] = &[
            br#"{"text":"tok tok ","output_ids":[1,2],"meta_info":{"id":"r","finish_reason":null,"prompt_tokens":3,"completion_tokens":2}}"#,
            br#"{ "meta_info" : { "completion_tokens" : 7 } , "text" : "a\"b\\" }"#,
            br#"{"text":"","meta_info":{"completion_tokens":1}}"#,
            br#"{"text":null,"meta_info":null}"#,
            br#"{"error":{"message":"boom","code":500}}"#,
            br#"{"text":"x","output_ids":[[1]],"meta_info":{}}"#,
            br#"{"text":"x","other":{"a":[1,"]"]},"meta_info":{"prompt_tokens":2}}"#,
            br#"{}"#,
        ];
        for &j in cases {
            let full: GenerateChunk<'_> = serde_json::from_slice(j)
                .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(j)));
            let usage = full.meta_info.unwrap_or_default();
            let want = ChunkInfo {
                has_content: non_empty(&full.text),
                has_choice: false,
                completion_tokens: usage.completion_tokens,
                prompt_tokens: usage.prompt_tokens,
                error: full.error.map(|e| e.to_string()),
            };
            assert_eq!(
                parse(Api::Generate, j).unwrap(),
                want,
                "{}",
                String::from_utf8_lossy(j)
            );
        }
        for bad in [
            &b"{not json"[..],
            b"{\"text\":\"ab",
            b"{\"text\":1}",
            b"[1]",
            b"{\"text\":\"a\"} x",
        ] {
            assert!(
                parse(Api::Generate, bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
            assert!(generate_fast(bad).is_none());
        }
    }

    #[test]
    fn wrong_shape_is_an_error() {
        assert!(parse(Api::Completions, b"[1,2]").is_err());
    }
}
