//! `matrix model-info`: a model config's parameters, FLOPs and bytes.

use camino::{Utf8Path, Utf8PathBuf};

use crate::Error;

use super::write_stdout;

/// What `matrix model-info` needs: a model directory and mconf, or a
/// config.json path.
#[derive(Debug, Clone, Default)]
pub struct ModelInfoRequest {
    pub model: Option<String>,
    pub mconf: String,
    pub config: Option<Utf8PathBuf>,
    pub gpu: String,
    pub tp: u32,
    pub ep: u32,
    pub bsz: u64,
    pub seq: u64,
    pub json: bool,
}

/// `matrix model-info`: the report on stdout.
pub fn run(root: &Utf8Path, a: ModelInfoRequest) -> Result<i32, Error> {
    let config_path = match a.config {
        Some(p) => p,
        None => crate::config::model_dir::config_path(
            root,
            a.model.as_deref().unwrap_or_default(),
            &a.mconf,
        )?,
    };
    let req = crate::model::ModelInfoRequest {
        config_path,
        gpu: a.gpu,
        tp: a.tp,
        ep: a.ep,
        bsz: a.bsz,
        seq: a.seq,
        json: a.json,
    };
    let text = crate::model::model_info(&req)?;
    write_stdout(|out| out.write_all(text.as_bytes()))?;
    Ok(0)
}
