//! Plain request types for `matrix bench serving` and `matrix bench batch`.
//!
//! `app::bench` fills these from the flags as given; nothing here knows the
//! command-line parser. Flag names in the docs mirror SGLang's
//! `bench_serving` / `bench_one_batch_server`.

use camino::Utf8PathBuf;

use super::ClientError;

/// Which HTTP API the requests go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// SGLang native `POST /generate` (cumulative `text` + `meta_info`).
    Generate,
    /// OpenAI `POST /v1/completions`.
    Completions,
    /// OpenAI `POST /v1/chat/completions`.
    Chat,
}

impl Api {
    /// The request path for this API.
    pub fn path(self) -> &'static str {
        match self {
            Api::Generate => "/generate",
            Api::Completions => "/v1/completions",
            Api::Chat => "/v1/chat/completions",
        }
    }
}

/// A `--backend` value: the name the user gave (echoed in reports, as SGLang
/// does) and the API it maps to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    pub name: String,
    pub api: Api,
}

/// Every accepted `--backend` spelling.
pub const BACKEND_NAMES: &[&str] = &[
    "sglang",
    "sglang-native",
    "sglang-oai",
    "sglang-oai-chat",
    "openai",
    "openai-chat",
    "vllm",
    "vllm-chat",
];

impl Backend {
    /// Parse a `--backend` value (SGLang's names and ours).
    pub fn parse(name: &str) -> Result<Self, ClientError> {
        let api = match name {
            "sglang" | "sglang-native" => Api::Generate,
            "openai" | "sglang-oai" | "vllm" => Api::Completions,
            "openai-chat" | "sglang-oai-chat" | "vllm-chat" => Api::Chat,
            _ => {
                return Err(ClientError::bad_arg(
                    "--backend",
                    format!("unknown backend {name:?}; expected one of {BACKEND_NAMES:?}"),
                ));
            }
        };
        Ok(Backend {
            name: name.to_string(),
            api,
        })
    }
}

/// Where prompts come from (`--dataset-name`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatasetName {
    /// Text prompts of random token length (needs `--tokenizer`).
    Random,
    /// Random token ids, sent as ids; no tokenizer needed except for chat.
    RandomIds,
    /// ShareGPT conversations from `--dataset-path` (needs `--tokenizer`).
    ShareGpt,
}

impl DatasetName {
    /// Parse a `--dataset-name` value.
    pub fn parse(name: &str) -> Result<Self, ClientError> {
        match name {
            "random" => Ok(DatasetName::Random),
            "random-ids" => Ok(DatasetName::RandomIds),
            "sharegpt" => Ok(DatasetName::ShareGpt),
            _ => Err(ClientError::bad_arg(
                "--dataset-name",
                format!("unsupported dataset {name:?}; expected random, random-ids or sharegpt"),
            )),
        }
    }

    /// The name as SGLang spells it (used in reports).
    pub fn as_str(self) -> &'static str {
        match self {
            DatasetName::Random => "random",
            DatasetName::RandomIds => "random-ids",
            DatasetName::ShareGpt => "sharegpt",
        }
    }
}

/// Parse a `--request-rate`: `inf` or a positive number of requests/s.
pub fn parse_rate(s: &str) -> Result<f64, ClientError> {
    let v: f64 = match s.trim() {
        "inf" | "Infinity" | "infinity" => f64::INFINITY,
        t => t.parse().map_err(|_| {
            ClientError::bad_arg("--request-rate", format!("{s:?} is not a number or inf"))
        })?,
    };
    if v.is_nan() || v <= 0.0 {
        return Err(ClientError::bad_arg(
            "--request-rate",
            format!("must be > 0 or inf, got {s}"),
        ));
    }
    Ok(v)
}

/// Everything `matrix bench serving` needs.
#[derive(Debug, Clone)]
pub struct ServingRequest {
    pub backend: Backend,
    /// e.g. `http://127.0.0.1:30000`, no trailing slash.
    pub base_url: String,
    pub ready_check_timeout_sec: f64,
    /// Served model name; `None` asks `/v1/models`.
    pub model: Option<String>,
    pub dataset: DatasetName,
    pub dataset_path: Option<Utf8PathBuf>,
    /// Directory holding `tokenizer.json`.
    pub tokenizer: Option<Utf8PathBuf>,
    pub num_prompts: usize,
    pub sharegpt_output_len: Option<u32>,
    pub sharegpt_context_len: Option<u32>,
    pub random_input_len: u32,
    pub random_output_len: u32,
    pub random_range_ratio: f64,
    /// Requests per second; `f64::INFINITY` sends all at once.
    pub request_rate: f64,
    pub max_concurrency: Option<usize>,
    pub warmup_requests: usize,
    pub seed: u64,
    pub disable_ignore_eos: bool,
    pub disable_stream: bool,
    pub temperature: f64,
    pub top_p: f64,
    /// Merged into every request body (overrides defaults).
    pub extra_request_body: serde_json::Map<String, serde_json::Value>,
    pub output_file: Option<Utf8PathBuf>,
    pub output_details: bool,
    pub disable_tqdm: bool,
    /// Per-request timeout.
    pub request_timeout_sec: f64,
    /// Vocabulary size for random ids when no tokenizer is given.
    pub vocab_size: u32,
    pub tag: Option<String>,
}

/// Everything `matrix bench batch` needs.
#[derive(Debug, Clone)]
pub struct BatchRequest {
    /// `/generate` or `/v1/completions` (chat cannot carry token ids).
    pub backend: Backend,
    /// `model` of OpenAI-compatible requests.
    pub model: String,
    /// POST /flush_cache before each combination.
    pub flush_cache: bool,
    pub base_url: String,
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

/// Build a base URL from `--base-url` or `--host`/`--port` (SGLang's rule:
/// `--base-url` wins; otherwise `http://{host}:{port}`).
pub fn base_url(base_url: Option<&str>, host: &str, port: u16) -> String {
    match base_url {
        Some(u) => u.trim_end_matches('/').to_string(),
        None => format!("http://{host}:{port}"),
    }
}

impl ServingRequest {
    /// Reject combinations that cannot work, before anything is sent.
    pub fn validate(&self) -> Result<(), ClientError> {
        if self.num_prompts == 0 {
            return Err(ClientError::bad_arg("--num-prompts", "must be at least 1"));
        }
        if !(0.0..=1.0).contains(&self.random_range_ratio) {
            return Err(ClientError::bad_arg(
                "--random-range-ratio",
                "must be within [0, 1]",
            ));
        }
        if self.max_concurrency == Some(0) {
            return Err(ClientError::bad_arg(
                "--max-concurrency",
                "must be at least 1",
            ));
        }
        let needs_tokenizer = matches!(self.dataset, DatasetName::Random | DatasetName::ShareGpt)
            || self.backend.api == Api::Chat;
        if needs_tokenizer && self.tokenizer.is_none() {
            return Err(ClientError::bad_arg(
                "--tokenizer",
                format!(
                    "dataset {} with backend {} sends text and needs --tokenizer DIR (with tokenizer.json)",
                    self.dataset.as_str(),
                    self.backend.name
                ),
            ));
        }
        if self.dataset == DatasetName::ShareGpt && self.dataset_path.is_none() {
            return Err(ClientError::bad_arg(
                "--dataset-path",
                "sharegpt needs a local ShareGPT JSON file (nothing is downloaded)",
            ));
        }
        check_url(&self.base_url)?;
        check_timeout(self.request_timeout_sec)
    }
}

impl BatchRequest {
    /// Reject empty or zero-sized sweeps.
    pub fn validate(&self) -> Result<(), ClientError> {
        for (flag, v) in [
            ("--batch-size", &self.batch_size),
            ("--input-len", &self.input_len),
            ("--output-len", &self.output_len),
        ] {
            if v.is_empty() || v.contains(&0) {
                return Err(ClientError::bad_arg(flag, "needs one or more values >= 1"));
            }
        }
        check_url(&self.base_url)?;
        check_timeout(self.request_timeout_sec)
    }
}

fn check_url(url: &str) -> Result<(), ClientError> {
    if !url.starts_with("http://") {
        return Err(ClientError::bad_arg(
            "--base-url",
            format!("{url:?} must start with http:// (https is not supported)"),
        ));
    }
    super::http::Endpoint::parse(url)
        .map(|_| ())
        .map_err(|e| ClientError::bad_arg("--base-url", format!("{url:?}: {e}")))
}

fn check_timeout(t: f64) -> Result<(), ClientError> {
    if t.is_finite() && t > 0.0 {
        Ok(())
    } else {
        Err(ClientError::bad_arg(
            "--request-timeout-sec",
            "must be a positive number",
        ))
    }
}
