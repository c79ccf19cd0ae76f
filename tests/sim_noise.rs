//! The simulator's noise and slowdown knobs (test aids: docs/SIM.md) and
//! latency-mode repeats, through `matrix run --engine sim`.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use support::run::{Row, RunProject, num, read_jsonl, statuses};

const BSZ_SEQ: &str = "1,2,4,8;128,256,512\n";

/// A project with a 12-cell product and two deploys (24 cells).
fn project() -> RunProject {
    let mut p = RunProject::new();
    p.sim_scale = 0.0001;
    p.write("bs.csv", BSZ_SEQ);
    p
}

/// `matrix run` of qwen 2l on tp8 and tp1 with `sets`; returns the run id.
fn run(p: &RunProject, sets: &[&str]) -> String {
    let before = p.run_ids();
    let name = format!("r{}", before.len());
    let mut args = vec![
        "--run-name",
        &name,
        "--model",
        "qwen",
        "--mconf",
        "2l",
        "--deploy",
        "tp8,tp1",
        "--bsz-seq",
        "bs.csv",
        "--set",
        "workload.output_len=16",
        "-q",
    ];
    for s in sets {
        args.push("--set");
        args.push(s);
    }
    let out = p.run(&args);
    assert_eq!(out.code, 0, "{}", out.text());
    p.run_ids()
        .into_iter()
        .find(|i| !before.contains(i))
        .expect("a new run")
}

/// Every `result.jsonl` line of a run (one per cell × repeat).
fn results(p: &RunProject, id: &str) -> Vec<Value> {
    let dir = p.run_dir(id);
    let mut out = Vec::new();
    for e in std::fs::read_dir(&dir).unwrap() {
        let path: PathBuf = e.unwrap().path();
        let f = path.join("result.jsonl");
        if f.is_file() {
            out.extend(read_jsonl(&f));
        }
    }
    out
}

/// `(deploy, bsz, input_len)` → e2e latency of each CSV row.
fn e2e(rows: &[Row]) -> BTreeMap<(String, String, String), f64> {
    rows.iter()
        .map(|r| {
            (
                (
                    r["deploy"].clone(),
                    r["bsz"].clone(),
                    r["input_len"].clone(),
                ),
                num(r, "e2e_latency_s"),
            )
        })
        .collect()
}

fn run_dir_group_of(path: &Path) -> String {
    path.parent()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[test]
fn noise_off_is_deterministic_and_slowdown_multiplies() {
    let p = project();
    let plain = run(&p, &[]);
    let seeded_off = run(&p, &["sim_noise_seed=7", "sim_noise_cv=0"]);
    let slow = run(&p, &["sim_slowdown=1.05"]);
    let (a, b, c) = (
        e2e(&p.rows(&plain)),
        e2e(&p.rows(&seeded_off)),
        e2e(&p.rows(&slow)),
    );
    assert_eq!(a.len(), 24);
    assert_eq!(a, b, "cv 0 leaves the timings bit-identical");
    for (k, v) in &a {
        let ratio = c[k] / v;
        assert!((ratio - 1.05).abs() < 1e-9, "{k:?}: slowdown ratio {ratio}");
    }
}

#[test]
fn same_seed_reproduces_other_seed_differs() {
    let p = project();
    let s1 = run(&p, &["sim_noise_cv=0.02", "sim_noise_seed=1"]);
    let s1b = run(&p, &["sim_noise_cv=0.02", "sim_noise_seed=1"]);
    let s2 = run(&p, &["sim_noise_cv=0.02", "sim_noise_seed=2"]);
    let (a, b, c) = (e2e(&p.rows(&s1)), e2e(&p.rows(&s1b)), e2e(&p.rows(&s2)));
    assert_eq!(a, b, "the same noise seed reproduces the numbers exactly");
    let differ = a.iter().filter(|(k, v)| c[*k] != **v).count();
    assert_eq!(differ, 24, "another seed moves every cell");
}

/// 24 cells × 10 repeats at cv 0.02: the pooled CV of e2e latency across
/// repeats is within 0.015–0.025 (fixed seed: the same figure every time).
#[test]
fn measured_cv_across_repeats_is_the_asked_cv() {
    let p = project();
    let id = run(
        &p,
        &[
            "sim_noise_cv=0.02",
            "sim_noise_seed=3",
            "workload.repeats=10",
        ],
    );
    let mut by_cell: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let dir = p.run_dir(&id);
    for e in std::fs::read_dir(&dir).unwrap() {
        let f = e.unwrap().path().join("result.jsonl");
        if !f.is_file() {
            continue;
        }
        let group = run_dir_group_of(&f);
        for v in read_jsonl(&f) {
            let key = format!("{group}/{}/{}", v["batch_size"], v["input_len"]);
            by_cell
                .entry(key)
                .or_default()
                .push(v["total_latency"].as_f64().unwrap());
        }
    }
    assert_eq!(by_cell.len(), 24);
    let mut rel_var = 0.0;
    for xs in by_cell.values() {
        assert_eq!(xs.len(), 10, "one result per repeat");
        let m = xs.iter().sum::<f64>() / xs.len() as f64;
        let v = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (xs.len() - 1) as f64;
        rel_var += v / (m * m);
    }
    let cv = (rel_var / by_cell.len() as f64).sqrt();
    assert!((0.015..=0.025).contains(&cv), "pooled cv {cv}");
}

/// `repeats: 3` in latency mode: three one_batch processes per group (with
/// MATRIX_REPEAT 0, 1, 2), one CSV row per cell holding the best repeat.
#[test]
fn latency_repeats_run_every_repeat_and_record_the_best() {
    let p = project();
    let id = run(
        &p,
        &[
            "sim_noise_cv=0.05",
            "sim_noise_seed=4",
            "workload.repeats=3",
        ],
    );
    let rows = p.rows(&id);
    assert_eq!(statuses(&rows).get("ok"), Some(&24), "{rows:#?}");
    let starts = p
        .starts()
        .iter()
        .filter(|s| s["entry"] == "one-batch")
        .count();
    assert_eq!(starts, 2 * 3, "one process per group and repeat");
    let all = results(&p, &id);
    assert_eq!(all.len(), 24 * 3);
    for r in &rows {
        let mut totals: Vec<f64> = all
            .iter()
            .filter(|v| {
                v["batch_size"].as_u64().map(|x| x.to_string()).as_ref() == Some(&r["bsz"])
                    && v["input_len"].as_u64().map(|x| x.to_string()).as_ref()
                        == Some(&r["input_len"])
            })
            .map(|v| v["total_latency"].as_f64().unwrap())
            .collect();
        totals.sort_by(f64::total_cmp);
        // Both deploys share (bsz, input_len): the best of this deploy's
        // three is one of the six, and the three differ (noise on).
        let e = num(r, "e2e_latency_s");
        assert!(
            totals.iter().any(|t| (t - e).abs() <= 1e-12 * e),
            "{e} is one of the repeats {totals:?}"
        );
    }
    // The journal keeps every repeat as a sample (the database's spread).
    let journal = p.journal(&id);
    let finished: Vec<&Value> = journal.iter().filter(|j| j["status"] == "ok").collect();
    assert_eq!(finished.len(), 24);
    for j in finished {
        let samples = j["samples"].as_array().expect("samples");
        assert_eq!(samples.len(), 3, "{j}");
        assert!(samples.iter().all(|s| s["e2e_latency_s"].is_f64()), "{j}");
    }
    // `select: median` records another repeat for some cell.
    let med = run(
        &p,
        &[
            "sim_noise_cv=0.05",
            "sim_noise_seed=4",
            "workload.repeats=3",
            "workload.select=median",
        ],
    );
    let (best, median) = (e2e(&rows), e2e(&p.rows(&med)));
    for (k, v) in &best {
        assert!(median[k] >= *v, "{k:?}: the median is never below the best");
    }
    assert!(best.iter().any(|(k, v)| median[k] > *v));
}
