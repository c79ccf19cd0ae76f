//! `matrix plot` of a synthetic 10,000-cell latency run (5 deploys × 20
//! input lengths × 100 batch sizes, 3 repeats), ingested into a temporary
//! SQLite database: the library's `draw` of the six latency charts, one
//! chart's PNG, and the whole command (`matrix plot latest --kind latency
//! --format both`: open the database, load the run, draw, write 12 files).
//! Prints numbers, asserts nothing.
//!
//! `cargo bench --bench plot` (target: the whole command < 2 s).

use std::time::Instant;

use camino::Utf8PathBuf;
use indexmap::IndexMap;
use matrix::record::db::model::cell_id_of_key;
use matrix::record::db::store::Db;
use matrix::record::db::{CellKey, CellRecord, RunRecord};
use matrix::report::plot::{Kind, PlotOptions, draw};

const DEPLOYS: usize = 5;
const INPUTS: usize = 20;
const BSZ: usize = 100;

fn run() -> RunRecord {
    let mut cells = Vec::new();
    for d in 0..DEPLOYS {
        for i in 0..INPUTS {
            for b in 1..=BSZ {
                let input_len = 128 * (i + 1);
                let mut key = CellKey::new();
                key.insert("engine".into(), "sim".into());
                key.insert("mode".into(), "latency".into());
                key.insert("model".into(), "qwen".into());
                key.insert("deploy".into(), format!("tp{}", 1 << d));
                key.insert("bsz".into(), b.to_string());
                key.insert("input_len".into(), input_len.to_string());
                key.insert("output_len".into(), "32".into());
                let mut row: IndexMap<String, String> =
                    key.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                row.insert("status".into(), "ok".into());
                row.insert("tp".into(), (1 << d).to_string());
                let samples = (0..3)
                    .map(|r| {
                        let j = 1.0 + 0.01 * r as f64;
                        let prefill = 0.001 * (b * input_len) as f64 / (1 << d) as f64 * j;
                        let decode = 0.01 * (1.0 + b as f64 / 64.0) * j;
                        let e2e = prefill + 32.0 * decode;
                        [
                            ("prefill_latency_s", prefill),
                            ("prefill_throughput", (b * input_len) as f64 / prefill),
                            ("median_decode_latency_s", decode),
                            ("median_decode_throughput", b as f64 / decode),
                            ("e2e_latency_s", e2e),
                            ("e2e_throughput", (b * (input_len + 32)) as f64 / e2e),
                        ]
                        .iter()
                        .map(|(k, v)| (k.to_string(), *v))
                        .collect()
                    })
                    .collect();
                cells.push(CellRecord {
                    cell_id: cell_id_of_key(&key),
                    group_id: None,
                    status: "ok".into(),
                    error: None,
                    key,
                    row,
                    samples,
                });
            }
        }
    }
    RunRecord {
        run_id: "bench-plot".into(),
        source: "run".into(),
        started_at: Some("2026-12-01T00:00:00Z".into()),
        model: Some("qwen".into()),
        engine: Some("sim".into()),
        cells,
        ..RunRecord::default()
    }
}

fn main() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = Utf8PathBuf::from_path_buf(tmp.path().to_path_buf()).expect("utf-8");
    let record = run();
    let n = record.cells.len();
    let opts = PlotOptions {
        command: "matrix plot bench-plot --kind latency".into(),
        ..PlotOptions::default()
    };

    let t = Instant::now();
    let plots = draw(Kind::Latency, std::slice::from_ref(&record), &opts).expect("draw");
    let draw_s = t.elapsed().as_secs_f64();
    let bytes: usize = plots.iter().map(|p| p.svg.len()).sum();
    println!(
        "draw latency, {n} cells: {} charts, {} series, {} points, {:.1} KiB of SVG in {:.3} s",
        plots.len(),
        plots[0].series,
        plots.iter().map(|p| p.points).sum::<usize>(),
        bytes as f64 / 1024.0,
        draw_s
    );
    let t = Instant::now();
    let png = plots[0].png(960, 600).expect("png");
    println!(
        "png of one chart (960x600): {:.1} KiB in {:.3} s",
        png.len() as f64 / 1024.0,
        t.elapsed().as_secs_f64()
    );

    let db_file = dir.join("matrix.db");
    {
        let mut db = Db::open(&db_file).expect("db");
        db.ingest(&record).expect("ingest");
    }
    let out = dir.join("plots");
    for format in ["svg", "both"] {
        let t = Instant::now();
        let status = std::process::Command::new(env!("CARGO_BIN_EXE_matrix"))
            .args([
                "--db",
                db_file.as_str(),
                "plot",
                "latest",
                "--kind",
                "latency",
            ])
            .args(["-o", out.as_str(), "--format", format])
            .stdout(std::process::Stdio::null())
            .status()
            .expect("matrix plot");
        assert!(status.success(), "matrix plot failed");
        println!(
            "matrix plot latest --kind latency --format {format} ({n} cells, from the database): {:.3} s",
            t.elapsed().as_secs_f64()
        );
    }
}
