//! [`ModelSpec`]: a parsed model config with its cost coefficients
//! precomputed, so that [`ModelSpec::step_cost`] is a few multiplications.

use camino::Utf8Path;

use super::ModelError;
use super::config::{Architecture, Attention};
use super::dtype::DType;
use super::params::ParamCounts;

/// A transformer parsed from an HF `config.json`: parameter counts, weight and
/// KV-cache sizes, and the per-token / per-key cost coefficients used by
/// [`ModelSpec::step_cost`].
#[derive(Clone, Debug)]
pub struct ModelSpec {
    pub(crate) arch: Architecture,
    pub(crate) params: ParamCounts,
    pub(crate) kv_dtype: DType,
    pub(crate) coef: Coefficients,
}

/// Everything `step_cost` needs, in f64, computed once.
#[derive(Clone, Debug, Default)]
pub(crate) struct Coefficients {
    /// 2 × active matmul parameters: FLOPs of the linear layers per token.
    pub linear_flops_per_token: f64,
    /// 2 × hidden × vocab: the lm_head, computed for one token per sequence.
    pub head_flops_per_seq: f64,
    /// Q·Kᵀ plus P·V FLOPs of one query attending to one key, all layers.
    pub attn_flops_per_key: f64,
    /// Bytes of every weight except routed experts (read once per step).
    pub static_weight_bytes: f64,
    /// Bytes of one routed expert of one layer.
    pub expert_bytes: f64,
    pub moe_layers: f64,
    pub experts: f64,
    pub top_k: f64,
    /// KV-cache bytes of one token, all layers.
    pub kv_bytes_per_token: f64,
}

impl ModelSpec {
    /// Read and parse a config.json file.
    pub fn from_file(path: &Utf8Path) -> Result<ModelSpec, ModelError> {
        let text = std::fs::read_to_string(path).map_err(|source| ModelError::Read {
            path: path.to_owned(),
            source,
        })?;
        ModelSpec::from_json_str(&text, path.as_str())
    }

    /// Parse config.json text; `origin` (usually the file name) names it in errors.
    pub fn from_json_str(text: &str, origin: &str) -> Result<ModelSpec, ModelError> {
        Ok(ModelSpec::from_architecture(Architecture::from_json_str(
            text, origin,
        )?))
    }

    /// Build from an already parsed architecture (KV cache in bf16).
    pub fn from_architecture(arch: Architecture) -> ModelSpec {
        let params = ParamCounts::of(&arch);
        let mut spec = ModelSpec {
            arch,
            params,
            kv_dtype: DType::BF16,
            coef: Coefficients::default(),
        };
        spec.coef = spec.coefficients();
        spec
    }

    /// The same model with its KV cache stored as `dtype` (SGLang's
    /// `--kv-cache-dtype`: `auto`, `bf16`, `fp8_e4m3`, ...).
    pub fn with_kv_cache_dtype(mut self, dtype: &str) -> Result<ModelSpec, ModelError> {
        self.kv_dtype = DType::kv_cache(dtype).ok_or_else(|| ModelError::BadRequest {
            what: format!("unknown KV-cache dtype `{dtype}`"),
            hint: "use auto, bf16, fp16, fp8_e4m3 or fp8_e5m2".into(),
        })?;
        self.coef = self.coefficients();
        Ok(self)
    }

    pub fn model_type(&self) -> &str {
        &self.arch.model_type
    }

    /// The parsed architecture (layer counts, attention kind, experts).
    pub fn architecture(&self) -> &Architecture {
        &self.arch
    }

    /// Parameters per component.
    pub fn param_counts(&self) -> &ParamCounts {
        &self.params
    }

    pub fn params_total(&self) -> u64 {
        self.params.total()
    }

    pub fn params_active(&self) -> u64 {
        self.params.active()
    }

    /// All weights at their stored dtype: linear weights at the weight dtype
    /// (fp8 for an fp8 checkpoint), embeddings, norms and router at the
    /// activation dtype.
    pub fn weight_bytes(&self) -> f64 {
        let linear = self.params.linear_total() as f64;
        let other = (self.params.total() - self.params.linear_total()) as f64;
        linear * self.arch.weight_dtype.bytes + other * self.arch.activation_dtype.bytes
    }

    /// KV-cache bytes of one token over all layers. GQA: K and V of every KV
    /// head; MLA: the compressed latent plus the shared rope key.
    pub fn kv_bytes_per_token(&self) -> f64 {
        let per_layer = match self.arch.attention {
            Attention::Gqa { kv_heads, head_dim } => 2 * kv_heads * head_dim,
            Attention::Mla {
                kv_lora_rank,
                qk_rope,
                ..
            } => kv_lora_rank + qk_rope,
        };
        (self.arch.layers * per_layer) as f64 * self.kv_dtype.bytes
    }

    pub fn vocab_size(&self) -> u64 {
        self.arch.vocab
    }

    pub fn max_position_embeddings(&self) -> Option<u64> {
        self.arch.max_positions
    }

    /// True when the linear weights are fp8 (roofline uses the fp8 peak).
    pub fn is_fp8(&self) -> bool {
        self.arch.weight_dtype.is_fp8()
    }

    pub fn weight_dtype(&self) -> DType {
        self.arch.weight_dtype
    }

    pub fn kv_cache_dtype(&self) -> DType {
        self.kv_dtype
    }

    pub fn is_moe(&self) -> bool {
        self.arch.moe_layers > 0
    }

    fn coefficients(&self) -> Coefficients {
        let (a, p) = (&self.arch, &self.params);
        let expert_bytes = p.expert as f64 * a.weight_dtype.bytes;
        let routed_bytes = p.routed_experts_total() as f64 * a.weight_dtype.bytes;
        Coefficients {
            linear_flops_per_token: 2.0 * p.active_matmul() as f64,
            head_flops_per_seq: 2.0 * (a.hidden * a.vocab) as f64,
            attn_flops_per_key: attn_flops_per_key(a),
            static_weight_bytes: self.weight_bytes() - routed_bytes,
            expert_bytes,
            moe_layers: p.moe_layers as f64,
            experts: p.experts as f64,
            top_k: p.top_k as f64,
            kv_bytes_per_token: self.kv_bytes_per_token(),
        }
    }
}

/// 2·heads·(d_qk + d_v) per layer: one multiply-add per element for the
/// score Q·Kᵀ and for the weighted sum P·V. MLA is counted in its
/// mathematical (non-absorbed) form: d_qk = nope + rope, d_v = v_head.
fn attn_flops_per_key(a: &Architecture) -> f64 {
    let (d_qk, d_v) = match a.attention {
        Attention::Gqa { head_dim, .. } => (head_dim, head_dim),
        Attention::Mla {
            qk_nope,
            qk_rope,
            v_head,
            ..
        } => (qk_nope + qk_rope, v_head),
    };
    2.0 * (a.heads * (d_qk + d_v) * a.layers) as f64
}
