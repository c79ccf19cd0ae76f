//! HF `config.json` → [`Architecture`]: the shape of a decoder-only
//! transformer, with the usual key spellings of each model family aliased.
//!
//! Only the numbers that decide parameters, FLOPs and bytes are read; every
//! other key (rope scaling, token ids, ...) is ignored.

use serde_json::Value;

use super::ModelError;
use super::dtype::{self, DType};
use super::keys::Keys;

/// The `model_type` values this cost model knows how to count.
pub const SUPPORTED_MODEL_TYPES: &[&str] = &[
    "llama",
    "mistral",
    "mixtral",
    "qwen2",
    "qwen2_moe",
    "qwen3",
    "qwen3_moe",
    "deepseek_v2",
    "deepseek_v3",
    "grok-1",
    "grok",
];

const LAYERS: &[&str] = &["num_hidden_layers", "n_layer", "num_layers", "n_layers"];
const HIDDEN: &[&str] = &["hidden_size", "n_embd", "d_model", "dim"];
const HEADS: &[&str] = &["num_attention_heads", "n_head", "num_heads", "n_heads"];
const KV_HEADS: &[&str] = &[
    "num_key_value_heads",
    "n_kv_heads",
    "num_kv_heads",
    "multi_query_group_num",
];
const HEAD_DIM: &[&str] = &["head_dim", "kv_channels"];
const VOCAB: &[&str] = &["vocab_size", "padded_vocab_size", "n_vocab"];
const INTERMEDIATE: &[&str] = &["intermediate_size", "ffn_dim", "ffn_hidden_size", "n_inner"];
const MOE_INTERMEDIATE: &[&str] = &["moe_intermediate_size", "expert_intermediate_size"];
const EXPERTS: &[&str] = &[
    "num_local_experts",
    "num_experts",
    "n_routed_experts",
    "moe_num_experts",
];
const TOP_K: &[&str] = &[
    "num_experts_per_tok",
    "moe_topk",
    "num_selected_experts",
    "top_k",
    "moe_top_k",
];
const SHARED_EXPERTS: &[&str] = &["n_shared_experts", "num_shared_experts"];
const MAX_POSITIONS: &[&str] = &[
    "max_position_embeddings",
    "n_positions",
    "max_sequence_length",
    "seq_length",
];

/// How attention projects and caches keys and values.
#[derive(Clone, Debug, PartialEq)]
pub enum Attention {
    /// Multi-head / grouped-query attention: `kv_heads` ≤ heads, each `head_dim` wide.
    Gqa { kv_heads: u64, head_dim: u64 },
    /// Multi-head latent attention (DeepSeek-V2/V3): keys and values are
    /// cached as one compressed latent of `kv_lora_rank` plus a shared rope
    /// key of `qk_rope` per token.
    Mla {
        q_lora_rank: Option<u64>,
        kv_lora_rank: u64,
        qk_nope: u64,
        qk_rope: u64,
        v_head: u64,
    },
}

/// The routed-expert part of a mixture-of-experts layer.
#[derive(Clone, Debug, PartialEq)]
pub struct Moe {
    /// Routed experts per MoE layer.
    pub experts: u64,
    /// Experts each token is routed to.
    pub top_k: u64,
    /// FFN width of one routed expert.
    pub expert_intermediate: u64,
    /// Total FFN width of the always-on shared expert(s); 0 if none.
    pub shared_intermediate: u64,
    /// Qwen2-MoE gates its shared expert with a `hidden → 1` projection.
    pub shared_gate: bool,
}

/// The shape of a decoder-only transformer, as far as cost goes.
#[derive(Clone, Debug, PartialEq)]
pub struct Architecture {
    pub model_type: String,
    pub hidden: u64,
    pub layers: u64,
    pub vocab: u64,
    pub heads: u64,
    pub attention: Attention,
    /// FFN width of the dense (non-MoE) layers; 0 when every layer is MoE.
    pub dense_intermediate: u64,
    pub moe: Option<Moe>,
    /// How many of `layers` are MoE layers (the rest are dense).
    pub moe_layers: u64,
    pub tie_embeddings: bool,
    /// Biases on the q/k/v projections (Qwen2, or `attention_bias: true`).
    pub qkv_bias: bool,
    /// RMS norms on q and k per head (Qwen3).
    pub qk_norm: bool,
    pub max_positions: Option<u64>,
    /// Activations, embeddings, norms and other unquantized tensors.
    pub activation_dtype: DType,
    /// Linear-layer weights (differs from activations when quantized).
    pub weight_dtype: DType,
}

impl Architecture {
    /// Parse an HF config.json text; `origin` names the file in errors.
    pub fn from_json_str(text: &str, origin: &str) -> Result<Architecture, ModelError> {
        let value: Value = serde_json::from_str(text).map_err(|source| ModelError::Json {
            origin: origin.to_string(),
            source,
        })?;
        let map = value.as_object().ok_or_else(|| ModelError::NotAnObject {
            origin: origin.to_string(),
        })?;
        Architecture::from_keys(&Keys::new(map, origin))
    }

    fn from_keys(k: &Keys<'_>) -> Result<Architecture, ModelError> {
        let model_type = model_type(k)?;
        let hidden = k.req_positive(HIDDEN)?;
        let layers = k.req_positive(LAYERS)?;
        let heads = k.req_positive(HEADS)?;
        let moe = moe(k)?;
        let moe_layers = count_moe_layers(k, layers, moe.is_some())?;
        let dense_intermediate = if moe_layers < layers {
            k.req_positive(INTERMEDIATE)?
        } else {
            0
        };
        let activation_dtype = dtype::activation(k)?;
        let arch = Architecture {
            qkv_bias: k.opt_bool(&["attention_bias"])?.unwrap_or(false)
                || model_type.starts_with("qwen2"),
            qk_norm: model_type.starts_with("qwen3"),
            attention: attention(k, hidden, heads)?,
            vocab: k.req_positive(VOCAB)?,
            tie_embeddings: k.opt_bool(&["tie_word_embeddings"])?.unwrap_or(false),
            max_positions: k.opt_u64(MAX_POSITIONS)?,
            weight_dtype: dtype::weights(k, activation_dtype)?,
            activation_dtype,
            model_type,
            hidden,
            layers,
            heads,
            dense_intermediate,
            moe,
            moe_layers,
        };
        arch.check_limits(k)?;
        Ok(arch)
    }

    /// Rejects sizes far beyond any real model, so that parameter counts
    /// (u64) cannot overflow: with these bounds the largest product stays
    /// below 2^62.
    fn check_limits(&self, k: &Keys<'_>) -> Result<(), ModelError> {
        let moe = self.moe.as_ref();
        let (head_dims, rank) = match &self.attention {
            Attention::Gqa { kv_heads, head_dim } => (head_dim.max(kv_heads), 0),
            Attention::Mla {
                q_lora_rank,
                kv_lora_rank,
                qk_nope,
                qk_rope,
                v_head,
            } => (
                qk_nope.max(qk_rope).max(v_head),
                q_lora_rank.unwrap_or(0).max(*kv_lora_rank),
            ),
        };
        let checks: [(&'static str, u64, u64); 8] = [
            (HIDDEN[0], self.hidden, 1 << 18),
            (LAYERS[0], self.layers, 1 << 10),
            (HEADS[0], self.heads, 1 << 12),
            (HEAD_DIM[0], *head_dims, 1 << 12),
            ("kv_lora_rank", rank, 1 << 20),
            (VOCAB[0], self.vocab, 1 << 24),
            (EXPERTS[0], moe.map_or(0, |m| m.experts), 1 << 12),
            (
                INTERMEDIATE[0],
                self.dense_intermediate
                    .max(moe.map_or(0, |m| m.expert_intermediate.max(m.shared_intermediate))),
                1 << 20,
            ),
        ];
        for (key, value, max) in checks {
            if value > max {
                return Err(k.bad(
                    key,
                    "a size no larger than real models use",
                    &Value::from(value),
                ));
            }
        }
        Ok(())
    }

    /// Number of dense (non-MoE) layers.
    pub fn dense_layers(&self) -> u64 {
        self.layers - self.moe_layers
    }
}

/// `model_type`, checked against [`SUPPORTED_MODEL_TYPES`].
fn model_type(k: &Keys<'_>) -> Result<String, ModelError> {
    let name = k
        .opt_str(&["model_type"])?
        .ok_or_else(|| ModelError::MissingModelType {
            origin: k.origin().to_string(),
        })?;
    if SUPPORTED_MODEL_TYPES.contains(&name) {
        return Ok(name.to_string());
    }
    Err(ModelError::UnsupportedModelType {
        origin: k.origin().to_string(),
        model_type: name.to_string(),
        supported: SUPPORTED_MODEL_TYPES.to_vec(),
        suggestion: crate::suggest::did_you_mean(name, SUPPORTED_MODEL_TYPES.iter().copied()),
    })
}

/// MLA when `kv_lora_rank` is set, else GQA (MHA being GQA with kv = heads).
fn attention(k: &Keys<'_>, hidden: u64, heads: u64) -> Result<Attention, ModelError> {
    if let Some(kv_lora_rank) = k.opt_u64(&["kv_lora_rank"])? {
        return Ok(Attention::Mla {
            q_lora_rank: k.opt_u64(&["q_lora_rank"])?,
            kv_lora_rank,
            qk_nope: k.req_u64(&["qk_nope_head_dim"])?,
            qk_rope: k.req_u64(&["qk_rope_head_dim"])?,
            v_head: k.req_positive(&["v_head_dim"])?,
        });
    }
    let kv_heads = k.opt_u64(KV_HEADS)?.unwrap_or(heads);
    let head_dim = match k.opt_u64(HEAD_DIM)? {
        Some(d) => d,
        None => hidden / heads,
    };
    if kv_heads == 0 || head_dim == 0 {
        let key = if kv_heads == 0 {
            KV_HEADS[0]
        } else {
            HEAD_DIM[0]
        };
        return Err(k.bad(key, "a positive integer", &Value::from(0)));
    }
    Ok(Attention::Gqa { kv_heads, head_dim })
}

/// The routed experts, when the config has more than one.
fn moe(k: &Keys<'_>) -> Result<Option<Moe>, ModelError> {
    let experts = k.opt_u64(EXPERTS)?.unwrap_or(0);
    if experts <= 1 {
        return Ok(None);
    }
    let top_k = k.req_positive(TOP_K)?;
    if top_k > experts {
        return Err(k.bad(
            TOP_K[0],
            "at most the number of experts",
            &Value::from(top_k),
        ));
    }
    let expert_intermediate = match k.opt_u64(MOE_INTERMEDIATE)? {
        Some(i) => i,
        None => k.req_positive(INTERMEDIATE)?,
    };
    let (shared_intermediate, shared_gate) =
        match k.opt_u64(&["shared_expert_intermediate_size"])? {
            Some(i) => (i, i > 0),
            None => {
                let n = k.opt_u64(SHARED_EXPERTS)?.unwrap_or(0);
                (n.saturating_mul(expert_intermediate), false)
            }
        };
    Ok(Some(Moe {
        experts,
        top_k,
        expert_intermediate,
        shared_intermediate,
        shared_gate,
    }))
}

/// How many layers are MoE, from every family's way of saying which are
/// dense: `first_k_dense_replace` + `moe_layer_freq` (DeepSeek),
/// `mlp_only_layers` + `decoder_sparse_step` (Qwen-MoE); else all of them.
fn count_moe_layers(k: &Keys<'_>, layers: u64, has_moe: bool) -> Result<u64, ModelError> {
    if !has_moe {
        return Ok(0);
    }
    let first_dense = k.opt_u64(&["first_k_dense_replace"])?.unwrap_or(0);
    let freq = k.opt_u64(&["moe_layer_freq"])?.unwrap_or(1).max(1);
    let step = k.opt_u64(&["decoder_sparse_step"])?.unwrap_or(1).max(1);
    let mlp_only = k.opt_u64_list(&["mlp_only_layers"])?;
    let is_moe =
        |i: u64| i >= first_dense && i % freq == 0 && (i + 1) % step == 0 && !mlp_only.contains(&i);
    Ok((0..layers).filter(|&i| is_moe(i)).count() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Architecture, ModelError> {
        Architecture::from_json_str(text, "config.json")
    }

    #[test]
    fn aliases_give_the_same_architecture() {
        let hf = parse(
            r#"{"model_type":"llama","num_hidden_layers":2,"hidden_size":64,
                "num_attention_heads":4,"intermediate_size":128,"vocab_size":100}"#,
        )
        .expect("parses");
        let gpt_style = parse(
            r#"{"model_type":"llama","n_layer":2,"n_embd":64,"n_head":4,
                "ffn_dim":128,"vocab_size":100}"#,
        )
        .expect("parses");
        assert_eq!(hf, gpt_style);
        assert_eq!(
            hf.attention,
            Attention::Gqa {
                kv_heads: 4,
                head_dim: 16
            }
        );
    }

    #[test]
    fn moe_aliases_and_dense_layers() {
        let a = parse(
            r#"{"model_type":"deepseek_v3","num_hidden_layers":5,"hidden_size":64,
                "num_attention_heads":4,"intermediate_size":128,"vocab_size":100,
                "n_routed_experts":8,"moe_topk":2,"moe_intermediate_size":32,
                "n_shared_experts":1,"first_k_dense_replace":2}"#,
        )
        .expect("parses");
        assert_eq!(a.moe_layers, 3);
        let moe = a.moe.expect("moe");
        assert_eq!(
            (moe.experts, moe.top_k, moe.shared_intermediate),
            (8, 2, 32)
        );
    }

    #[test]
    fn mlp_only_layers_and_sparse_step() {
        let a = parse(
            r#"{"model_type":"qwen3_moe","num_hidden_layers":8,"hidden_size":64,
                "num_attention_heads":4,"intermediate_size":128,"vocab_size":100,
                "num_experts":8,"num_experts_per_tok":2,"moe_intermediate_size":32,
                "decoder_sparse_step":2,"mlp_only_layers":[1]}"#,
        )
        .expect("parses");
        // Layers 1,3,5,7 are sparse by step; layer 1 is forced dense.
        assert_eq!(a.moe_layers, 3);
    }

    #[test]
    fn unsupported_model_type_names_file_and_lists_supported() {
        let err = parse(r#"{"model_type":"lama"}"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "config.json: unsupported model_type `lama`"
        );
        let hint = err.hint().unwrap_or_default();
        assert!(hint.contains("did you mean `llama`"), "{hint}");
        assert!(hint.contains("deepseek_v3"), "{hint}");
    }

    #[test]
    fn missing_key_and_bad_json_are_errors() {
        let err = parse(r#"{"model_type":"llama","num_hidden_layers":2}"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "config.json: missing required key `hidden_size`"
        );
        assert!(parse("{not json").is_err());
        assert!(parse("[1]").is_err());
        assert!(parse(r#"{"hidden_size":1}"#).is_err());
    }
}
