//! The SGLang server flags the simulator honours, validated.
//!
//! Both entry points take them: `launch-server` serves with them and
//! `one-batch` sizes its KV pool with them, just as SGLang's `one_batch`
//! accepts every `ServerArgs` flag.

use camino::Utf8PathBuf;
use serde::Serialize;

use super::args::{self, RawArgs};
use super::error::SimError;

/// Flags read by the simulator (every other flag is accepted and ignored).
pub const KNOWN: &[&str] = &[
    "--model-path",
    "--model",
    "--host",
    "--port",
    "--tp-size",
    "--tensor-parallel-size",
    "--ep-size",
    "--expert-parallel-size",
    "--ep",
    "--dp-size",
    "--data-parallel-size",
    "--attn-dp-size",
    "--attention-data-parallel-size",
    "--dist-init-addr",
    "--nccl-init-addr",
    "--nnodes",
    "--node-rank",
    "--mem-fraction-static",
    "--max-running-requests",
    "--max-prefill-tokens",
    "--chunked-prefill-size",
    "--served-model-name",
    "--context-length",
    "--log-level",
    "--sim-gpu",
    "--sim-seed",
    "--sim-step-overhead-ms",
    "--sim-noise-cv",
    "--sim-noise-seed",
    "--sim-slowdown",
];

/// Validated server settings. Field names follow SGLang's `ServerArgs`, so
/// `/server_info` reads like the real one.
#[derive(Debug, Clone, Serialize)]
pub struct ServerArgs {
    pub model_path: Utf8PathBuf,
    pub host: String,
    pub port: u16,
    pub tp_size: u32,
    pub ep_size: u32,
    pub dp_size: u32,
    pub attn_dp_size: u32,
    pub dist_init_addr: Option<String>,
    pub nnodes: u32,
    pub node_rank: u32,
    pub mem_fraction_static: f64,
    pub max_running_requests: Option<u32>,
    pub max_prefill_tokens: u64,
    /// `-1` (or any value below 1) disables chunking, as in SGLang.
    pub chunked_prefill_size: i64,
    pub served_model_name: String,
    pub context_length: Option<u64>,
    pub log_level: String,
    pub sim_gpu: String,
    pub sim_seed: u64,
    pub sim_step_overhead_ms: f64,
    /// Flags given but not modelled, kept for the debug log.
    #[serde(skip)]
    pub ignored: Vec<String>,
}

impl ServerArgs {
    /// Validate the flags the simulator reads. `extra_known` lists flags the
    /// caller handles itself (one-batch's benchmark flags).
    pub fn from_raw(raw: &RawArgs, extra_known: &[&str]) -> Result<Self, SimError> {
        let model_path = raw
            .str(&["--model-path", "--model"])?
            .ok_or(SimError::MissingFlag("--model-path"))?;
        let model_path = Utf8PathBuf::from(model_path);
        let tp_size = count(raw, &["--tp-size", "--tensor-parallel-size"])?;
        let ep_size = count(raw, &["--ep-size", "--expert-parallel-size", "--ep"])?;
        let dp_size = count(raw, &["--dp-size", "--data-parallel-size"])?;
        let attn_dp_size = count(raw, &["--attn-dp-size", "--attention-data-parallel-size"])?;
        let nnodes = count(raw, &["--nnodes"])?;
        let node_rank = raw
            .parsed(&["--node-rank"], args::non_negative)?
            .unwrap_or(0);
        let known: Vec<&str> = KNOWN.iter().chain(extra_known).copied().collect();
        let parsed = ServerArgs {
            served_model_name: raw
                .str(&["--served-model-name"])?
                .map(String::from)
                .unwrap_or_else(|| model_path.to_string()),
            model_path,
            host: raw.str(&["--host"])?.unwrap_or("127.0.0.1").to_string(),
            port: port(raw)?,
            tp_size,
            ep_size,
            dp_size,
            attn_dp_size,
            dist_init_addr: raw
                .str(&["--dist-init-addr", "--nccl-init-addr"])?
                .map(String::from),
            nnodes,
            node_rank: small(node_rank, "--node-rank")?,
            mem_fraction_static: fraction(raw)?,
            max_running_requests: raw
                .parsed(&["--max-running-requests"], args::positive)?
                .map(|v| small(v, "--max-running-requests"))
                .transpose()?,
            max_prefill_tokens: raw
                .parsed(&["--max-prefill-tokens"], positive_human)?
                .unwrap_or(16384),
            chunked_prefill_size: raw
                .parsed(&["--chunked-prefill-size"], args::int)?
                .unwrap_or(8192),
            context_length: raw.parsed(&["--context-length"], positive_human)?,
            log_level: raw.str(&["--log-level"])?.unwrap_or("info").to_string(),
            sim_gpu: raw.str(&["--sim-gpu"])?.unwrap_or("h100").to_string(),
            sim_seed: raw
                .parsed(&["--sim-seed"], args::non_negative)?
                .unwrap_or(0),
            sim_step_overhead_ms: overhead(raw)?,
            ignored: raw.unknown(&known).into_iter().map(String::from).collect(),
        };
        parsed.check_topology()?;
        Ok(parsed)
    }

    /// Cross-flag rules SGLang enforces at startup.
    fn check_topology(&self) -> Result<(), SimError> {
        if self.tp_size % self.ep_size != 0 {
            return Err(SimError::bad_flag(
                "--ep-size",
                &self.ep_size.to_string(),
                format!("must divide --tp-size {}", self.tp_size),
            ));
        }
        if self.tp_size % self.attn_dp_size != 0 {
            return Err(SimError::bad_flag(
                "--attn-dp-size",
                &self.attn_dp_size.to_string(),
                format!("must divide --tp-size {}", self.tp_size),
            ));
        }
        if self.node_rank >= self.nnodes {
            return Err(SimError::bad_flag(
                "--node-rank",
                &self.node_rank.to_string(),
                format!("must be below --nnodes {}", self.nnodes),
            ));
        }
        if self.nnodes > 1 && self.dist_init_addr.is_none() {
            return Err(SimError::MissingFlag(
                "--dist-init-addr (needed with --nnodes > 1)",
            ));
        }
        Ok(())
    }

    /// Whether the debug log level was asked for.
    pub fn debug(&self) -> bool {
        self.log_level.eq_ignore_ascii_case("debug")
    }
}

fn count(raw: &RawArgs, aliases: &[&str]) -> Result<u32, SimError> {
    let v = raw.parsed(aliases, args::positive)?.unwrap_or(1);
    small(v, aliases[0])
}

fn small(v: u64, flag: &str) -> Result<u32, SimError> {
    u32::try_from(v).map_err(|_| SimError::bad_flag(flag, &v.to_string(), "too large"))
}

fn port(raw: &RawArgs) -> Result<u16, SimError> {
    let v = raw
        .parsed(&["--port"], args::non_negative)?
        .unwrap_or(30000);
    u16::try_from(v).map_err(|_| SimError::bad_flag("--port", &v.to_string(), "not a TCP port"))
}

fn fraction(raw: &RawArgs) -> Result<f64, SimError> {
    let v = raw
        .parsed(&["--mem-fraction-static"], args::float)?
        .unwrap_or(0.88);
    if v > 0.0 && v < 1.0 {
        Ok(v)
    } else {
        Err(SimError::bad_flag(
            "--mem-fraction-static",
            &v.to_string(),
            "must be between 0 and 1",
        ))
    }
}

fn overhead(raw: &RawArgs) -> Result<f64, SimError> {
    let v = raw
        .parsed(&["--sim-step-overhead-ms"], args::float)?
        .unwrap_or(0.5);
    if v >= 0.0 {
        Ok(v)
    } else {
        Err(SimError::bad_flag(
            "--sim-step-overhead-ms",
            &v.to_string(),
            "must not be negative",
        ))
    }
}

fn positive_human(raw: &str) -> Result<u64, String> {
    match args::human_int(raw)? {
        n if n >= 1 => Ok(n as u64),
        _ => Err("must be at least 1".into()),
    }
}
