//! Resolving one choice of layer files into merged sections: the one layer
//! merge. Expansion (every cell's setup) and `matrix show-config` both call
//! [`resolve`], so what show-config prints is what a plan uses.

use super::ConfigError;
use super::layer::{Choice, LayerStore};
use super::merge::{MergeInput, Resolved, merge};
use super::overrides::Override;
use super::sections::ScopedSections;

/// Which files of each layer kind to merge, and for which engine.
#[derive(Debug, Clone, Copy)]
pub struct LayerNames<'a> {
    pub base: &'a str,
    pub deploy: Option<&'a str>,
    pub backend: Option<&'a str>,
    pub optional: Option<&'a str>,
    pub engine: &'a str,
}

/// What is merged over the layer files, in order.
#[derive(Debug, Clone, Copy, Default)]
pub struct Later<'a> {
    /// The matrix file's `set:` (its `engines.<engine>` block applies), with
    /// the name the file is shown by.
    pub file: Option<(&'a str, &'a ScopedSections)>,
    /// `--set`, `MATRIX_*` and `--gpu`, in order; one scoped to another
    /// engine is skipped.
    pub overrides: &'a [Override],
}

/// Merge built-in defaults, the layer files (with their `engines.<engine>`
/// blocks), the matrix file's `set:`, then the overrides that apply to the
/// engine, in that order (later wins).
pub fn resolve(
    store: &LayerStore,
    names: LayerNames<'_>,
    later: Later<'_>,
) -> Result<Resolved, ConfigError> {
    let mut inputs = vec![MergeInput::defaults()];
    let layers = [
        Some(names.base),
        names.deploy,
        names.backend,
        names.optional,
    ];
    for (kind, name) in Choice::LAYERS.into_iter().zip(layers) {
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
    if let Some((source, set)) = later.file {
        inputs.push(MergeInput {
            source: source.to_string(),
            sections: set.for_engine(names.engine),
        });
    }
    inputs.extend(
        later
            .overrides
            .iter()
            .filter(|o| o.applies_to(names.engine))
            .map(MergeInput::from_override),
    );
    merge(&inputs)
}
