//! What the results database stores, as plain data: a run and its cells
//! with every repeat's metric values. Every source (a live run's events, a
//! run folder, a `matrix run` CSV, SGLang result files, sglang-ci CSVs)
//! becomes a [`RunRecord`]; the database writes and reads these, and
//! `matrix compare` / `matrix regressions` work on them.

use std::collections::BTreeMap;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

/// Which way a metric is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Better {
    Lower,
    Higher,
}

/// One run as the database keeps it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The run id (`matrix run`'s, or one derived from the ingested file:
    /// see the ingest of each format).
    pub run_id: String,
    /// What it was read from: `run` (live or a run folder), `csv` (a
    /// `matrix run` / `matrix parse` CSV), `bench_serving`, `one_batch`,
    /// `sglang_ci_offline`, `sglang_ci_online`.
    pub source: String,
    /// The file or folder it was read from (absolute), when it was read from one.
    pub path: Option<String>,
    /// RFC 3339 with offset, when known.
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// Models of the run's cells, comma-joined in first-seen order.
    pub model: Option<String>,
    /// Engine name (`sglang`, `sim`, `vllm`) and its version, when known.
    pub engine: Option<String>,
    pub engine_version: Option<String>,
    /// Container image, when known.
    pub image: Option<String>,
    pub git_sha: Option<String>,
    pub host: Option<String>,
    /// GPU names, comma-joined (`H100 80GB HBM3 x8`), when known.
    pub gpu: Option<String>,
    /// The whole manifest (manifest.json) when the source has one.
    pub manifest: Option<serde_json::Value>,
    /// Run-level values that are not cells (sglang-ci's GSM8K accuracy):
    /// name → value.
    pub extras: IndexMap<String, f64>,
    pub cells: Vec<CellRecord>,
}

/// One cell of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CellRecord {
    /// The cell id (`matrix run`'s hash, or derived from the key for
    /// foreign formats: see [`cell_id_of_key`]).
    pub cell_id: String,
    pub group_id: Option<String>,
    /// The CSV `status` (`ok`, `failed`, ...).
    pub status: String,
    pub error: Option<String>,
    /// The values cells are matched by across runs: see [`cell_key`].
    pub key: CellKey,
    /// The CSV row as written (column → text, "" for empty).
    pub row: IndexMap<String, String>,
    /// One map per repeat: metric name (CSV column) → value. A cell without
    /// repeats has one; a failed cell none.
    pub samples: Vec<IndexMap<String, f64>>,
}

/// The axis values that say which cell this is, the same in every run of
/// the same configuration: column → value text, sorted by column.
pub type CellKey = BTreeMap<String, String>;

/// CSV columns that describe the run or the outcome, not which cell it is.
pub const NOT_KEY_COLUMNS: [&str; 12] = [
    "run_id",
    "cell_id",
    "status",
    "error",
    "started_at",
    "duration_s",
    "group_id",
    "log",
    // Derived from the deploy layer (which is in the key).
    "tp",
    "ep",
    "dp",
    "nnodes",
];

/// Workload columns among the metric columns of a CSV: they say which cell
/// it is, they are not measured.
pub const WORKLOAD_COLUMNS: [&str; 6] = [
    "bsz",
    "input_len",
    "output_len",
    "request_rate",
    "max_concurrency",
    "num_prompts",
];

/// Is this CSV column a measured value (a metric)?
pub fn is_metric(column: &str) -> bool {
    let latency = crate::record::csv::LATENCY_COLUMNS.contains(&column);
    let serving = crate::record::csv::SERVING_COLUMNS.contains(&column);
    (latency || serving) && !WORKLOAD_COLUMNS.contains(&column)
}

/// The key of a CSV row: every column that is neither in
/// [`NOT_KEY_COLUMNS`] nor a metric ([`is_metric`]), empty values left out.
pub fn cell_key(row: &IndexMap<String, String>) -> CellKey {
    row.iter()
        .filter(|(k, v)| !v.is_empty() && !NOT_KEY_COLUMNS.contains(&k.as_str()) && !is_metric(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The key as one canonical text (`k=v` joined by `;`, sorted): how the
/// database stores and matches it.
pub fn key_text(key: &CellKey) -> String {
    key.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(";")
}

/// A stable cell id for sources without one: the first 12 hex digits of
/// the blake3 hash of [`key_text`].
pub fn cell_id_of_key(key: &CellKey) -> String {
    blake3::hash(key_text(key).as_bytes()).to_hex()[..12].to_string()
}

/// Direction of a metric that verdicts are given for; `None` for values
/// that are recorded but not judged (counts, achieved concurrency, the
/// client's schedule lateness, MFU/MBU which follow the latencies).
pub fn better(metric: &str) -> Option<Better> {
    match metric {
        "prefill_throughput"
        | "median_decode_throughput"
        | "e2e_throughput"
        | "request_throughput"
        | "input_throughput"
        | "output_throughput" => Some(Better::Higher),
        "prefill_latency_s"
        | "median_decode_latency_s"
        | "e2e_latency_s"
        | "bench_duration_s"
        | "mean_e2e_ms"
        | "median_e2e_ms"
        | "p90_e2e_ms"
        | "p99_e2e_ms"
        | "mean_ttft_ms"
        | "median_ttft_ms"
        | "p90_ttft_ms"
        | "p99_ttft_ms"
        | "mean_tpot_ms"
        | "median_tpot_ms"
        | "p90_tpot_ms"
        | "p99_tpot_ms"
        | "mean_itl_ms"
        | "median_itl_ms"
        | "p90_itl_ms"
        | "p99_itl_ms" => Some(Better::Lower),
        _ => None,
    }
}

/// One row of `matrix runs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    pub run_id: String,
    pub source: String,
    pub started_at: Option<String>,
    pub model: Option<String>,
    pub engine: Option<String>,
    pub engine_version: Option<String>,
    pub image: Option<String>,
    pub git_sha: Option<String>,
    pub host: Option<String>,
    pub cells_ok: usize,
    pub cells_failed: usize,
}

/// One point of a (cell, metric) series: a run's value of that metric for
/// the cell (the median of its repeats).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesPoint {
    pub run_id: String,
    pub started_at: Option<String>,
    pub value: f64,
    /// Repeats the value is the median of.
    pub n: usize,
}

/// The history of one metric of one cell, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    pub key: CellKey,
    pub metric: String,
    pub points: Vec<SeriesPoint>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_leaves_out_outcome_derived_and_measured_columns() {
        let row: IndexMap<String, String> = [
            ("run_id", "r1"),
            ("cell_id", "abc"),
            ("status", "ok"),
            ("engine", "sim"),
            ("model", "tiny"),
            ("deploy", "tp1"),
            ("tp", "1"),
            ("bsz", "8"),
            ("input_len", "1024"),
            ("e2e_latency_s", "1.5"),
            ("backend", ""),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(
            key_text(&cell_key(&row)),
            "bsz=8;deploy=tp1;engine=sim;input_len=1024;model=tiny"
        );
    }

    #[test]
    fn directions() {
        assert_eq!(better("e2e_throughput"), Some(Better::Higher));
        assert_eq!(better("p99_ttft_ms"), Some(Better::Lower));
        assert_eq!(better("completed"), None);
        assert!(is_metric("prefill_mfu"));
        assert!(!is_metric("bsz"));
    }
}
