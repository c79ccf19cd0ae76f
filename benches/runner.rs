//! Runner overhead on the scripted fake launcher (a program, not a test: it
//! prints numbers and asserts nothing): `cargo bench --profile dev --bench
//! runner`. A latency plan of `LAT_CELLS` cells (default 1000, one group)
//! and a serving plan of `SRV_CELLS` cells (default 200, one server) run in
//! process with every consumer this build has (the CSV + journal recorder
//! and the plain-lines display, into a sink); no engine runs, so the wall
//! time per cell is the runner's own cost: recording (two synced writes per
//! cell), parsing the fake's result and log lines, events. See
//! docs/PERFORMANCE.md.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use camino::Utf8PathBuf;
use matrix::plan::Plan;
use matrix::report::display::{Display, DisplayOptions};
use matrix::report::json::JsonLines;
use matrix::report::summary::SummaryFile;
use matrix::run::fake::{FakeClock, FakeLauncher, Script};
use matrix::run::{RunOptions, Target};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for sub in ["conf", "model_conf", "matrices"] {
        copy_dir(&root.join(sub), &dir.path().join(sub));
    }
    dir
}

fn plan(dir: &Path, args: &[&str]) -> Plan {
    let out = Command::new(env!("CARGO_BIN_EXE_matrix"))
        .current_dir(dir)
        .env("MATRIX_FLAGS", "table")
        .args([
            "plan",
            "--json",
            "--engine",
            "sim",
            "--set",
            "run.port=39999",
        ])
        .args(args)
        .output()
        .expect("matrix plan");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("plan JSON")
}

/// Run `plan` on the fake; wall µs per cell.
fn measure(dir: &Path, plan: Plan) -> (usize, f64) {
    let root = Utf8PathBuf::from_path_buf(dir.to_path_buf()).unwrap();
    let cells = plan.cell_count();
    let clock = FakeClock::new();
    let mut launcher = FakeLauncher::new(Script::new(), clock.clone());
    // Every consumer `matrix run --json` has (the display as in a pipe),
    // writing to a sink.
    let plain = DisplayOptions {
        tty: false,
        color: false,
        quiet: false,
        width: None,
    };
    let consumers: Vec<Box<dyn matrix::record::event::Consumer>> = vec![
        Box::new(SummaryFile::new()),
        Box::new(JsonLines::new(std::io::sink())),
        Box::new(Display::plain(Box::new(std::io::sink()), plain)),
    ];
    let t = Instant::now();
    let s = matrix::run::run_with(
        &root,
        Target::Fresh(Box::new(plan)),
        RunOptions::default(),
        consumers,
        &mut launcher,
        &clock,
    )
    .expect("run");
    let us = t.elapsed().as_secs_f64() * 1e6 / cells as f64;
    assert_eq!(s.counts.ok, cells, "{s:?}");
    (cells, us)
}

/// ms per `write` + `fsync` of a CSV-row-sized line in the temp folder:
/// the recorder syncs two per cell, so the numbers above move with it.
fn fsync_ms() -> f64 {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let mut f = std::fs::File::create(dir.path().join("probe")).unwrap();
    let t = Instant::now();
    for _ in 0..50 {
        f.write_all(&[b'x'; 200]).unwrap();
        f.sync_data().unwrap();
    }
    t.elapsed().as_secs_f64() * 1e3 / 50.0
}

fn main() {
    println!(
        "fsync probe: {:.3} ms per synced write in {}",
        fsync_ms(),
        std::env::temp_dir().display()
    );
    let lat = env_usize("LAT_CELLS", 1000);
    let srv = env_usize("SRV_CELLS", 200);

    let dir = project();
    // bsz × seq = lat: 25 batch sizes × lat/25 input lengths.
    let bszs: Vec<String> = (1..=25).map(|b| b.to_string()).collect();
    let seqs: Vec<String> = (1..=lat.div_ceil(25))
        .map(|s| (16 * s).to_string())
        .collect();
    std::fs::write(
        dir.path().join("bsz_seq.csv"),
        format!("{};{}\n", bszs.join(","), seqs.join(",")),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("matrices/lat.yaml"),
        "axes:\n  model: qwen\n  mode: latency\n  deploy: tp8\nset:\n  workload:\n    output_len: 4\n",
    )
    .unwrap();
    let p = plan(
        dir.path(),
        &[
            "--matrix",
            "matrices/lat.yaml",
            "--mconf",
            "2l",
            "--bsz-seq",
            "bsz_seq.csv",
            "--max-cells",
            "100000",
        ],
    );
    let (n, us) = measure(dir.path(), p);
    println!(
        "runner latency: {n} cells, {us:.1} us per cell (fake launcher; recorder, summary.json, JSON lines, display)"
    );

    let dir = project();
    let rates: Vec<String> = (1..=srv).map(|r| r.to_string()).collect();
    std::fs::write(
        dir.path().join("matrices/srv.yaml"),
        format!(
            "axes:\n  model: qwen\n  mode: serving\n  deploy: tp8\n  request_rate: [{}]\n\
             set:\n  workload:\n    seq: 16\n    output_len: 4\n    num_prompts: 8\n    \
             warmup_requests: 1\n    dataset: random-ids\n",
            rates.join(", ")
        ),
    )
    .unwrap();
    let p = plan(
        dir.path(),
        &[
            "--matrix",
            "matrices/srv.yaml",
            "--mconf",
            "2l",
            "--max-cells",
            "100000",
        ],
    );
    let (n, us) = measure(dir.path(), p);
    println!(
        "runner serving: {n} cells, {us:.1} us per cell (fake launcher; recorder, summary.json, JSON lines, display)"
    );
}
