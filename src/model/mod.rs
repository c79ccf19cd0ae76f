//! Cost model of a transformer from its HF `config.json` (to be filled by the
//! model work: parameters, FLOPs, bytes, roofline).

use camino::Utf8PathBuf;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ModelError {
    #[error("the cost model is not built yet")]
    NotBuilt,
}

impl ModelError {
    pub fn hint(&self) -> Option<String> {
        None
    }
}

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
pub fn model_info(_req: &ModelInfoRequest) -> Result<String, ModelError> {
    Err(ModelError::NotBuilt)
}
