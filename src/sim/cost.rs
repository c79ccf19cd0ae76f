//! The model and GPU facts the simulator needs, on top of `matrix::model`.
//!
//! [`SimModel`] wraps the shared cost model ([`ModelSpec`]) so the rest of
//! the simulator asks one small type for weight bytes, KV bytes per token
//! and the roofline time of a forward step.

use camino::{Utf8Path, Utf8PathBuf};

pub use crate::model::{Gpu, SeqStep};
use crate::model::{ModelSpec, roofline_seconds};

use super::error::SimError;

/// Look a GPU up by name (`h100`, `H200`, `mi300x`, ...).
pub fn gpu(name: &str) -> Result<&'static Gpu, SimError> {
    Ok(crate::model::gpu(name)?)
}

/// A model as the simulator sees it.
#[derive(Debug, Clone)]
pub struct SimModel {
    spec: ModelSpec,
    /// `architectures[0]` of config.json, for the `Load weight end` line.
    pub architecture: String,
}

impl SimModel {
    /// Read `<dir>/config.json` (a directory) or the `.json` file itself.
    pub fn load(model_path: &Utf8Path) -> Result<Self, SimError> {
        let path = config_path(model_path);
        let spec = ModelSpec::from_file(&path)?;
        Ok(SimModel {
            architecture: architecture(&path),
            spec,
        })
    }

    pub fn model_type(&self) -> &str {
        self.spec.model_type()
    }

    /// Bytes of all weights (one copy).
    pub fn weight_bytes(&self) -> f64 {
        self.spec.weight_bytes()
    }

    /// KV-cache bytes one token occupies across all layers.
    pub fn kv_bytes_per_token(&self) -> f64 {
        self.spec.kv_bytes_per_token()
    }

    pub fn vocab_size(&self) -> u64 {
        self.spec.vocab_size()
    }

    pub fn max_position_embeddings(&self) -> Option<u64> {
        self.spec.max_position_embeddings()
    }

    /// Roofline seconds of one forward step of a mixed batch on `n_gpus`.
    pub fn step_roofline(&self, batch: &[SeqStep], gpu: &Gpu, n_gpus: u32) -> f64 {
        roofline_seconds(self.spec.step_cost(batch), gpu, n_gpus, self.spec.is_fp8())
    }
}

fn config_path(model_path: &Utf8Path) -> Utf8PathBuf {
    if model_path.extension() == Some("json") {
        model_path.to_path_buf()
    } else {
        model_path.join("config.json")
    }
}

/// Best effort: the config already parsed once, so failures just mean "unknown".
fn architecture(path: &Utf8Path) -> String {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v.pointer("/architectures/0")?.as_str().map(String::from))
        .unwrap_or_else(|| "UnknownForCausalLM".into())
}
