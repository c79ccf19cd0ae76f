//! The dashboard at scale, answered in-process through the router
//! (`tower::ServiceExt::oneshot`: no socket, the same handlers, database
//! reads and rendering as `matrix serve`): the runs page of a database
//! with `BENCH_RUNS` (default 1,000) runs, and the run page and cells API
//! of one 10,000-cell run in it. Building the database is not timed.
//! Prints the first, median and worst of `BENCH_ITERS` (default 20)
//! requests each (the first reads the run from the database; later ones
//! find it in the dashboard's run cache),
//! asserts nothing (target: < 100 ms each; docs/PERFORMANCE.md).
//!
//! `cargo bench --bench serve`

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use camino::Utf8PathBuf;
use http_body_util::BodyExt;
use indexmap::IndexMap;
use matrix::record::db::store::Db;
use matrix::record::db::{CellKey, CellRecord, RunRecord};
use matrix::report::serve::{ServeOptions, router};
use tower::ServiceExt;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn cell(run_id: &str, c: usize) -> CellRecord {
    let bsz = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512][c % 10];
    let input = [128, 512, 1024, 4096, 8192][(c / 10) % 5];
    let deploy = format!("tp{}", [1, 2, 4, 8][(c / 50) % 4]);
    let mut key = CellKey::new();
    key.insert("model".into(), "Qwen/Qwen3-32B".into());
    key.insert("engine".into(), "sglang".into());
    key.insert("mode".into(), "latency".into());
    key.insert("deploy".into(), deploy.clone());
    key.insert("bsz".into(), bsz.to_string());
    key.insert("input_len".into(), input.to_string());
    // Unique cells past the 200 combinations above.
    key.insert("output_len".into(), (1 + c / 200).to_string());
    let cell_id = format!("{c:012x}");
    let e2e = 0.01 + 0.0001 * (bsz * input) as f64 / 64.0;
    let samples: Vec<IndexMap<String, f64>> = (0..3)
        .map(|r| {
            IndexMap::from([
                ("e2e_latency_s".to_string(), e2e * (1.0 + 0.01 * r as f64)),
                ("e2e_throughput".to_string(), 1.0 / e2e),
                ("prefill_latency_s".to_string(), e2e / 3.0),
            ])
        })
        .collect();
    let mut row: IndexMap<String, String> = IndexMap::new();
    for (k, v) in [
        ("run_id", run_id.to_string()),
        ("cell_id", cell_id.clone()),
        ("status", "ok".into()),
        ("error", String::new()),
        ("started_at", "2026-11-01T00:00:00Z".into()),
        ("duration_s", "1.250".into()),
        ("group_id", format!("g{}", c / 200)),
        ("model", "Qwen/Qwen3-32B".into()),
        ("deploy", deploy),
        ("engine", "sglang".into()),
        ("mode", "latency".into()),
        ("bsz", bsz.to_string()),
        ("input_len", input.to_string()),
        ("output_len", (1 + c / 200).to_string()),
        ("prefill_latency_s", format!("{:.6}", e2e / 3.0)),
        ("e2e_latency_s", format!("{e2e:.6}")),
        ("e2e_throughput", format!("{:.3}", 1.0 / e2e)),
        ("log", format!("g{}/{cell_id}.log", c / 200)),
    ] {
        row.insert(k.into(), v);
    }
    CellRecord {
        cell_id,
        group_id: Some(format!("g{}", c / 200)),
        status: "ok".into(),
        error: None,
        key,
        row,
        samples,
    }
}

fn run(i: usize, cells: usize) -> RunRecord {
    let run_id = format!("20261101-{i:06}-bench");
    let t = jiff::Timestamp::from_second(1_793_000_000 + 3600 * i as i64).expect("time");
    RunRecord {
        cells: (0..cells).map(|c| cell(&run_id, c)).collect(),
        run_id,
        source: "run".into(),
        started_at: Some(t.to_string()),
        finished_at: Some(t.to_string()),
        model: Some("Qwen/Qwen3-32B".into()),
        engine: Some("sglang".into()),
        engine_version: Some("0.5.3".into()),
        image: Some("lmsysorg/sglang:v0.5.3".into()),
        git_sha: Some("0123456789abcdef0123".into()),
        host: Some("node-1".into()),
        ..Default::default()
    }
}

/// (first request, median, worst, body bytes): the first reads the run
/// from the database, later ones find it in the dashboard's run cache
/// (emptied by any write to the database).
async fn time(
    app: &axum::Router,
    uri: &str,
    iters: usize,
) -> (Duration, Duration, Duration, usize) {
    let mut times = Vec::with_capacity(iters);
    let mut bytes = 0;
    for _ in 0..iters {
        let t = Instant::now();
        let res = app
            .clone()
            .oneshot(Request::get(uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{uri}");
        bytes = res.into_body().collect().await.unwrap().to_bytes().len();
        times.push(t.elapsed());
    }
    let first = times[0];
    times.sort();
    (first, times[times.len() / 2], times[times.len() - 1], bytes)
}

fn main() {
    let runs = env("BENCH_RUNS", 1_000);
    let big = env("BENCH_CELLS", 10_000);
    let iters = env("BENCH_ITERS", 20);
    let dir = tempfile::tempdir().unwrap();
    let results = Utf8PathBuf::from_path_buf(dir.path().join("results")).unwrap();
    let db_file = results.join("matrix.db");
    let t = Instant::now();
    let mut db = Db::open(&db_file).unwrap();
    for i in 0..runs.saturating_sub(1) {
        db.ingest(&run(i, 10)).unwrap();
    }
    let big_run = run(runs, big);
    db.ingest(&big_run).unwrap();
    drop(db);
    println!(
        "database: {runs} runs (one of {big} cells, the others 10) built in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let app = router(ServeOptions {
        db: db_file,
        results,
        page_cells: 1000,
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        for (what, uri) in [
            ("runs page (/)", "/".to_string()),
            ("run page (/runs/<id>)", format!("/runs/{}", big_run.run_id)),
            (
                "cells API (/api/runs/<id>/cells)",
                format!("/api/runs/{}/cells", big_run.run_id),
            ),
        ] {
            let (first, median, worst, bytes) = time(&app, &uri, iters).await;
            println!(
                "{what:<34} first {:>7.1} ms  median {:>7.1} ms  worst {:>7.1} ms  ({:.1} MB, {iters} requests)",
                first.as_secs_f64() * 1e3,
                median.as_secs_f64() * 1e3,
                worst.as_secs_f64() * 1e3,
                bytes as f64 / 1e6
            );
        }
    });
}
