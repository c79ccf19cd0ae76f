//! The results database at scale: ingest of `BENCH_RUNS` (default 1,000)
//! synthetic runs × 1,000 latency-mode cells × 3 repeats × 6 judged metrics
//! into a fresh temporary database in one transaction, as `matrix ingest`
//! and `matrix db rebuild` write (`Db::bulk`, each run built, ingested and
//! dropped in turn); then `BENCH_EACH` (default 50) more runs with one
//! transaction each, as runs arrive one a night; re-ingest of one unchanged
//! run, `load_run` of one 10,000-cell run, `all_series` over the whole
//! database and `history` of one key. Building the records is not timed.
//! Prints numbers, asserts nothing.
//!
//! `cargo bench --bench db_ingest` (target: ingest < 20 s);
//! `BENCH_RUNS=50 cargo bench --bench db_ingest` for a quick try.

use std::time::Instant;

use camino::Utf8PathBuf;
use indexmap::IndexMap;
use matrix::record::db::model::cell_id_of_key;
use matrix::record::db::store::Db;
use matrix::record::db::{CellKey, CellRecord, RunRecord};

const CELLS: usize = 1_000;
const REPEATS: usize = 3;
const MODELS: [&str; 4] = [
    "meta-llama/Llama-3.1-8B-Instruct",
    "Qwen/Qwen3-32B",
    "deepseek-ai/DeepSeek-V3-0324",
    "mistralai/Mixtral-8x7B-Instruct-v0.1",
];
const DEPLOYS: [&str; 5] = ["tp1", "tp2", "tp4", "tp8", "tp8-ep8"];
const BSZ: [u32; 10] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512];
const INPUT: [u32; 5] = [128, 512, 1024, 4096, 8192];
const OUTPUT: [u32; 4] = [1, 128, 512, 1024];

/// A tiny deterministic generator (xorshift), so runs differ but the bench
/// needs no RNG crate.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn cell(run_id: &str, c: usize, rng: &mut Rng) -> CellRecord {
    let model = MODELS[c % MODELS.len()];
    let deploy = DEPLOYS[(c / MODELS.len()) % DEPLOYS.len()];
    let bsz = BSZ[(c / 20) % BSZ.len()];
    let input = INPUT[(c / 200) % INPUT.len()];
    let output = OUTPUT[(c / 1000) % OUTPUT.len()];
    let mut key = CellKey::new();
    key.insert("model".into(), model.into());
    key.insert("deploy".into(), deploy.into());
    key.insert("engine".into(), "sglang".into());
    key.insert("mode".into(), "latency".into());
    key.insert("bsz".into(), bsz.to_string());
    key.insert("input_len".into(), input.to_string());
    key.insert("output_len".into(), output.to_string());
    let cell_id = cell_id_of_key(&key);
    let base_prefill = 0.002 * (bsz * input) as f64 / 1024.0 + 0.01;
    let base_decode = 0.008 + 0.00002 * bsz as f64;
    let samples: Vec<IndexMap<String, f64>> = (0..REPEATS)
        .map(|_| {
            let noise = 1.0 + 0.02 * (rng.next() - 0.5);
            let prefill = base_prefill * noise;
            let decode = base_decode * noise;
            let e2e = prefill + decode * output as f64;
            IndexMap::from([
                ("prefill_latency_s".to_string(), prefill),
                ("median_decode_latency_s".to_string(), decode),
                ("e2e_latency_s".to_string(), e2e),
                (
                    "prefill_throughput".to_string(),
                    (bsz * input) as f64 / prefill,
                ),
                ("median_decode_throughput".to_string(), bsz as f64 / decode),
                (
                    "e2e_throughput".to_string(),
                    (bsz * (input + output)) as f64 / e2e,
                ),
            ])
        })
        .collect();
    let last = &samples[REPEATS - 1];
    let tp = deploy
        .trim_start_matches("tp")
        .split('-')
        .next()
        .unwrap_or("1");
    let mut row: IndexMap<String, String> = IndexMap::new();
    for (k, v) in [
        ("run_id", run_id.to_string()),
        ("cell_id", cell_id.clone()),
        ("status", "ok".into()),
        ("error", String::new()),
        ("started_at", "2026-11-01T00:00:00Z".into()),
        ("duration_s", format!("{:.3}", last["e2e_latency_s"] * 4.0)),
        ("group_id", format!("g{}", c / 20)),
        ("model", model.into()),
        ("mconf", String::new()),
        ("deploy", deploy.into()),
        ("tp", tp.into()),
        ("ep", "1".into()),
        ("dp", "1".into()),
        ("nnodes", "1".into()),
        ("backend", String::new()),
        ("engine", "sglang".into()),
        ("mode", "latency".into()),
        ("bsz", bsz.to_string()),
        ("input_len", input.to_string()),
        ("output_len", output.to_string()),
    ] {
        row.insert(k.into(), v);
    }
    for (m, v) in last {
        row.insert(m.clone(), format!("{v:.6}"));
    }
    row.insert("prefill_mfu".into(), String::new());
    row.insert("decode_mbu".into(), String::new());
    row.insert("log".into(), format!("raw_output/{run_id}/{cell_id}.log"));
    CellRecord {
        cell_id,
        group_id: Some(format!("g{}", c / 20)),
        status: "ok".into(),
        error: None,
        key,
        row,
        samples,
    }
}

fn run(i: usize, cells: usize) -> RunRecord {
    let run_id = format!("20261101-{i:06}-bench");
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (i as u64 + 1));
    let cells = (0..cells).map(|c| cell(&run_id, c, &mut rng)).collect();
    let t = jiff::Timestamp::from_second(1_793_000_000 + 3600 * i as i64).expect("time");
    RunRecord {
        run_id,
        source: "run".into(),
        path: None,
        started_at: Some(t.to_string()),
        finished_at: None,
        model: Some(MODELS.join(",")),
        engine: Some("sglang".into()),
        engine_version: Some("0.5.5".into()),
        image: Some("lmsysorg/sglang:v0.5.5".into()),
        git_sha: Some("0123456789abcdef0123456789abcdef01234567".into()),
        host: Some("node-7".into()),
        gpu: Some("H100 80GB HBM3 x8".into()),
        manifest: None,
        extras: IndexMap::new(),
        cells,
    }
}

fn main() {
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let db_path = Utf8PathBuf::from_path_buf(dir.path().join("matrix.db")).expect("utf-8");
    let mut db = Db::open(&db_path).expect("open");

    let mut ingest = 0.0;
    let mut worst: f64 = 0.0;
    let mut first = None;
    {
        let t = Instant::now();
        let mut bulk = db.bulk().expect("bulk");
        ingest += t.elapsed().as_secs_f64();
        for i in 0..runs {
            let r = run(i, CELLS);
            let t = Instant::now();
            bulk.ingest(&r).expect("ingest");
            let s = t.elapsed().as_secs_f64();
            ingest += s;
            worst = worst.max(s);
            if i == 0 {
                first = Some(r);
            }
        }
        let t = Instant::now();
        bulk.commit().expect("commit");
        ingest += t.elapsed().as_secs_f64();
    }
    let rows = runs * CELLS * REPEATS * 6;
    println!(
        "ingest in one transaction: {runs} runs × {CELLS} cells × {REPEATS} repeats × 6 metrics \
         ({rows} metric rows): {ingest:.2} s ({:.1} ms/run mean, {:.1} ms worst, {:.0} metric rows/s)",
        ingest * 1e3 / runs as f64,
        worst * 1e3,
        rows as f64 / ingest
    );

    let each: usize = std::env::var("BENCH_EACH")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let mut total = 0.0;
    let mut worst: f64 = 0.0;
    for i in runs..runs + each {
        let r = run(i, CELLS);
        let t = Instant::now();
        db.ingest(&r).expect("ingest");
        let s = t.elapsed().as_secs_f64();
        total += s;
        worst = worst.max(s);
    }
    println!(
        "ingest one transaction per run: {each} more runs: {:.1} ms/run mean, {:.1} ms worst",
        total * 1e3 / each.max(1) as f64,
        worst * 1e3
    );

    let first = first.expect("at least one run");
    let t = Instant::now();
    let outcome = db.ingest(&first).expect("re-ingest");
    println!(
        "re-ingest of one unchanged run: {:.1} ms ({})",
        t.elapsed().as_secs_f64() * 1e3,
        outcome.word()
    );

    let big = run(runs + each, 10 * CELLS);
    let big = RunRecord {
        cells: (0..10 * CELLS)
            .map(|c| {
                let mut cell = big.cells[c].clone();
                cell.key.insert("request_id".into(), c.to_string());
                cell.cell_id = cell_id_of_key(&cell.key);
                cell
            })
            .collect(),
        ..big
    };
    let t = Instant::now();
    db.ingest(&big).expect("ingest big");
    println!(
        "ingest of one 10,000-cell run: {:.2} s",
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let loaded = db.load_run(&big.run_id).expect("load_run");
    println!(
        "load_run of one 10,000-cell run: {:.3} s ({} cells)",
        t.elapsed().as_secs_f64(),
        loaded.cells.len()
    );

    let key = first.cells[0].key.clone();
    let t = Instant::now();
    let h = db
        .history(&key, "e2e_latency_s", None, &[])
        .expect("history");
    println!(
        "history of one key (e2e_latency_s): {:.1} ms ({} points)",
        t.elapsed().as_secs_f64() * 1e3,
        h.len()
    );

    let t = Instant::now();
    let series = db.all_series(None).expect("all_series");
    println!(
        "all_series over the whole database: {:.2} s ({} series, {} points)",
        t.elapsed().as_secs_f64(),
        series.len(),
        series.iter().map(|s| s.points.len()).sum::<usize>()
    );
    let size = std::fs::metadata(&db_path).map(|m| m.len()).unwrap_or(0);
    println!("database file: {:.0} MiB", size as f64 / (1 << 20) as f64);
}
