//! Parameter counts, split the way cost needs them.
//!
//! Linear weights (attention projections, FFNs, experts) are counted apart
//! from the small tensors (norms, biases, router) and the embeddings, because
//! a quantized checkpoint stores only the linear weights at low precision,
//! and because an MoE step touches only some experts. All FFNs are gated
//! (SwiGLU / GeGLU: gate, up and down projections), as in every supported
//! family.

use super::config::{Architecture, Attention};

/// Parameter counts of one model, per component.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ParamCounts {
    /// Input embedding table (`vocab × hidden`).
    pub embedding: u64,
    /// Output projection; 0 when tied to the embedding.
    pub lm_head: u64,
    /// Attention linear weights of one layer.
    pub attention: u64,
    /// Norms and biases of one layer (plus MLA's latent norms).
    pub layer_small: u64,
    /// FFN of one dense layer.
    pub dense_ffn: u64,
    /// One routed expert.
    pub expert: u64,
    /// Shared expert(s) of one MoE layer, including Qwen2-MoE's gate.
    pub shared: u64,
    /// Router of one MoE layer (`hidden × experts`).
    pub router: u64,
    /// Final norm.
    pub final_norm: u64,
    /// Copied from the architecture so counts are self-contained.
    pub layers: u64,
    pub moe_layers: u64,
    pub experts: u64,
    pub top_k: u64,
}

impl ParamCounts {
    /// Count every component of `arch`.
    pub fn of(arch: &Architecture) -> ParamCounts {
        let h = arch.hidden;
        let (attention, attn_small) = attention(arch);
        let moe = arch.moe.as_ref();
        let shared_i = moe.map_or(0, |m| m.shared_intermediate);
        let shared_gate = moe.is_some_and(|m| m.shared_gate);
        ParamCounts {
            embedding: arch.vocab * h,
            lm_head: if arch.tie_embeddings {
                0
            } else {
                arch.vocab * h
            },
            attention,
            layer_small: 2 * h + attn_small,
            dense_ffn: ffn(h, arch.dense_intermediate),
            expert: moe.map_or(0, |m| ffn(h, m.expert_intermediate)),
            shared: ffn(h, shared_i) + if shared_gate { h } else { 0 },
            router: moe.map_or(0, |m| h * m.experts),
            final_norm: h,
            layers: arch.layers,
            moe_layers: arch.moe_layers,
            experts: moe.map_or(0, |m| m.experts),
            top_k: moe.map_or(0, |m| m.top_k),
        }
    }

    /// Every parameter stored in the checkpoint (without MTP / draft layers).
    pub fn total(&self) -> u64 {
        self.embeddings() + self.non_expert_layers() + self.moe_layers * self.experts * self.expert
    }

    /// Parameters one token touches: all but the routed experts it skips.
    /// Embeddings are included, as in the published "active" figures.
    pub fn active(&self) -> u64 {
        self.embeddings() + self.non_expert_layers() + self.moe_layers * self.top_k * self.expert
    }

    /// Linear parameters one token multiplies through (no embedding lookup,
    /// no lm_head, no norms): 2 × this is the per-token matmul FLOPs.
    pub fn active_matmul(&self) -> u64 {
        self.layers * self.attention
            + self.dense_layers() * self.dense_ffn
            + self.moe_layers * (self.top_k * self.expert + self.shared + self.router)
    }

    /// Parameters stored at the weight dtype (quantizable linear weights).
    pub fn linear_total(&self) -> u64 {
        self.layers * self.attention
            + self.dense_layers() * self.dense_ffn
            + self.moe_layers * (self.experts * self.expert + self.shared)
    }

    /// Routed-expert parameters of the whole model.
    pub fn routed_experts_total(&self) -> u64 {
        self.moe_layers * self.experts * self.expert
    }

    /// Input embedding plus untied lm_head.
    pub fn embeddings(&self) -> u64 {
        self.embedding + self.lm_head
    }

    fn dense_layers(&self) -> u64 {
        self.layers - self.moe_layers
    }

    /// Everything in the layers except routed experts, plus the final norm.
    fn non_expert_layers(&self) -> u64 {
        self.layers * (self.attention + self.layer_small)
            + self.dense_layers() * self.dense_ffn
            + self.moe_layers * (self.shared + self.router)
            + self.final_norm
    }
}

/// A gated FFN of width `i`: gate, up (`h × i` each) and down (`i × h`).
fn ffn(h: u64, i: u64) -> u64 {
    3 * h * i
}

/// (linear weights, norms + biases) of one attention block.
fn attention(arch: &Architecture) -> (u64, u64) {
    let (h, n) = (arch.hidden, arch.heads);
    match arch.attention {
        Attention::Gqa { kv_heads, head_dim } => {
            let (q, kv) = (n * head_dim, kv_heads * head_dim);
            let linear = h * q + 2 * h * kv + q * h;
            let bias = if arch.qkv_bias { q + 2 * kv } else { 0 };
            let qk_norm = if arch.qk_norm { 2 * head_dim } else { 0 };
            (linear, bias + qk_norm)
        }
        Attention::Mla {
            q_lora_rank,
            kv_lora_rank,
            qk_nope,
            qk_rope,
            v_head,
        } => {
            let q_out = n * (qk_nope + qk_rope);
            let (q, q_norm) = match q_lora_rank {
                Some(r) => (h * r + r * q_out, r),
                None => (h * q_out, 0),
            };
            let kv_a = h * (kv_lora_rank + qk_rope);
            let kv_b = kv_lora_rank * n * (qk_nope + v_head);
            let o = n * v_head * h;
            (q + kv_a + kv_b + o, q_norm + kv_lora_rank)
        }
    }
}
