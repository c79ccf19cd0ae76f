//! The model and GPU facts the simulator needs, behind one small type.
//!
//! INTERIM: until `matrix::model` lands (branch `model`), this file carries a
//! compact dense/MoE transformer cost model of its own so the simulator runs
//! end to end. After the merge, [`SimModel`] delegates to
//! `ModelSpec::step_cost` / `roofline_seconds` and the formulas here go away;
//! callers only see [`SimModel`] and [`Gpu`], so nothing else changes.

use camino::{Utf8Path, Utf8PathBuf};
use serde_json::Value;

use super::error::SimError;

/// One sequence's share of a forward step: `new_tokens` computed now on top
/// of `context` tokens already in the KV cache.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SeqWork {
    pub new_tokens: u64,
    pub context: u64,
}

/// Peak numbers of one accelerator.
#[derive(Debug, Clone, PartialEq)]
pub struct Gpu {
    pub name: &'static str,
    pub bf16_flops: f64,
    pub fp8_flops: f64,
    pub hbm_bytes_per_s: f64,
    pub memory_bytes: f64,
}

const GPUS: &[Gpu] = &[
    Gpu {
        name: "h100",
        bf16_flops: 989e12,
        fp8_flops: 1979e12,
        hbm_bytes_per_s: 3.35e12,
        memory_bytes: 80e9,
    },
    Gpu {
        name: "h200",
        bf16_flops: 989e12,
        fp8_flops: 1979e12,
        hbm_bytes_per_s: 4.8e12,
        memory_bytes: 141e9,
    },
    Gpu {
        name: "h20",
        bf16_flops: 148e12,
        fp8_flops: 296e12,
        hbm_bytes_per_s: 4.0e12,
        memory_bytes: 96e9,
    },
    Gpu {
        name: "b200",
        bf16_flops: 2250e12,
        fp8_flops: 4500e12,
        hbm_bytes_per_s: 8.0e12,
        memory_bytes: 180e9,
    },
    Gpu {
        name: "a100",
        bf16_flops: 312e12,
        fp8_flops: 312e12,
        hbm_bytes_per_s: 2.04e12,
        memory_bytes: 80e9,
    },
    Gpu {
        name: "mi300x",
        bf16_flops: 1307e12,
        fp8_flops: 2615e12,
        hbm_bytes_per_s: 5.3e12,
        memory_bytes: 192e9,
    },
];

/// Look a GPU up by name (case-insensitive).
pub fn gpu(name: &str) -> Result<&'static Gpu, SimError> {
    GPUS.iter()
        .find(|g| g.name.eq_ignore_ascii_case(name))
        .ok_or_else(|| SimError::UnknownGpu {
            name: name.to_string(),
            known: GPUS.iter().map(|g| g.name.to_string()).collect(),
        })
}

/// A model's shape, enough for weight bytes, KV bytes and per-step cost.
#[derive(Debug, Clone)]
pub struct SimModel {
    pub architecture: String,
    pub model_type: String,
    layers: f64,
    hidden: f64,
    q_dim: f64,
    kv_dim: f64,
    /// Active FFN parameters per layer per token (top-k experts for MoE).
    ffn_active: f64,
    ffn_total: f64,
    vocab: u64,
    embed_copies: f64,
    max_pos: Option<u64>,
    fp8: bool,
}

impl SimModel {
    /// Read `<dir>/config.json` (a directory) or the file itself.
    pub fn load(model_path: &Utf8Path) -> Result<Self, SimError> {
        let path = config_path(model_path);
        let text = std::fs::read_to_string(&path).map_err(|source| SimError::ModelConfig {
            path: path.clone(),
            source,
        })?;
        let v: Value = serde_json::from_str(&text).map_err(|e| SimError::ModelInvalid {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        Self::from_json(&v).map_err(|reason| SimError::ModelInvalid { path, reason })
    }

    fn from_json(v: &Value) -> Result<Self, String> {
        let c = v.get("text_config").filter(|t| t.is_object()).unwrap_or(v);
        let hidden = num(c, "hidden_size")?;
        let heads = num(c, "num_attention_heads")?;
        let kv_heads = num(c, "num_key_value_heads").unwrap_or(heads);
        let head_dim = num(c, "head_dim").unwrap_or(hidden / heads.max(1.0));
        let dense_inter = num(c, "intermediate_size").unwrap_or(4.0 * hidden);
        let experts = num(c, "num_experts")
            .or_else(|_| num(c, "n_routed_experts"))
            .ok();
        let (ffn_active, ffn_total) = match experts {
            Some(e) => {
                let inter = num(c, "moe_intermediate_size").unwrap_or(dense_inter);
                let k = num(c, "num_experts_per_tok").unwrap_or(1.0);
                (3.0 * hidden * inter * k, 3.0 * hidden * inter * e)
            }
            None => (3.0 * hidden * dense_inter, 3.0 * hidden * dense_inter),
        };
        let tied = c
            .get("tie_word_embeddings")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let quant = v
            .pointer("/quantization_config/quant_method")
            .and_then(Value::as_str);
        Ok(SimModel {
            architecture: arch(v),
            model_type: c
                .get("model_type")
                .and_then(Value::as_str)
                .unwrap_or("unknown")
                .into(),
            layers: num(c, "num_hidden_layers")?,
            hidden,
            q_dim: heads * head_dim,
            kv_dim: kv_heads * head_dim,
            ffn_active,
            ffn_total,
            vocab: num(c, "vocab_size")? as u64,
            embed_copies: if tied { 1.0 } else { 2.0 },
            max_pos: num(c, "max_position_embeddings").ok().map(|p| p as u64),
            fp8: quant == Some("fp8"),
        })
    }

    fn bytes_per_param(&self) -> f64 {
        if self.fp8 { 1.0 } else { 2.0 }
    }

    fn attn_params(&self) -> f64 {
        2.0 * self.hidden * self.q_dim + 2.0 * self.hidden * self.kv_dim
    }

    /// Bytes of all weights (one copy).
    pub fn weight_bytes(&self) -> f64 {
        let layer = self.attn_params() + self.ffn_total;
        let embed = self.embed_copies * self.vocab as f64 * self.hidden;
        (self.layers * layer + embed) * self.bytes_per_param()
    }

    /// KV-cache bytes one token occupies (K and V, all layers, bf16).
    pub fn kv_bytes_per_token(&self) -> f64 {
        2.0 * self.layers * self.kv_dim * 2.0
    }

    pub fn vocab_size(&self) -> u64 {
        self.vocab
    }

    pub fn max_position_embeddings(&self) -> Option<u64> {
        self.max_pos
    }

    pub fn is_fp8(&self) -> bool {
        self.fp8
    }

    /// Roofline seconds of one forward step of a mixed batch on `n_gpus`.
    pub fn step_roofline(&self, batch: &[SeqWork], gpu: &Gpu, n_gpus: u32) -> f64 {
        let (flops, bytes) = self.step_cost(batch);
        let n = f64::from(n_gpus.max(1));
        let peak = if self.fp8 {
            gpu.fp8_flops
        } else {
            gpu.bf16_flops
        };
        (flops / (peak * n)).max(bytes / (gpu.hbm_bytes_per_s * n))
    }

    fn step_cost(&self, batch: &[SeqWork]) -> (f64, f64) {
        let dense =
            self.layers * (self.attn_params() + self.ffn_active) + self.vocab as f64 * self.hidden;
        let (mut flops, mut kv_tokens) = (0.0, 0.0);
        for s in batch {
            let n = s.new_tokens as f64;
            let ctx = s.context as f64 + n / 2.0;
            flops += 2.0 * dense * n + 4.0 * self.layers * self.q_dim * n * ctx;
            kv_tokens += s.context as f64 + n;
        }
        let bytes = self.weight_bytes() + kv_tokens * self.kv_bytes_per_token();
        (flops, bytes)
    }
}

fn config_path(model_path: &Utf8Path) -> Utf8PathBuf {
    if model_path.extension() == Some("json") {
        model_path.to_path_buf()
    } else {
        model_path.join("config.json")
    }
}

fn num(v: &Value, key: &str) -> Result<f64, String> {
    v.get(key)
        .and_then(Value::as_f64)
        .filter(|x| *x > 0.0)
        .ok_or_else(|| format!("missing or non-positive {key:?}"))
}

fn arch(v: &Value) -> String {
    v.pointer("/architectures/0")
        .and_then(Value::as_str)
        .unwrap_or("UnknownForCausalLM")
        .to_string()
}
