//! `matrix bench serving|batch`: the built-in load generator. The flags
//! arrive as given (strings for the backend, dataset and rate); this file
//! checks them and builds the client's requests.

use camino::Utf8PathBuf;

use crate::Error;
use crate::client::{self, ClientError, args};

/// Which load generator, with its flags as given.
#[derive(Debug, Clone)]
pub enum BenchRequest {
    Serving(Box<ServingArgs>),
    Batch(Box<BatchArgs>),
}

/// The flags of `matrix bench serving` (SGLang `bench_serving`).
#[derive(Debug, Clone)]
pub struct ServingArgs {
    pub backend: String,
    pub base_url: Option<String>,
    pub host: String,
    pub port: u16,
    pub ready_check_timeout_sec: f64,
    pub dataset_name: String,
    pub dataset_path: Option<Utf8PathBuf>,
    pub model: Option<String>,
    pub served_model_name: Option<String>,
    pub tokenizer: Option<Utf8PathBuf>,
    pub num_prompts: usize,
    pub sharegpt_output_len: Option<u32>,
    pub sharegpt_context_len: Option<u32>,
    pub random_input_len: u32,
    pub random_output_len: u32,
    pub random_range_ratio: f64,
    pub request_rate: String,
    pub max_concurrency: Option<usize>,
    pub output_file: Option<Utf8PathBuf>,
    pub output_details: bool,
    pub disable_tqdm: bool,
    pub disable_stream: bool,
    pub seed: u64,
    pub disable_ignore_eos: bool,
    pub temperature: f64,
    pub top_p: f64,
    pub extra_request_body: Option<String>,
    pub warmup_requests: usize,
    pub request_timeout_sec: f64,
    pub vocab_size: u32,
    pub tag: Option<String>,
}

/// The flags of `matrix bench batch` (SGLang `bench_one_batch_server`).
#[derive(Debug, Clone)]
pub struct BatchArgs {
    pub backend: String,
    pub model: String,
    pub no_flush_cache: bool,
    pub base_url: Option<String>,
    pub host: String,
    pub port: u16,
    pub ready_check_timeout_sec: f64,
    pub run_name: String,
    pub batch_size: Vec<u32>,
    pub input_len: Vec<u32>,
    pub output_len: Vec<u32>,
    pub result_filename: Option<Utf8PathBuf>,
    pub skip_warmup: bool,
    pub seed: u64,
    pub vocab_size: u32,
    pub temperature: f64,
    pub disable_ignore_eos: bool,
    pub request_timeout_sec: f64,
}

/// `matrix bench serving|batch`: flags → plain request → client.
pub fn run(cmd: BenchRequest) -> Result<i32, Error> {
    match cmd {
        BenchRequest::Serving(a) => Ok(client::serving(&serving_request(*a)?)?),
        BenchRequest::Batch(a) => Ok(client::batch(&args::BatchRequest {
            backend: args::Backend::parse(&a.backend)?,
            model: a.model,
            flush_cache: !a.no_flush_cache,
            base_url: args::base_url(a.base_url.as_deref(), &a.host, a.port),
            ready_check_timeout_sec: a.ready_check_timeout_sec,
            run_name: a.run_name,
            batch_size: a.batch_size,
            input_len: a.input_len,
            output_len: a.output_len,
            result_filename: a.result_filename,
            skip_warmup: a.skip_warmup,
            seed: a.seed,
            vocab_size: a.vocab_size,
            temperature: a.temperature,
            disable_ignore_eos: a.disable_ignore_eos,
            request_timeout_sec: a.request_timeout_sec,
        })?),
    }
}

fn serving_request(a: ServingArgs) -> Result<client::ServingRequest, ClientError> {
    let extra = match a.extra_request_body.as_deref() {
        None => serde_json::Map::new(),
        Some(s) => match serde_json::from_str(s) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => {
                return Err(ClientError::bad_arg(
                    "--extra-request-body",
                    "must be a JSON object",
                ));
            }
        },
    };
    Ok(client::ServingRequest {
        backend: args::Backend::parse(&a.backend)?,
        base_url: args::base_url(a.base_url.as_deref(), &a.host, a.port),
        ready_check_timeout_sec: a.ready_check_timeout_sec,
        model: a.model.or(a.served_model_name),
        dataset: args::DatasetName::parse(&a.dataset_name)?,
        dataset_path: a.dataset_path,
        tokenizer: a.tokenizer,
        num_prompts: a.num_prompts,
        sharegpt_output_len: a.sharegpt_output_len,
        sharegpt_context_len: a.sharegpt_context_len,
        random_input_len: a.random_input_len,
        random_output_len: a.random_output_len,
        random_range_ratio: a.random_range_ratio,
        request_rate: args::parse_rate(&a.request_rate)?,
        max_concurrency: a.max_concurrency,
        warmup_requests: a.warmup_requests,
        seed: a.seed,
        disable_ignore_eos: a.disable_ignore_eos,
        disable_stream: a.disable_stream,
        temperature: a.temperature,
        top_p: a.top_p,
        extra_request_body: extra,
        output_file: a.output_file,
        output_details: a.output_details,
        disable_tqdm: a.disable_tqdm,
        request_timeout_sec: a.request_timeout_sec,
        vocab_size: a.vocab_size,
        tag: a.tag,
    })
}
