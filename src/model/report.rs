//! The `matrix model-info` report: one [`ModelInfo`] computed from a spec, a
//! GPU and a request, rendered as aligned text or as JSON.

use serde::Serialize;

use super::config::Attention;
use super::cost::Cost;
use super::gpu::{Gpu, Roofline, roofline};
use super::spec::ModelSpec;
use super::units::{count, seconds, si};

/// Every number the report shows. Field names carry their units; this is
/// also the `--json` schema.
#[derive(Clone, Debug, Serialize)]
pub struct ModelInfo {
    pub config: String,
    pub model_type: String,
    pub layers: u64,
    pub moe_layers: u64,
    pub hidden_size: u64,
    pub attention_heads: u64,
    pub attention: &'static str,
    /// KV heads × head dim (GQA) or latent + rope widths (MLA), in words.
    pub attention_shape: String,
    pub routed_experts: u64,
    pub experts_per_token: u64,
    pub weight_dtype: &'static str,
    pub kv_cache_dtype: &'static str,
    pub params_total: u64,
    pub params_active: u64,
    pub weight_bytes: f64,
    pub kv_bytes_per_token: f64,
    pub gpu: &'static str,
    pub tp: u32,
    pub ep: u32,
    pub bsz: u64,
    pub seq: u64,
    pub gpu_peak_flops_per_s: f64,
    pub gpu_hbm_bytes_per_s: f64,
    pub gpu_memory_bytes: f64,
    pub ridge_flops_per_byte: f64,
    pub prefill: Phase,
    pub decode: Phase,
    pub decode_tokens_per_s: f64,
    pub decode_tokens_per_s_per_seq: f64,
    pub kv_cache_bytes: f64,
    pub memory_needed_bytes: f64,
    pub memory_capacity_bytes: f64,
    pub fits_in_memory: bool,
}

/// Cost and roofline of one phase (a prefill, or one decode step).
#[derive(Clone, Debug, Serialize)]
pub struct Phase {
    pub flops: f64,
    pub bytes: f64,
    pub flops_per_byte: f64,
    pub seconds: f64,
    pub compute_seconds: f64,
    pub memory_seconds: f64,
    pub bound: &'static str,
}

impl Phase {
    fn new(cost: Cost, r: Roofline) -> Phase {
        Phase {
            flops: cost.flops,
            bytes: cost.bytes,
            flops_per_byte: cost.intensity(),
            seconds: r.seconds(),
            compute_seconds: r.compute_seconds,
            memory_seconds: r.memory_seconds,
            bound: if r.compute_bound() {
                "compute"
            } else {
                "memory"
            },
        }
    }
}

/// What to evaluate: the GPU, how many of them, and the batch shape.
#[derive(Clone, Copy, Debug)]
pub struct Setup<'a> {
    pub gpu: &'a Gpu,
    pub tp: u32,
    pub ep: u32,
    pub bsz: u64,
    pub seq: u64,
}

impl ModelInfo {
    /// Evaluate `spec` on `setup`; `config` is the path shown in the report.
    pub fn compute(spec: &ModelSpec, setup: Setup<'_>, config: &str) -> ModelInfo {
        let (g, fp8) = (setup.gpu, spec.is_fp8());
        let arch = spec.architecture();
        let prefill = spec.prefill_cost(setup.bsz, setup.seq);
        let decode = spec.decode_cost(setup.bsz, setup.seq);
        let decode = Phase::new(decode, roofline(decode, g, setup.tp, fp8));
        let kv_cache_bytes = spec.kv_bytes_per_token() * (setup.bsz * (setup.seq + 1)) as f64;
        let memory_needed_bytes = spec.weight_bytes() + kv_cache_bytes;
        let memory_capacity_bytes = g.memory_bytes * f64::from(setup.tp);
        let moe = arch.moe.as_ref();
        ModelInfo {
            config: config.to_string(),
            model_type: spec.model_type().to_string(),
            layers: arch.layers,
            moe_layers: arch.moe_layers,
            hidden_size: arch.hidden,
            attention_heads: arch.heads,
            attention: match arch.attention {
                Attention::Gqa { .. } => "gqa",
                Attention::Mla { .. } => "mla",
            },
            attention_shape: attention_shape(&arch.attention),
            routed_experts: moe.map_or(0, |m| m.experts),
            experts_per_token: moe.map_or(0, |m| m.top_k),
            weight_dtype: spec.weight_dtype().name,
            kv_cache_dtype: spec.kv_cache_dtype().name,
            params_total: spec.params_total(),
            params_active: spec.params_active(),
            weight_bytes: spec.weight_bytes(),
            kv_bytes_per_token: spec.kv_bytes_per_token(),
            gpu: g.name,
            tp: setup.tp,
            ep: setup.ep,
            bsz: setup.bsz,
            seq: setup.seq,
            gpu_peak_flops_per_s: g.peak_flops(fp8),
            gpu_hbm_bytes_per_s: g.hbm_bytes_per_s,
            gpu_memory_bytes: g.memory_bytes,
            ridge_flops_per_byte: g.ridge_point(fp8),
            prefill: Phase::new(prefill, roofline(prefill, g, setup.tp, fp8)),
            decode_tokens_per_s: setup.bsz as f64 / decode.seconds,
            decode_tokens_per_s_per_seq: 1.0 / decode.seconds,
            decode,
            kv_cache_bytes,
            memory_needed_bytes,
            memory_capacity_bytes,
            fits_in_memory: memory_needed_bytes <= memory_capacity_bytes,
        }
    }

    /// Pretty JSON, ending in a newline.
    pub fn to_json(&self) -> String {
        // Serializing plain numbers, strings and bools cannot fail.
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// The aligned text report.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for block in [
            self.model_block(),
            self.params_block(),
            self.setup_block(),
            self.phase_block(),
        ] {
            out.push_str(&block);
            out.push('\n');
        }
        out.push_str(&self.outcome_block());
        out
    }

    fn model_block(&self) -> String {
        let attention = &self.attention_shape;
        let experts = if self.routed_experts > 0 {
            format!(
                "{} routed, top-{} per token, {} of {} layers MoE",
                self.routed_experts, self.experts_per_token, self.moe_layers, self.layers
            )
        } else {
            "none (dense)".to_string()
        };
        format!(
            "model       {}  {}\n\
             shape       {} layers, hidden {}, {} heads, {attention}\n\
             experts     {experts}\n\
             dtypes      weights {}, KV cache {}\n",
            self.model_type,
            self.config,
            self.layers,
            self.hidden_size,
            self.attention_heads,
            self.weight_dtype,
            self.kv_cache_dtype,
        )
    }

    fn params_block(&self) -> String {
        format!(
            "parameters  total   {:>10}  {:>16}\n\
             \x20           active  {:>10}  {:>16}\n\
             weights     {}\n\
             KV cache    {} per token ({} B)\n",
            count(self.params_total),
            self.params_total,
            count(self.params_active),
            self.params_active,
            si(self.weight_bytes, "B"),
            si(self.kv_bytes_per_token, "B"),
            self.kv_bytes_per_token,
        )
    }

    fn setup_block(&self) -> String {
        format!(
            "setup       {} x {} (tp {}, ep {}), bsz {}, seq {}\n\
             per GPU     {}/s {}, {}/s HBM, {} memory\n\
             ridge       {:.1} FLOP/byte\n",
            self.gpu,
            self.tp,
            self.tp,
            self.ep,
            self.bsz,
            self.seq,
            si(self.gpu_peak_flops_per_s, "FLOP"),
            self.weight_dtype_peak_name(),
            si(self.gpu_hbm_bytes_per_s, "B"),
            si(self.gpu_memory_bytes, "B"),
            self.ridge_flops_per_byte,
        )
    }

    fn weight_dtype_peak_name(&self) -> &'static str {
        if self.weight_dtype == "fp8" {
            "fp8"
        } else {
            "bf16"
        }
    }

    fn phase_block(&self) -> String {
        let header = format!(
            "{:<18} {:>13} {:>12} {:>10} {:>11}  {}\n",
            "phase", "FLOPs", "bytes", "FLOP/B", "roofline", "bound"
        );
        let prefill = phase_row(&format!("prefill {}x{}", self.bsz, self.seq), &self.prefill);
        let decode = phase_row(&format!("decode {}@{}", self.bsz, self.seq), &self.decode);
        header + &prefill + &decode
    }

    fn outcome_block(&self) -> String {
        let verdict = if self.fits_in_memory {
            "fits"
        } else {
            "does NOT fit"
        };
        format!(
            "decode      {:.1} tok/s ({:.1} tok/s per sequence)\n\
             memory      weights {} + KV {} = {} of {} ({} x {}): {verdict}\n",
            self.decode_tokens_per_s,
            self.decode_tokens_per_s_per_seq,
            si(self.weight_bytes, "B"),
            si(self.kv_cache_bytes, "B"),
            si(self.memory_needed_bytes, "B"),
            si(self.memory_capacity_bytes, "B"),
            self.tp,
            si(self.gpu_memory_bytes, "B"),
        )
    }
}

fn attention_shape(a: &Attention) -> String {
    match a {
        Attention::Gqa { kv_heads, head_dim } => format!("GQA {kv_heads} KV heads x {head_dim}"),
        Attention::Mla {
            kv_lora_rank,
            qk_rope,
            ..
        } => {
            format!("MLA latent {kv_lora_rank} + rope {qk_rope}")
        }
    }
}

fn phase_row(label: &str, p: &Phase) -> String {
    format!(
        "{label:<18} {:>13} {:>12} {:>10.1} {:>11}  {}\n",
        si(p.flops, "FLOP"),
        si(p.bytes, "B"),
        p.flops_per_byte,
        seconds(p.seconds),
        p.bound
    )
}
