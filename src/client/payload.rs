//! Request bodies, built and serialized before the run starts so the send
//! path only clones a `Bytes` handle. Field names and defaults follow
//! SGLang's `bench_serving` request functions; `--extra-request-body` keys
//! are merged last and win.

use bytes::Bytes;
use serde_json::{Map, Value, json};

use super::args::Api;
use super::dataset::{Prompt, PromptBody};

/// The knobs every body shares.
#[derive(Debug, Clone)]
pub struct BodyOptions<'a> {
    pub api: Api,
    pub model: &'a str,
    pub stream: bool,
    pub ignore_eos: bool,
    pub temperature: f64,
    pub top_p: f64,
    pub extra: &'a Map<String, Value>,
}

fn prompt_value(p: &Prompt) -> Value {
    match &p.body {
        PromptBody::Ids(ids) => json!(ids),
        PromptBody::Text(t) => json!(t),
    }
}

/// The JSON body for `prompt` with `output_len` new tokens.
pub fn body(opts: &BodyOptions<'_>, p: &Prompt, output_len: u32) -> Bytes {
    let mut m = match opts.api {
        Api::Generate => generate(opts, p, output_len),
        Api::Completions => completions(opts, p, output_len),
        Api::Chat => chat(opts, p, output_len),
    };
    for (k, v) in opts.extra {
        m.insert(k.clone(), v.clone());
    }
    // Serializing a Map of plain values cannot fail.
    Bytes::from(serde_json::to_vec(&m).unwrap_or_default())
}

fn generate(opts: &BodyOptions<'_>, p: &Prompt, output_len: u32) -> Map<String, Value> {
    let mut sp = Map::new();
    sp.insert("temperature".into(), json!(opts.temperature));
    sp.insert("max_new_tokens".into(), json!(output_len));
    sp.insert("ignore_eos".into(), json!(opts.ignore_eos));
    if opts.top_p < 1.0 {
        sp.insert("top_p".into(), json!(opts.top_p));
    }
    let key = match p.body {
        PromptBody::Ids(_) => "input_ids",
        PromptBody::Text(_) => "text",
    };
    let mut m = Map::new();
    m.insert(key.into(), prompt_value(p));
    m.insert("sampling_params".into(), Value::Object(sp));
    m.insert("stream".into(), json!(opts.stream));
    m
}

fn openai_common(opts: &BodyOptions<'_>, m: &mut Map<String, Value>) {
    m.insert("stream".into(), json!(opts.stream));
    if opts.stream {
        m.insert("stream_options".into(), json!({"include_usage": true}));
    }
    m.insert("temperature".into(), json!(opts.temperature));
    m.insert("ignore_eos".into(), json!(opts.ignore_eos));
}

fn completions(opts: &BodyOptions<'_>, p: &Prompt, output_len: u32) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("model".into(), json!(opts.model));
    m.insert("prompt".into(), prompt_value(p));
    m.insert("best_of".into(), json!(1));
    m.insert("max_tokens".into(), json!(output_len));
    openai_common(opts, &mut m);
    m
}

fn chat(opts: &BodyOptions<'_>, p: &Prompt, output_len: u32) -> Map<String, Value> {
    let content = match &p.body {
        PromptBody::Text(t) => json!(t),
        PromptBody::Ids(ids) => json!(ids),
    };
    let mut m = Map::new();
    m.insert("model".into(), json!(opts.model));
    m.insert(
        "messages".into(),
        json!([{"role": "user", "content": content}]),
    );
    m.insert("max_completion_tokens".into(), json!(output_len));
    openai_common(opts, &mut m);
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generate_body_uses_input_ids_and_extra_wins() {
        let mut extra = Map::new();
        extra.insert("stream".into(), json!(false));
        let opts = BodyOptions {
            api: Api::Generate,
            model: "m",
            stream: true,
            ignore_eos: true,
            temperature: 0.0,
            top_p: 1.0,
            extra: &extra,
        };
        let p = Prompt {
            body: PromptBody::Ids(vec![1, 2]),
            prompt_len: 2,
            output_len: 3,
        };
        let v: Value = serde_json::from_slice(&body(&opts, &p, 3)).unwrap();
        assert_eq!(v["input_ids"], json!([1, 2]));
        assert_eq!(v["sampling_params"]["max_new_tokens"], json!(3));
        assert_eq!(v["sampling_params"]["ignore_eos"], json!(true));
        assert_eq!(v["stream"], json!(false));
    }
}
