//! `matrix compare`'s report as data: what every output format (terminal,
//! markdown, HTML, JSON) renders.

use serde::{Deserialize, Serialize};

use crate::record::db::CellKey;
use crate::report::stats::{Comparison, Verdict};

/// One side of a comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Side {
    /// What the user asked for (`latest~1`, a run id, a folder).
    pub selector: String,
    pub run_id: String,
    pub started_at: Option<String>,
    pub engine: Option<String>,
    pub engine_version: Option<String>,
    pub image: Option<String>,
    pub git_sha: Option<String>,
    pub host: Option<String>,
    pub gpu: Option<String>,
    /// Run-level values (sglang-ci's GSM8K accuracy).
    pub extras: indexmap::IndexMap<String, f64>,
}

/// A difference between the two runs' manifests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestDiff {
    /// `engine version`, `image`, `driver`, `host`, `flag --mem-fraction-static`, ...
    pub what: String,
    /// `None`: absent on that side.
    pub base: Option<String>,
    pub new: Option<String>,
}

/// One metric of one matched cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub key: CellKey,
    /// The key's varying part as a person reads it (`deploy=tp8 bsz=64`).
    pub label: String,
    pub metric: String,
    pub comparison: Comparison,
}

/// `matrix compare BASE NEW`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompareReport {
    pub base: Side,
    pub new: Side,
    pub manifest_diffs: Vec<ManifestDiff>,
    /// `--min-effect`, in percent.
    pub min_effect_pct: f64,
    /// False discovery rate the verdicts are controlled at.
    pub alpha: f64,
    pub rows: Vec<Row>,
    /// Cells (labels) only one side has: not compared.
    pub only_base: Vec<String>,
    pub only_new: Vec<String>,
    /// Cells on a side without an `ok` status: not compared.
    pub failed: Vec<String>,
}

impl CompareReport {
    /// Rows with this verdict.
    pub fn count(&self, v: Verdict) -> usize {
        self.rows
            .iter()
            .filter(|r| r.comparison.verdict == v)
            .count()
    }

    /// 1 when any regression was found, else 0.
    pub fn exit_code(&self) -> i32 {
        i32::from(self.count(Verdict::Regression) > 0)
    }
}

/// Settings of a comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompareOptions {
    /// `--min-effect`, percent (default 3).
    pub min_effect_pct: f64,
    /// False discovery rate (default 0.05).
    pub alpha: f64,
    /// Seed of any resampling (results are reproducible).
    pub seed: u64,
    /// Only these metrics (`--metric`); all judged metrics when `None`.
    pub metrics: Option<Vec<String>>,
}

impl Default for CompareOptions {
    fn default() -> Self {
        CompareOptions {
            min_effect_pct: 3.0,
            alpha: 0.05,
            seed: 0,
            metrics: None,
        }
    }
}

/// Where one-sample comparisons find a cell's own noise: the values of a
/// metric of a cell in earlier runs (oldest first; BASE and NEW left out).
pub trait HistorySource {
    fn history(&self, key: &CellKey, metric: &str) -> Vec<f64>;
}

/// No history (a comparison of two CSV folders outside any database).
pub struct NoHistory;

impl HistorySource for NoHistory {
    fn history(&self, _key: &CellKey, _metric: &str) -> Vec<f64> {
        Vec::new()
    }
}
