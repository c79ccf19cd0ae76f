//! Decode one streamed JSON chunk (or a whole non-streamed response) of each
//! API into the few numbers the client needs. Strings borrow from the input
//! buffer (`Cow`), so a chunk costs no allocation unless it has escapes.

use std::borrow::Cow;

use serde::Deserialize;

use super::args::Api;
use super::meta::Template;
use super::scan;

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

/// The counts of `meta_info` (`/generate`) or `usage` (OpenAI).
#[derive(Deserialize, Default, Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Usage {
    #[serde(default)]
    pub(super) completion_tokens: Option<u32>,
    #[serde(default)]
    pub(super) prompt_tokens: Option<u32>,
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

/// The full serde parse of a `/generate` chunk: the fallback of the fast
/// scan, and the reference its tests compare with.
fn generate_full(json: &[u8]) -> Result<ChunkInfo, serde_json::Error> {
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

/// Parse one JSON payload of `api`. `Err` means the bytes are not a chunk of
/// that API (malformed stream).
pub fn parse(api: Api, json: &[u8]) -> Result<ChunkInfo, serde_json::Error> {
    parse_in_stream(api, json, &mut Template::default())
}

/// [`parse`] for the next chunk of a stream whose earlier `meta_info` is
/// remembered in `meta` (see [`super::meta`]).
pub fn parse_in_stream(
    api: Api,
    json: &[u8],
    meta: &mut Template,
) -> Result<ChunkInfo, serde_json::Error> {
    match api {
        Api::Generate => match generate_fast(json, meta) {
            Some(info) => Ok(info),
            None => generate_full(json),
        },
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
/// `memchr`, `meta_info` is read by [`super::meta`] and unknown keys are
/// checked by the hand-written [`scan`] (no serde: it was ~15% of the
/// client's CPU), and
/// `error` still goes through serde_json. `None` on anything unexpected:
/// the caller then does the full parse, which yields the same answer or
/// the proper error. Not checked in the two skipped fields: UTF-8 validity
/// and raw control characters inside `text`, the digits inside `output_ids`.
fn generate_fast(json: &[u8], meta: &mut Template) -> Option<ChunkInfo> {
    if let Some(info) = sglang_layout(json, meta) {
        return Some(info);
    }
    let mut info = ChunkInfo::default();
    let (mut seen_text, mut seen_meta, mut seen_error) = (false, false, false);
    let end = scan::object(json, scan::ws(json, 0), |json, i, key| match key {
        b"text" if !std::mem::replace(&mut seen_text, true) => {
            let (end, non_empty) = skip_text(json, i)?;
            info.has_content = non_empty;
            Some(end)
        }
        b"output_ids" if json.get(i) == Some(&b'[') => skip_ids(json, i),
        b"meta_info" if !std::mem::replace(&mut seen_meta, true) => {
            let (usage, end) = super::meta::usage(json, i, meta)?;
            info.completion_tokens = usage.completion_tokens;
            info.prompt_tokens = usage.prompt_tokens;
            Some(end)
        }
        b"error" if !std::mem::replace(&mut seen_error, true) => {
            let (e, n) = one_value::<Option<serde_json::Value>>(&json[i..])?;
            info.error = e.map(|e| e.to_string());
            Some(i + n)
        }
        b"text" | b"meta_info" | b"error" => None,
        _ => scan::value(json, i),
    })?;
    (scan::ws(json, end) == json.len()).then_some(info)
}

/// SGLang's own compact layout, `{"text":…,"output_ids":[…],"meta_info":…}`
/// (`output_ids` optional, as the simulator omits it), checked literally
/// instead of key by key: the same values are skipped and read the same
/// way as in the walk of [`generate_fast`], so it accepts nothing the walk
/// would not. Any other layout (whitespace, key order, more keys) is `None`.
fn sglang_layout(json: &[u8], meta: &mut Template) -> Option<ChunkInfo> {
    let at = |i: usize, lit: &[u8]| json.get(i..)?.starts_with(lit).then_some(i + lit.len());
    let (mut i, has_content) = skip_text(json, at(0, br#"{"text":"#)?)?;
    if let Some(ids) = at(i, br#","output_ids":["#) {
        i = skip_ids(json, ids - 1)?;
    }
    let (usage, end) = super::meta::usage(json, at(i, br#","meta_info":"#)?, meta)?;
    (json.get(end..)? == b"}").then_some(ChunkInfo {
        has_content,
        has_choice: false,
        completion_tokens: usage.completion_tokens,
        prompt_tokens: usage.prompt_tokens,
        error: None,
    })
}

/// The `text` value at `i` (a string or `null`), skipped without decoding:
/// the index after it and whether it is non-empty.
fn skip_text(json: &[u8], i: usize) -> Option<(usize, bool)> {
    match json.get(i)? {
        b'"' => {
            let end = string_end(json, i + 1)?;
            Some((end + 1, end > i + 1))
        }
        b'n' if json[i..].starts_with(b"null") => Some((i + 4, false)),
        _ => None,
    }
}

/// The `output_ids` array at `i`, skipped to its `]` in one pass. Only a
/// nested array or a string could hide an earlier `]` (an object holding
/// one needs a string key), so either of those means `None`.
fn skip_ids(json: &[u8], i: usize) -> Option<usize> {
    let at = i + 1 + memchr::memchr3(b']', b'[', b'"', &json[i + 1..])?;
    (json[at] == b']').then_some(at + 1)
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

    /// Chunks as servers send them, and variations the fast path must
    /// either read exactly as serde does or hand back to serde.
    const FIXTURES: &[&[u8]] = &[
        // SGLang 0.5 `/generate` (orjson): cumulative text and ids.
        br#"{"text":"tok tok ","output_ids":[1000,1001],"meta_info":{"id":"r7","finish_reason":null,"prompt_tokens":32,"completion_tokens":2,"cached_tokens":0}}"#,
        br#"{"text":"tok ","output_ids":[1000],"meta_info":{"id":"9f2c","finish_reason":{"type":"length","length":256},"prompt_tokens":32,"completion_tokens":256,"cached_tokens":0}}"#,
        br#"{"text":"a\nb","output_ids":[1],"meta_info":{"id":"x","finish_reason":{"type":"stop","matched":151645},"prompt_tokens":3,"completion_tokens":1}}"#,
        // matrix's simulator: more keys, a float, stop string with escapes.
        br#"{"text":"Hello","meta_info":{"id":"s-1","finish_reason":null,"prompt_tokens":8,"weight_version":"default","total_retractions":0,"completion_tokens":5,"cached_tokens":0,"e2e_latency":0.0123}}"#,
        br#"{"text":"x","meta_info":{"id":"s","finish_reason":{"type":"stop","matched":"\n\u00e9"},"completion_tokens":3}}"#,
        br#"{"index":1,"text":"x","meta_info":{"id":"s","e2e_latency":-1.5e-3,"completion_tokens":4,"prompt_tokens":null}}"#,
        // Escapes and whitespace.
        br#"{ "meta_info" : { "completion_tokens" : 7 } , "text" : "a\"b\\" }"#,
        br#"{"text":"\u00e9\ud83d\ude00","meta_info":{"id":"caf\u00e9","completion_tokens":2}}"#,
        "{\"text\":\"é\",\"meta_info\":{\"id\":\"é\",\"completion_tokens\":2}}".as_bytes(),
        br#"{"text":"","meta_info":{"completion_tokens":1}}"#,
        br#"{"text":null,"meta_info":null}"#,
        br#"{"text":"x","output_ids":[[1]],"meta_info":{}}"#,
        br#"{"text":"x","other":{"a":[1,"]"]},"meta_info":{"prompt_tokens":2}}"#,
        br#"{"text":"x","meta_info":{"completion_tokens":2,"completion_tokens":3}}"#,
        br#"{"text":"x","meta_info":{"completion_tokens":-1}}"#,
        br#"{"text":"x","meta_info":{"completion_tokens":2.0}}"#,
        br#"{"text":"x","meta_info":{"completion_tokens":4294967296}}"#,
        br#"{"text":"x","meta_info":{"completion_tokens":02}}"#,
        br#"{"text":"x","meta_info":{"completion_tokens":"2"}}"#,
        br#"{"text":"x","meta_info":{"completion\u005ftokens":2}}"#,
        br#"{"text":"x","meta_info":[3,4]}"#,
        br#"{"text":"x","meta_info":{"id":"a	b"}}"#,
        br#"{"text":"x","meta_info":{"id":1.}}"#,
        br#"{}"#,
        // Errors in the stream.
        br#"{"error":{"message":"boom","code":500}}"#,
        br#"{"error":"overloaded","text":""}"#,
        br#"{"text":"x","error":null}"#,
        // OpenAI completions and chat chunks sent to the wrong parser.
        br#"{"id":"1","object":"text_completion","created":0,"model":"m","choices":[{"index":0,"text":"tok ","logprobs":null,"finish_reason":null}],"usage":null}"#,
        br#"{"id":"1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":"hi \"x\""},"finish_reason":null}],"usage":{"prompt_tokens":3,"completion_tokens":7,"total_tokens":10}}"#,
        // Malformed.
        b"{not json",
        b"{\"text\":\"ab",
        b"{\"text\":1}",
        b"[1]",
        b"{\"text\":\"a\"} x",
        b"{\"text\":\"a\",}",
        b"{\"text\":\"a\",\"meta_info\":{\"completion_tokens\":1,}}",
        b"{\"text\":\"a\",\"meta_info\":{\"completion_tokens\":1}",
        b"{\"text\":\"a\",\"text\":\"b\"}",
    ];

    /// The fast `/generate` path agrees with the full parse on every
    /// fixture: same numbers when it answers, the same error otherwise.
    #[test]
    fn generate_fast_matches_full_parse() {
        let mut fast_answers = 0;
        for &j in FIXTURES {
            let show = String::from_utf8_lossy(j);
            let want = generate_full(j);
            if let Some(fast) = generate_fast(j, &mut Template::default()) {
                fast_answers += 1;
                assert_eq!(Some(&fast), want.as_ref().ok(), "{show}");
            }
            match (parse(Api::Generate, j), want) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{show}"),
                (Err(_), Err(_)) => {}
                (got, want) => panic!("{show}: {got:?} vs {want:?}"),
            }
        }
        // The real chunk shapes take the fast path.
        assert!(fast_answers >= 12, "{fast_answers}");
        for &j in &FIXTURES[..4] {
            assert!(
                generate_fast(j, &mut Template::default()).is_some(),
                "{}",
                String::from_utf8_lossy(j)
            );
        }
    }

    #[test]
    fn wrong_shape_is_an_error() {
        assert!(parse(Api::Completions, b"[1,2]").is_err());
    }
}
