//! Cost model of a decoder-only transformer, from its HF `config.json`.
//!
//! [`ModelSpec`] parses a config (dense, GQA, MoE and MLA families), counts
//! parameters, and prices one forward step of a mixed batch in FLOPs and HBM
//! bytes ([`ModelSpec::step_cost`]). [`gpu()`] looks up published accelerator
//! peaks, and [`roofline_seconds`] turns a [`Cost`] into a lower bound on step
//! time. The simulator calls `step_cost` once per scheduler step; the runner
//! uses the same costs for MFU / MBU columns ([`mfu`], [`mbu`]).
//! `matrix model-info` prints all of it ([`model_info`]).
//!
//! Formulas and assumptions: `docs/MODEL.md`.

mod config;
mod cost;
mod dtype;
mod error;
mod gpu;
mod keys;
mod params;
mod report;
mod spec;
mod units;

#[cfg(test)]
mod tests;

use camino::Utf8PathBuf;

pub use config::{Architecture, Attention, Moe, SUPPORTED_MODEL_TYPES};
pub use cost::{Cost, SeqStep};
pub use dtype::DType;
pub use error::ModelError;
pub use gpu::{Gpu, Roofline, gpu, gpus, mbu, mfu, roofline, roofline_seconds};
pub use params::ParamCounts;
pub use report::{ModelInfo, Phase, Setup};
pub use spec::ModelSpec;

/// What `matrix model-info` asks for.
#[derive(Debug, Clone)]
pub struct ModelInfoRequest {
    pub config_path: Utf8PathBuf,
    pub gpu: String,
    pub tp: u32,
    pub ep: u32,
    pub bsz: u64,
    pub seq: u64,
    pub json: bool,
}

/// The text (or JSON) report `matrix model-info` prints.
pub fn model_info(req: &ModelInfoRequest) -> Result<String, ModelError> {
    check_request(req)?;
    let gpu = gpu(&req.gpu)?;
    let spec = ModelSpec::from_file(&req.config_path)?;
    let setup = Setup {
        gpu,
        tp: req.tp,
        ep: req.ep,
        bsz: req.bsz,
        seq: req.seq,
    };
    let info = ModelInfo::compute(&spec, setup, req.config_path.as_str());
    Ok(if req.json {
        info.to_json()
    } else {
        info.to_text()
    })
}

/// Zero sizes make no sense; expert parallelism shards experts inside the
/// tensor-parallel group (as SGLang does), so `ep` must divide `tp`.
fn check_request(req: &ModelInfoRequest) -> Result<(), ModelError> {
    let bad = |what: &str, hint: &str| {
        Err(ModelError::BadRequest {
            what: what.to_string(),
            hint: hint.to_string(),
        })
    };
    if req.tp == 0 || req.ep == 0 || req.bsz == 0 || req.seq == 0 {
        return bad(
            "--tp, --ep, --bsz and --seq must be at least 1",
            "pass positive values",
        );
    }
    if req.tp % req.ep != 0 {
        return bad(
            &format!("--ep {} does not divide --tp {}", req.ep, req.tp),
            "experts are sharded inside the tensor-parallel group: pick ep dividing tp",
        );
    }
    Ok(())
}
