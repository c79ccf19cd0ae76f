//! `matrix compare` end to end on two synthetic 10,000-cell runs with 5
//! repeats each (2 judged metrics per cell) plus 5 one-sample history runs,
//! all ingested into a temporary SQLite database: the time of the whole
//! command (open the DB, resolve and load both runs, history of every
//! cell × metric, statistics, render markdown). Prints numbers.
//!
//! `cargo bench --bench compare_e2e` (target: < 1 s).

use std::time::Instant;

use camino::Utf8PathBuf;
use indexmap::IndexMap;
use matrix::record::db::model::cell_id_of_key;
use matrix::record::db::store::Db;
use matrix::record::db::{CellKey, CellRecord, RunRecord};
use rand::SeedableRng;
use rand_distr::{Distribution, LogNormal};

const CELLS: usize = 10_000;

fn run(id: &str, hour: usize, repeats: usize, slow: f64, seed: u64) -> RunRecord {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let noise = LogNormal::new(0.0, 0.02).expect("lognormal");
    let cells = (0..CELLS)
        .map(|c| {
            let mut key = CellKey::new();
            key.insert("engine".into(), "sim".into());
            key.insert("mode".into(), "serving".into());
            key.insert("bsz".into(), (c % 100).to_string());
            key.insert("input_len".into(), (c / 100).to_string());
            let base = 50.0 + (c % 97) as f64;
            let f = if c % 2 == 0 { slow } else { 1.0 };
            let samples: Vec<IndexMap<String, f64>> = (0..repeats)
                .map(|_| {
                    let e = base * f * noise.sample(&mut rng);
                    IndexMap::from([
                        ("median_e2e_ms".to_string(), e),
                        ("output_throughput".to_string(), 1.0e5 / e),
                    ])
                })
                .collect();
            let mut row: IndexMap<String, String> =
                key.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            row.insert("status".into(), "ok".into());
            CellRecord {
                cell_id: cell_id_of_key(&key),
                group_id: None,
                status: "ok".into(),
                error: None,
                key,
                row,
                samples,
            }
        })
        .collect();
    RunRecord {
        run_id: id.into(),
        source: "bench".into(),
        path: None,
        started_at: Some(format!("2026-11-01T{hour:02}:00:00Z")),
        finished_at: None,
        model: Some("tiny".into()),
        engine: Some("sim".into()),
        engine_version: Some("1".into()),
        image: None,
        git_sha: None,
        host: None,
        gpu: None,
        manifest: None,
        extras: IndexMap::new(),
        cells,
    }
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db_path = Utf8PathBuf::from_path_buf(dir.path().join("matrix.db")).expect("utf-8");
    let mut runs: Vec<RunRecord> = (0..5)
        .map(|i| run(&format!("hist{i}"), i, 1, 1.0, 100 + i as u64))
        .collect();
    runs.push(run("base", 10, 5, 1.0, 1));
    runs.push(run("new", 11, 5, 1.05, 2));
    let t = Instant::now();
    {
        let mut db = Db::open(&db_path).expect("open");
        db.ingest_all(&runs).expect("ingest");
    }
    println!(
        "ingest: {} runs ({} cells each) in {:.2} s",
        runs.len(),
        CELLS,
        t.elapsed().as_secs_f64()
    );
    let exe = env!("CARGO_BIN_EXE_matrix");
    let out = dir.path().join("report.md");
    let mut times = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        let o = std::process::Command::new(exe)
            .current_dir(dir.path())
            .args([
                "--db",
                db_path.as_str(),
                "compare",
                "base",
                "new",
                "--format",
                "md",
                "-o",
            ])
            .arg(&out)
            .output()
            .expect("run matrix");
        times.push(t.elapsed().as_secs_f64());
        assert_eq!(
            o.status.code(),
            Some(1),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    times.sort_by(f64::total_cmp);
    let md = std::fs::read_to_string(&out).expect("report");
    let rows = md.lines().filter(|l| l.starts_with("| 🔴")).count();
    println!(
        "matrix compare (2 × {CELLS} cells × 5 repeats × 2 metrics, history of 5 runs, md): \
         median {:.3} s, min {:.3} s, max {:.3} s; {} regression rows of {} planted",
        times[1],
        times[0],
        times[2],
        rows,
        CELLS // half the cells × 2 metrics
    );
}
