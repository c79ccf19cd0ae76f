//! Cells and their server-side setups.

use std::collections::BTreeMap;
use std::sync::Arc;

use camino::Utf8PathBuf;
use indexmap::IndexMap;
use serde::Serialize;
use serde_json::Value;

use crate::config::{JsonMap, Resolved};

use super::scope;

/// The layer and run choices of a setup.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Choices {
    pub mode: String,
    pub model: String,
    pub mconf: String,
    pub base: String,
    pub deploy: Option<String>,
    pub backend: Option<String>,
    pub optional: Option<String>,
    pub engine: String,
}

/// Everything that decides the server: choices, merged sections, and where
/// every key came from. Shared (`Arc`) by all cells that use it.
#[derive(Debug)]
pub struct Setup {
    pub choices: Choices,
    pub resolved: Resolved,
    /// `model_conf/<model>/config_<mconf>.json`.
    pub config_path: Utf8PathBuf,
    /// Stable hash of the canonical server-side form.
    pub hash: String,
    /// The setup's variables for templates and expressions.
    pub vars: minijinja::Value,
}

impl Setup {
    pub fn new(choices: Choices, resolved: Resolved, config_path: Utf8PathBuf) -> Self {
        let hash = hash_of(&canonical_setup(&choices, &resolved));
        let vars = scope::setup_vars(&choices, &resolved);
        Setup {
            choices,
            resolved,
            config_path,
            hash,
            vars,
        }
    }

    pub fn server(&self) -> &JsonMap {
        &self.resolved.sections.server
    }

    /// An integer server key, or 1 when unset (parallel sizes).
    pub fn size(&self, key: &str) -> u64 {
        self.server().get(key).and_then(Value::as_u64).unwrap_or(1)
    }
}

/// One point of the matrix.
#[derive(Debug, Clone)]
pub struct Cell {
    /// Stable id: hash of the canonical resolved form.
    pub id: String,
    /// Every axis value, in axis order, including `bsz` and `seq`.
    pub axes: IndexMap<String, Value>,
    pub setup: Arc<Setup>,
    /// Resolved workload: layer defaults, axis values, derived values.
    pub workload: JsonMap,
    /// bsz_seq.csv line the cell came from (latency grouping).
    pub line: Option<usize>,
}

impl Cell {
    pub fn new(
        axes: IndexMap<String, Value>,
        setup: Arc<Setup>,
        workload: JsonMap,
        line: Option<usize>,
    ) -> Self {
        let id = cell_id(&setup.hash, &workload);
        Cell {
            id,
            axes,
            setup,
            workload,
            line,
        }
    }

    pub fn mode(&self) -> &str {
        &self.setup.choices.mode
    }

    pub fn workload_u64(&self, key: &str) -> Option<u64> {
        self.workload.get(key).and_then(Value::as_u64)
    }
}

/// `c` + 12 hex digits of blake3 over the setup hash and the workload.
fn cell_id(setup_hash: &str, workload: &JsonMap) -> String {
    let sorted: BTreeMap<&String, &Value> = workload.iter().collect();
    let text = serde_json::to_string(&(setup_hash, sorted)).unwrap_or_default();
    format!("c{}", &hash_of(&text)[..12])
}

/// The canonical form of a setup: choices, server, env (sorted keys). Run
/// settings (ports, timeouts) do not change what is measured.
fn canonical_setup(choices: &Choices, resolved: &Resolved) -> String {
    let s = &resolved.sections;
    let server: BTreeMap<&String, &Value> = s.server.iter().collect();
    let env: BTreeMap<&String, &Value> = s.env.iter().collect();
    serde_json::to_string(&(choices, server, env)).unwrap_or_default()
}

pub fn hash_of(text: &str) -> String {
    blake3::hash(text.as_bytes()).to_hex().to_string()
}
