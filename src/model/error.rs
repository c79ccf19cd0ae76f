//! Errors of the cost model. Every one of them is bad input (a config file, a
//! GPU name, a request value), so the binary maps them all to exit code 2.

use camino::Utf8PathBuf;
use thiserror::Error;

/// What went wrong while reading a model config or answering a request.
///
/// Each variant names the file (`origin`) or the value at fault, and
/// [`ModelError::hint`] says what to do about it.
#[derive(Debug, Error)]
pub enum ModelError {
    #[error("cannot read model config {path}")]
    Read {
        path: Utf8PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{origin}: not valid JSON")]
    Json {
        origin: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{origin}: the top level must be a JSON object (an HF config.json)")]
    NotAnObject { origin: String },
    #[error("{origin}: no `model_type` key")]
    MissingModelType { origin: String },
    #[error("{origin}: unsupported model_type `{model_type}`")]
    UnsupportedModelType {
        origin: String,
        model_type: String,
        supported: Vec<&'static str>,
        suggestion: Option<String>,
    },
    #[error("{origin}: missing required key `{key}`")]
    MissingKey {
        origin: String,
        key: &'static str,
        aliases: Vec<&'static str>,
    },
    #[error("{origin}: key `{key}` must be {expected}, found {found}")]
    BadValue {
        origin: String,
        key: String,
        expected: &'static str,
        found: String,
    },
    #[error("{origin}: unknown dtype `{value}` in `{key}`")]
    UnknownDtype {
        origin: String,
        key: &'static str,
        value: String,
    },
    #[error("{origin}: unsupported quantization `{method}`")]
    UnsupportedQuantization { origin: String, method: String },
    #[error("unknown GPU `{name}`")]
    UnknownGpu {
        name: String,
        suggestion: Option<String>,
        known: Vec<&'static str>,
    },
    #[error("invalid request: {what}")]
    BadRequest { what: String, hint: String },
}

impl ModelError {
    /// What the user can do about the error, printed as `hint:`.
    pub fn hint(&self) -> Option<String> {
        match self {
            ModelError::Read { .. } => {
                Some("check the path; --config takes an HF config.json".into())
            }
            ModelError::Json { .. } | ModelError::NotAnObject { .. } => {
                Some("the file must be an HF config.json object".into())
            }
            ModelError::MissingModelType { .. } => Some(format!(
                "add \"model_type\": one of {}",
                super::config::SUPPORTED_MODEL_TYPES.join(", ")
            )),
            ModelError::UnsupportedModelType {
                supported,
                suggestion,
                ..
            } => Some(did_you_mean_hint(
                suggestion,
                "supported model types",
                supported,
            )),
            ModelError::MissingKey { key, aliases, .. } => Some(if aliases.len() > 1 {
                format!("add `{key}` (also accepted: {})", aliases[1..].join(", "))
            } else {
                format!("add `{key}` to the config")
            }),
            ModelError::BadValue { key, expected, .. } => {
                Some(format!("set `{key}` to {expected}"))
            }
            ModelError::UnknownDtype { .. } => {
                Some("use bfloat16, float16, float32 or float8_e4m3fn".into())
            }
            ModelError::UnsupportedQuantization { .. } => Some(
                "supported: quant_method fp8 / fbgemm_fp8, compressed-tensors, or a `bits` key"
                    .into(),
            ),
            ModelError::UnknownGpu {
                suggestion, known, ..
            } => Some(did_you_mean_hint(suggestion, "known GPUs", known)),
            ModelError::BadRequest { hint, .. } => Some(hint.clone()),
        }
    }
}

/// `did you mean X? (known: a, b, c)` or just the list when nothing is close.
fn did_you_mean_hint(suggestion: &Option<String>, what: &str, known: &[&str]) -> String {
    let list = known.join(", ");
    match suggestion {
        Some(s) => format!("did you mean `{s}`? ({what}: {list})"),
        None => format!("{what}: {list}"),
    }
}
