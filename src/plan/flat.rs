//! Flat-style layers: a file with engine flags at its top level (the style
//! of ltp-sglang's `conf/*.yaml`) is refused by the config stage, which
//! cannot see the engine's flags. Here, where the flag tables are loaded,
//! each of its keys is told apart: a known flag is shown as the
//! `server.<key>` it should be, a misspelt one gets the did-you-mean against
//! the engine's flags.

use camino::Utf8Path;

use crate::config::engine::EngineProfile;
use crate::config::sections::server_key;
use crate::config::{ConfigError, FlatFix, FlatStyle};
use crate::matrix::MatrixError;

use super::PlanError;
use super::source::{self, Preference};

/// The engine whose names common `server:` keys use, for a file read before
/// any engine was chosen (a matrix file's `set:`).
const DEFAULT_ENGINE: &str = "sglang";

/// Sort out the keys of a flat-style file in `e`, if it is one; any other
/// error is returned as it is.
pub fn explain(mut e: PlanError, root: &Utf8Path, pref: Preference) -> PlanError {
    let flat = match &mut e {
        PlanError::Config(c) | PlanError::Matrix(MatrixError::Config(c)) => c.flat_mut(),
        _ => None,
    };
    if let Some(flat) = flat {
        classify(flat, root, pref);
    }
    e
}

/// [`explain`] for an error of the config stage.
pub fn explain_config(mut e: ConfigError, root: &Utf8Path, pref: Preference) -> ConfigError {
    if let Some(flat) = e.flat_mut() {
        classify(flat, root, pref);
    }
    e
}

/// Check each unchecked key against the engine's flags. When the profile or
/// its tables cannot be loaded the keys stay unchecked: the message then
/// says `server.<key>` "if it is an engine flag" rather than guessing.
fn classify(flat: &mut FlatStyle, root: &Utf8Path, pref: Preference) {
    let engine = flat
        .engine
        .get_or_insert_with(|| DEFAULT_ENGINE.to_string())
        .clone();
    let Ok(profile) = EngineProfile::load(root, &engine) else {
        return;
    };
    let Ok(flags) = source::load(&profile, pref) else {
        return;
    };
    let spec = &profile.spec;
    // Common keys use SGLang's names; an engine that renames them says so in
    // `translate:`, so those names are its keys too.
    let known: Vec<String> = flags
        .server
        .keys()
        .chain(flags.extra.iter().cloned())
        .chain(spec.translate.keys().cloned())
        .collect();
    for k in &mut flat.keys {
        if k.fix != FlatFix::Unchecked {
            continue;
        }
        let key = server_key(&k.key);
        k.fix = if let Some(how) = spec.managed.get(&key) {
            FlatFix::Managed(how.clone())
        } else if known.contains(&key) {
            FlatFix::Flag
        } else {
            FlatFix::Unknown {
                suggestion: crate::suggest::did_you_mean(&key, known.iter().map(String::as_str)),
            }
        };
    }
    flat.checked_against = Some(flags.server.source.clone());
}
