//! Result folders and databases for `matrix compare` / `matrix regressions`
//! tests: matrix CSVs written by hand, RunRecords with repeats ingested into
//! a real SQLite database through the library.

use std::path::Path;

use indexmap::IndexMap;
use matrix::record::db::model::{cell_id_of_key, key_text};
use matrix::record::db::store::Db;
use matrix::record::db::{CellKey, CellRecord, RunRecord};

/// One cell of a synthetic run: `bsz` value, status, every repeat's
/// `(median_e2e_ms, output_throughput)`.
#[derive(Clone, Debug)]
pub struct Cell {
    pub bsz: u32,
    pub status: &'static str,
    pub repeats: Vec<(f64, f64)>,
}

/// Deterministic noise around `v`: repeat `i` of cell `c` in run `r`,
/// ±1 % at most (no RNG: tests must not depend on a seed's luck).
pub fn jitter(v: f64, r: usize, c: usize, i: usize) -> f64 {
    let x = ((r * 7919 + c * 104_729 + i * 1299) % 2001) as f64 / 1000.0 - 1.0;
    v * (1.0 + 0.01 * x)
}

/// `n` ok cells (bsz 1..=n), `repeats` repeats each, e2e `100·(1+bsz/10)`
/// ms times `e2e_factor[c]`, throughput 1000/(that).
pub fn cells(n: usize, repeats: usize, run: usize, e2e_factor: impl Fn(usize) -> f64) -> Vec<Cell> {
    (0..n)
        .map(|c| {
            let base = 100.0 * (1.0 + c as f64 / 10.0) * e2e_factor(c);
            Cell {
                bsz: c as u32 + 1,
                status: "ok",
                repeats: (0..repeats)
                    .map(|i| {
                        let e = jitter(base, run, c, i);
                        (e, 1.0e5 / e)
                    })
                    .collect(),
            }
        })
        .collect()
}

fn key(bsz: u32) -> CellKey {
    let mut k = CellKey::new();
    k.insert("engine".into(), "sim".into());
    k.insert("mode".into(), "serving".into());
    k.insert("model".into(), "tiny".into());
    k.insert("bsz".into(), bsz.to_string());
    k
}

/// A RunRecord with every repeat as a sample.
pub fn record(run_id: &str, started_at: &str, cells: &[Cell]) -> RunRecord {
    let cells = cells
        .iter()
        .map(|c| {
            let key = key(c.bsz);
            let samples: Vec<IndexMap<String, f64>> = if c.status == "ok" {
                c.repeats
                    .iter()
                    .map(|(e, t)| {
                        IndexMap::from([
                            ("median_e2e_ms".to_string(), *e),
                            ("output_throughput".to_string(), *t),
                        ])
                    })
                    .collect()
            } else {
                Vec::new()
            };
            let mut row: IndexMap<String, String> =
                key.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            row.insert("status".into(), c.status.into());
            if let Some((e, t)) = c.repeats.first() {
                row.insert("median_e2e_ms".into(), e.to_string());
                row.insert("output_throughput".into(), t.to_string());
            }
            CellRecord {
                cell_id: cell_id_of_key(&key),
                group_id: None,
                status: c.status.into(),
                error: None,
                key,
                row,
                samples,
            }
        })
        .collect();
    RunRecord {
        run_id: run_id.into(),
        source: "test".into(),
        path: None,
        started_at: Some(started_at.into()),
        finished_at: None,
        model: Some("tiny".into()),
        engine: Some("sim".into()),
        engine_version: Some("1.0".into()),
        image: None,
        git_sha: None,
        host: Some("h1".into()),
        gpu: None,
        manifest: None,
        extras: IndexMap::new(),
        cells,
    }
}

/// Ingest runs into a (new) database at `path`.
pub fn ingest(path: &Path, runs: &[RunRecord]) {
    let p = camino::Utf8Path::from_path(path).expect("utf-8 path");
    let mut db = Db::open(p).expect("open db");
    db.ingest_all(runs).expect("ingest");
}

/// Write a run as a `matrix run` CSV (first repeat of each cell).
pub fn write_csv(path: &Path, run: &RunRecord) {
    let mut out = String::from(
        "run_id,cell_id,status,engine,mode,model,bsz,started_at,median_e2e_ms,output_throughput\n",
    );
    for c in &run.cells {
        let g = |k: &str| c.row.get(k).cloned().unwrap_or_default();
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{}\n",
            run.run_id,
            c.cell_id,
            c.status,
            g("engine"),
            g("mode"),
            g("model"),
            g("bsz"),
            run.started_at.clone().unwrap_or_default(),
            g("median_e2e_ms"),
            g("output_throughput"),
        ));
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("mkdir");
    }
    std::fs::write(path, out).expect("write csv");
    let _ = key_text;
}

/// `2026-11-01T00:00:00Z` plus `i` hours.
pub fn at(i: usize) -> String {
    format!("2026-11-{:02}T{:02}:00:00Z", 1 + i / 24, i % 24)
}
