//! The deployment the flags describe: GPU count, KV pool size and the
//! scheduler limits SGLang derives from them.

use serde::Serialize;

use super::cost::{Gpu, SimModel};
use super::error::SimError;
use super::server_args::ServerArgs;

/// Sizes derived once at start-up; reported in the logs and `/server_info`.
#[derive(Debug, Clone, Serialize)]
pub struct Deployment {
    pub gpu: String,
    pub n_gpus: u32,
    /// Full weight copies (one per DP replica without attention-DP).
    pub weight_copies: u32,
    pub weight_bytes: f64,
    pub kv_bytes_per_token: f64,
    pub max_total_num_tokens: u64,
    pub max_running_requests: u32,
    pub max_prefill_tokens: u64,
    /// 0 when chunked prefill is disabled.
    pub chunked_prefill_size: u64,
    pub context_len: u64,
}

impl Deployment {
    /// KV capacity = `mem_fraction_static × GPU memory × gpus − weight bytes ×
    /// copies`, divided by KV bytes per token.
    pub fn new(args: &ServerArgs, model: &SimModel, gpu: &Gpu) -> Result<Self, SimError> {
        let n_gpus = gpu_count(args);
        let weight_copies = if args.attn_dp_size > 1 {
            1
        } else {
            args.dp_size
        };
        let budget = args.mem_fraction_static * gpu.memory_bytes * f64::from(n_gpus);
        let weights = model.weight_bytes() * f64::from(weight_copies);
        let kv_bytes_per_token = model.kv_bytes_per_token();
        let tokens = ((budget - weights) / kv_bytes_per_token).floor();
        if tokens < 1.0 {
            return Err(SimError::NoKvRoom {
                weight_gb: weights / 1e9,
                budget_gb: budget / 1e9,
            });
        }
        let max_total_num_tokens = tokens as u64;
        let context_len = args
            .context_length
            .or(model.max_position_embeddings())
            .unwrap_or(32768);
        Ok(Deployment {
            gpu: gpu.name.to_string(),
            n_gpus,
            weight_copies,
            weight_bytes: model.weight_bytes(),
            kv_bytes_per_token,
            max_total_num_tokens,
            max_running_requests: running_limit(args, max_total_num_tokens, context_len),
            max_prefill_tokens: args.max_prefill_tokens,
            chunked_prefill_size: u64::try_from(args.chunked_prefill_size).unwrap_or(0),
            context_len,
        })
    }

    /// Bytes of KV cache in the pool, for the `KV Cache is allocated` line.
    pub fn kv_pool_bytes(&self) -> f64 {
        self.max_total_num_tokens as f64 * self.kv_bytes_per_token
    }

    /// Whether one request can ever fit the pool.
    pub fn fits(&self, prompt: u64, max_new: u64) -> bool {
        prompt.saturating_add(max_new) <= self.max_total_num_tokens
    }
}

/// Pre-flight (`matrix plan`/`run`): would a server started with `flags`
/// (SGLang server flags; `--model-path` may name a folder not staged yet)
/// have room for any KV cache with the model `config`? The same
/// arithmetic as start-up, [`Deployment::new`]: `Err(SimError::NoKvRoom)`
/// when it has none. Other errors are the flags' or the config's own.
pub fn check_fit(flags: &[String], config: &camino::Utf8Path) -> Result<(), SimError> {
    let raw = super::args::RawArgs::parse(flags)?;
    let args = ServerArgs::from_raw(&raw, &[])?;
    let model = SimModel::load(config)?;
    let gpu = super::cost::gpu(&args.sim_gpu)?;
    Deployment::new(&args, &model, gpu).map(|_| ())
}

/// See [`super::timing::RooflineTimer`] for why this is the GPU count.
pub fn gpu_count(args: &ServerArgs) -> u32 {
    if args.attn_dp_size > 1 {
        args.tp_size
    } else {
        args.tp_size.saturating_mul(args.dp_size)
    }
}

/// SGLang sizes its request pool from the KV pool and context length,
/// clamped to [2048, 4096], unless `--max-running-requests` says otherwise.
fn running_limit(args: &ServerArgs, max_tokens: u64, context_len: u64) -> u32 {
    if let Some(n) = args.max_running_requests {
        return n;
    }
    let derived = (max_tokens / context_len.max(1)).saturating_mul(512);
    derived.clamp(2048, 4096) as u32
}
