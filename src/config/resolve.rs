//! Resolving one choice of layer files into merged sections.

use super::ConfigError;
use super::layer::{LayerKind, LayerStore};
use super::merge::{MergeInput, Resolved, merge};

/// Which files of each layer kind to merge, and for which engine.
#[derive(Debug, Clone, Copy)]
pub struct LayerNames<'a> {
    pub base: &'a str,
    pub deploy: Option<&'a str>,
    pub backend: Option<&'a str>,
    pub optional: Option<&'a str>,
    pub engine: &'a str,
}

/// Merge built-in defaults, the layer files (with their `engines.<engine>`
/// blocks), then `later` (matrix file, --set, environment) in order.
pub fn resolve(
    store: &LayerStore,
    names: LayerNames<'_>,
    later: &[MergeInput],
) -> Result<Resolved, ConfigError> {
    let mut inputs = vec![MergeInput::defaults()];
    let layers = [
        (LayerKind::Base, Some(names.base)),
        (LayerKind::Deploy, names.deploy),
        (LayerKind::Backend, names.backend),
        (LayerKind::Optional, names.optional),
    ];
    for (kind, name) in layers {
        if let Some(name) = name {
            let layer = store.get(kind, name).map_err(|mut e| {
                // A flat-style layer's keys are checked against the flags of
                // the engine being planned.
                if let Some(f) = e.flat_mut() {
                    f.engine.get_or_insert_with(|| names.engine.to_string());
                }
                e
            })?;
            inputs.push(MergeInput {
                source: layer.file.display.clone(),
                sections: layer.sections.for_engine(names.engine),
            });
        }
    }
    inputs.extend_from_slice(later);
    merge(&inputs)
}
