//! `--set`, `MATRIX_*` and `--gpu` as expansion sees them: `--gpu` as the
//! simulator's `sim_gpu`, overrides of swept keys refused, the cell cap.

use serde_json::Value;

use crate::config::ConfigError;
use crate::config::overrides::Override;
use crate::config::sections::Section;
use crate::config::yaml::Origin;

use super::MatrixError;
use super::axis::{AxisGroup, Target};
use super::expand::ExpandInput;
use super::file::MatrixFile;

/// The engine whose cells `--gpu` selects the simulated GPU of.
pub(super) const SIM_ENGINE: &str = "sim";

/// `--gpu NAME` as an override of the simulator's `sim_gpu`, for the `sim`
/// engine's cells only. The name must be a GPU of `matrix::model`; a
/// `--set sim_gpu=...` (or `MATRIX_SERVER__SIM_GPU`) naming another GPU is
/// refused rather than one silently winning.
pub(super) fn gpu_override(gpu: &str, overrides: &[Override]) -> Result<Override, MatrixError> {
    let origin = || Origin {
        file: "--gpu".into(),
        location: None,
    };
    let wanted = crate::model::gpu(gpu).map_err(|e| MatrixError::Invalid {
        origin: origin(),
        message: e.to_string(),
        hint: e.hint(),
    })?;
    for o in overrides
        .iter()
        .filter(|o| o.section == Section::Server && o.key == "sim_gpu")
    {
        let same = o
            .value
            .as_str()
            .and_then(|v| crate::model::gpu(v).ok())
            .is_some_and(|g| g.name == wanted.name);
        if !same {
            return Err(MatrixError::Invalid {
                origin: origin(),
                message: format!(
                    "`{gpu}` and `{}={}` name different simulated GPUs",
                    o.source,
                    o.value
                        .as_str()
                        .map_or_else(|| o.value.to_string(), str::to_string)
                ),
                hint: Some(
                    "--gpu sets the simulator's sim_gpu; give one of the two, \
                     or the same GPU in both"
                        .into(),
                ),
            });
        }
    }
    Ok(Override {
        section: Section::Server,
        key: "sim_gpu".into(),
        value: Value::String(gpu.to_ascii_lowercase()),
        source: "--gpu".into(),
        engine: Some(SIM_ENGINE.into()),
    })
}

/// `--set` (or MATRIX_*) of a key that is also swept would silently flatten
/// the sweep; refuse it.
pub(super) fn check_override_conflicts(
    groups: &[AxisGroup],
    overrides: &[Override],
) -> Result<(), MatrixError> {
    for o in overrides {
        let t = Target::Key(o.section, o.key.clone());
        if groups
            .iter()
            .any(|g| g.members.iter().any(|a| a.target == t))
        {
            return Err(MatrixError::Config(ConfigError::OverrideConflict {
                source_name: o.source.clone(),
                key: o.key.clone(),
            }));
        }
    }
    Ok(())
}

pub(super) fn cell_cap(
    input: &ExpandInput,
    matrix: Option<&MatrixFile>,
    overrides: &[Override],
) -> u64 {
    let from_set = overrides
        .iter()
        .rev()
        .find(|o| o.section == Section::Run && o.key == "max_cells")
        .and_then(|o| o.value.as_u64());
    let from_file = matrix
        .and_then(|m| m.set.common.run.get("max_cells"))
        .and_then(Value::as_u64);
    input
        .max_cells
        .or(from_set)
        .or(from_file)
        .unwrap_or(100_000)
}
