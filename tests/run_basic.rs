//! `matrix run` on the simulator, the paths that work: the acceptance
//! command, the shipped online matrix with repeats and best-of selection,
//! one launch per distinct server, `--profile` under a stand-in `nsys`,
//! `--run-name`, and `--dry-run`.

mod support;

use std::path::Path;

use serde_json::Value;
use support::run::{RunProject, assert_unique_cells, num, read_jsonl, statuses};

/// Cells the shipped bsz_seq.csv plans per group (the sum of its products).
fn shipped_bsz_seq_cells() -> usize {
    let text =
        std::fs::read_to_string(Path::new(support::ROOT).join("matrices/bsz_seq.csv")).unwrap();
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (b, s) = l.split_once(';').unwrap();
            b.split(',').count() * s.split(',').count()
        })
        .sum()
}

fn plan_groups(manifest: &Value) -> &Vec<Value> {
    manifest["plan"]["groups"].as_array().expect("plan.groups")
}

fn plan_cells(manifest: &Value) -> Vec<String> {
    plan_groups(manifest)
        .iter()
        .flat_map(|g| g["cells"].as_array().unwrap())
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect()
}

/// The acceptance command: every planned cell gets one ok row with sane
/// numbers, and the manifest, journal, server logs and result files are
/// where docs/RESULTS.md says.
#[test]
fn acceptance_latency_sweep_records_everything() {
    let mut p = RunProject::new();
    p.sim_scale = 0.01;
    let out = p.run(&["--model", "qwen", "--mconf", "2l", "--deploy", "tp8ep8"]);
    assert_eq!(out.code, 0, "{}", out.text());
    let id = p.only_run();
    let re_ok = id.len() == "YYYYMMDD-HHMMSS_qwen_2l".len()
        && id.ends_with("_qwen_2l")
        && id[..8].chars().all(|c| c.is_ascii_digit())
        && &id[8..9] == "-"
        && id[9..15].chars().all(|c| c.is_ascii_digit());
    assert!(re_ok, "run id {id} is not YYYYMMDD-HHMMSS_qwen_2l");

    let manifest = p.manifest(&id);
    let planned = plan_cells(&manifest);
    assert_eq!(planned.len(), shipped_bsz_seq_cells());
    assert_eq!(manifest["run_id"], id.as_str());
    assert!(!manifest["host"].is_null(), "manifest has the host");
    let argv: Vec<&str> = manifest["argv"]
        .as_array()
        .expect("argv")
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        argv.windows(2).any(|w| w == ["--deploy", "tp8ep8"]) && argv.contains(&"run"),
        "manifest argv is the command line: {argv:?}"
    );

    let rows = p.rows(&id);
    assert_eq!(rows.len(), planned.len(), "one row per planned cell");
    assert_unique_cells(&rows);
    for r in &rows {
        assert!(planned.contains(&r["cell_id"]), "row of an unplanned cell");
        assert_eq!(r["status"], "ok", "{r:#?}");
        assert_eq!(r["run_id"], id);
        assert_eq!(r["deploy"], "tp8ep8");
        for col in [
            "prefill_throughput",
            "median_decode_throughput",
            "e2e_throughput",
        ] {
            assert!(num(r, col) > 0.0, "{col} > 0 in {r:#?}");
        }
        let (prefill, e2e) = (num(r, "prefill_latency_s"), num(r, "e2e_latency_s"));
        assert!(0.0 < prefill && prefill < e2e, "prefill < e2e in {r:#?}");
    }

    let journal = p.journal(&id);
    assert_eq!(journal.len(), rows.len(), "one journal line per cell");
    for (j, r) in journal.iter().zip(&rows) {
        assert_eq!(j["cell_id"].as_str().unwrap(), r["cell_id"]);
        assert_eq!(j["status"], "ok");
    }

    for g in plan_groups(&manifest) {
        let dir = p.run_dir(&id).join(g["id"].as_str().unwrap());
        assert!(dir.join("server.log").is_file(), "{dir:?}/server.log");
        let results = read_jsonl(&dir.join("result.jsonl"));
        assert_eq!(results.len(), g["cells"].as_array().unwrap().len());
    }
    // One one_batch process per bsz_seq line.
    let starts = p.starts();
    assert_eq!(starts.len(), plan_groups(&manifest).len());
    assert!(starts.iter().all(|s| s["entry"] == "one-batch"));
    assert!(
        out.stderr.contains(&format!("run {id}: ")),
        "{}",
        out.stderr
    );
    p.assert_no_leftovers();
}

#[test]
fn run_name_changes_the_suffix() {
    let p = RunProject::new();
    let out = p.run(&[
        "--model",
        "qwen",
        "--mconf",
        "2l",
        "--deploy",
        "tp8",
        "--set",
        "bsz=1",
        "--set",
        "seq=16",
        "--set",
        "output_len=4",
        "--run-name",
        "nightly",
    ]);
    assert_eq!(out.code, 0, "{}", out.text());
    let id = p.only_run();
    assert!(
        id.ends_with("_nightly") && !id.contains("qwen"),
        "run id {id}"
    );
    assert_eq!(statuses(&p.rows(&id)).get("ok"), Some(&1));
}

/// The shipped online matrix: one server, 5 request rates, 3 client runs
/// per cell, and the recorded row is the run with the lowest median E2E.
#[test]
fn grok_online_best_of_three() {
    let p = RunProject::new();
    let out = p.run(&[
        "-q",
        "--matrix",
        "matrices/grok_online.yaml",
        "--mconf",
        "2l",
        "--set",
        "output_len=4",
        "--set",
        "seq=16",
    ]);
    assert_eq!(out.code, 0, "{}", out.text());
    let id = p.only_run();
    let rows = p.rows(&id);
    assert_eq!(rows.len(), 5);
    assert_eq!(statuses(&rows).get("ok"), Some(&5), "{rows:#?}");
    let rates: Vec<f64> = rows.iter().map(|r| num(r, "request_rate")).collect();
    assert_eq!(rates, [1.0, 2.0, 4.0, 8.0, 16.0]);
    let manifest = p.manifest(&id);
    let group = &plan_groups(&manifest)[0];
    let gdir = p.run_dir(&id).join(group["id"].as_str().unwrap());
    for r in &rows {
        let rate = num(r, "request_rate");
        assert_eq!(
            num(r, "num_prompts"),
            (300.0 * rate).min(2400.0),
            "derived num_prompts is recorded"
        );
        let runs = read_jsonl(&gdir.join(format!("{}.jsonl", r["cell_id"])));
        assert_eq!(runs.len(), 3, "three client runs for rate {rate}");
        let medians: Vec<f64> = runs
            .iter()
            .map(|l| l["median_e2e_latency_ms"].as_f64().unwrap())
            .collect();
        let best = medians.iter().copied().fold(f64::INFINITY, f64::min);
        // serde_json (without float_roundtrip) may read the last digit
        // one ulp off; the CSV holds the engine's exact value.
        assert!(
            close(num(r, "median_e2e_ms"), best),
            "rate {rate}: recorded median E2E {} is the best of {medians:?}",
            r["median_e2e_ms"]
        );
        let chosen = runs
            .iter()
            .find(|l| l["median_e2e_latency_ms"].as_f64() == Some(best))
            .unwrap();
        assert!(
            close(
                num(r, "output_throughput"),
                chosen["output_throughput"].as_f64().unwrap()
            ),
            "the whole row comes from the chosen run"
        );
    }
    let launches = p.starts();
    assert_eq!(launches.len(), 1, "one server for the whole sweep");
    assert_eq!(launches[0]["port"], p.port);
    p.assert_no_leftovers();
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * a.abs().max(b.abs())
}

/// Serving: 2 deploys × 3 rates = 2 distinct servers = 2 launches.
/// Latency: one one_batch process per bsz_seq line and deploy.
#[test]
fn one_launch_per_distinct_server() {
    let p = RunProject::new();
    p.write(
        "matrices/two_deploys.yaml",
        "axes:\n  model: qwen\n  mode: serving\n  deploy: [tp8, tp8ep8]\n  request_rate: [2, 4, 8]\n\
         set:\n  workload:\n    seq: 16\n    output_len: 4\n    num_prompts: 6\n",
    );
    let out = p.run(&[
        "-q",
        "--matrix",
        "matrices/two_deploys.yaml",
        "--mconf",
        "2l",
    ]);
    assert_eq!(out.code, 0, "{}", out.text());
    let id = p.only_run();
    assert_eq!(statuses(&p.rows(&id)).get("ok"), Some(&6));
    let starts = p.starts();
    assert_eq!(starts.len(), 2, "{starts:#?}");
    assert!(starts.iter().all(|s| s["entry"] == "launch-server"));
    assert!(out.stderr.contains("2 launches"), "{}", out.stderr);

    let p = RunProject::new();
    p.write("bsz_seq.csv", "# two lines\n1,2;16,32\n4;16\n");
    p.write(
        "matrices/lat.yaml",
        "axes:\n  model: qwen\n  mode: latency\n  deploy: [tp8, tp8ep8]\nset:\n  workload:\n    output_len: 4\n",
    );
    let out = p.run(&[
        "-q",
        "--matrix",
        "matrices/lat.yaml",
        "--mconf",
        "2l",
        "--bsz-seq",
        "bsz_seq.csv",
    ]);
    assert_eq!(out.code, 0, "{}", out.text());
    let id = p.only_run();
    assert_eq!(statuses(&p.rows(&id)).get("ok"), Some(&10));
    let starts = p.starts();
    assert_eq!(starts.len(), 4, "2 deploys × 2 bsz_seq lines: {starts:#?}");
    assert!(starts.iter().all(|s| s["entry"] == "one-batch"));
    assert!(out.stderr.contains("4 launches"), "{}", out.stderr);
}

/// Put a stand-in `nsys` first on the run's PATH: it logs its argv, writes
/// `<-o>.nsys-rep` and `<-o>.sqlite`, and runs the command after its
/// options. Returns the argv log.
fn install_stand_in_nsys(p: &mut RunProject) -> std::path::PathBuf {
    let bin = p.path().join("bin");
    let argv_log = p.path().join("nsys-argv.txt");
    p.write(
        "bin/nsys",
        &format!(
            r#"#!/bin/sh
# stand-in for Nsight Systems: log argv, write <-o>.nsys-rep and .sqlite,
# run the command after the nsys options.
echo "$*" >> '{log}'
[ "$1" = profile ] || exit 64
shift
out=
while [ $# -gt 0 ]; do
  case "$1" in
    -o|--output) out="$2"; shift 2;;
    -t|--trace|--export|--force-overwrite|--capture-range|--capture-range-end) shift 2;;
    -*) shift;;
    *) break;;
  esac
done
[ -n "$out" ] || exit 65
echo rep > "$out.nsys-rep"
echo sqlite > "$out.sqlite"
exec "$@"
"#,
            log = argv_log.display()
        ),
    );
    {
        use std::os::unix::fs::PermissionsExt;
        let f = bin.join("nsys");
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    p.env.push(("PATH".into(), path));
    argv_log
}

/// `--profile decode` wraps every one_batch cell in `nsys profile ...`: a
/// stand-in nsys records its argv, writes the two artifacts and runs the
/// real command.
#[test]
fn profile_decode_under_stand_in_nsys() {
    let mut p = RunProject::new();
    let argv_log = install_stand_in_nsys(&mut p);
    p.write("bsz_seq.csv", "1,2;16,32\n");
    let out = p.run(&[
        "--model",
        "qwen",
        "--mconf",
        "2l",
        "--deploy",
        "tp8ep8",
        "--backend",
        "fa3",
        "--bsz-seq",
        "bsz_seq.csv",
        "--set",
        "output_len=4",
        "--profile",
        "decode",
    ]);
    assert_eq!(out.code, 0, "{}", out.text());
    let id = p.only_run();
    let rows = p.rows(&id);
    assert_eq!(rows.len(), 4);
    assert_eq!(statuses(&rows).get("ok"), Some(&4), "{rows:#?}");
    let dir = p.results().join("qwen_profile").join(&id);
    for row in &rows {
        // The readable part, then the cell id (cells differing only by
        // what it does not name would otherwise share one artifact).
        let (b, s, cell) = (&row["bsz"], &row["input_len"], &row["cell_id"]);
        let base = format!("decode_bsz{b}_seq{s}_tp8ep8_fa3_{cell}");
        for ext in ["nsys-rep", "sqlite"] {
            let f = dir.join(format!("{base}.{ext}"));
            assert!(f.is_file(), "missing {}", f.display());
        }
    }
    let calls = std::fs::read_to_string(&argv_log).unwrap();
    let calls: Vec<&str> = calls.lines().collect();
    assert_eq!(calls.len(), 4, "one nsys run per cell: {calls:#?}");
    for call in &calls {
        for part in [
            "profile -t cuda,nvtx",
            "--capture-range=cudaProfilerApi",
            "--capture-range-end=stop",
            "--export sqlite",
            " sim one-batch ",
            "--profile --profile-activities CUDA_PROFILER --profile-stage decode",
        ] {
            assert!(call.contains(part), "`{part}` not in nsys argv: {call}");
        }
        assert!(!call.contains("--profile-stage prefill"), "{call}");
    }
}

/// `--dry-run` prints the plan and creates nothing: no results folder, no
/// process started.
#[test]
fn dry_run_prints_the_plan_and_creates_nothing() {
    let p = RunProject::new();
    let before = list(p.path());
    let out = p.run(&[
        "--model",
        "qwen",
        "--mconf",
        "2l",
        "--deploy",
        "tp8ep8",
        "--dry-run",
    ]);
    assert_eq!(out.code, 0, "{}", out.text());
    assert!(
        out.stdout.contains("one-batch") && out.stdout.contains("tp8ep8"),
        "the plan is printed:\n{}",
        out.stdout
    );
    assert!(!p.results().exists(), "results/ created by a dry run");
    assert_eq!(list(p.path()), before, "files created by a dry run");
    assert!(p.starts().is_empty(), "a dry run started something");
}

fn list(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(d: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(d).unwrap().flatten() {
            out.push(e.path().display().to_string());
            if e.file_type().unwrap().is_dir() {
                walk(&e.path(), out);
            }
        }
    }
    walk(dir, &mut out);
    out.sort();
    out
}

/// Serving groups are not profiled (yet): `--profile` says so instead of
/// silently writing no artifacts, and the cells still run.
#[test]
fn profile_in_serving_mode_brackets_each_cell() {
    let mut p = RunProject::new();
    let argv_log = install_stand_in_nsys(&mut p);
    p.write(
        "matrices/one.yaml",
        "axes:\n  model: qwen\n  mode: serving\n  deploy: tp8\n  request_rate: [4, 8]\n\
         set:\n  workload:\n    seq: 16\n    output_len: 4\n    num_prompts: 4\n",
    );
    let out = p.run(&[
        "--matrix",
        "matrices/one.yaml",
        "--mconf",
        "2l",
        "--profile",
        "both",
    ]);
    assert_eq!(out.code, 0, "{}", out.text());
    let id = p.only_run();
    let rows = p.rows(&id);
    assert_eq!(statuses(&rows).get("ok"), Some(&2), "{rows:#?}");
    // One server launch per cell and phase, each under nsys.
    let calls = std::fs::read_to_string(&argv_log).unwrap();
    assert_eq!(calls.lines().count(), 4, "{calls}");
    assert!(
        calls
            .lines()
            .all(|l| l.contains("--capture-range=cudaProfilerApi") && l.contains("launch-server"))
    );
    let dir = p.results().join("qwen_profile").join(&id);
    for row in &rows {
        let cell = &row["cell_id"];
        for phase in ["prefill", "decode"] {
            for ext in ["nsys-rep", "sqlite"] {
                let f = dir.join(format!("{phase}_{cell}_tp8_none.{ext}"));
                assert!(f.is_file(), "missing {}", f.display());
            }
        }
    }
    // The profiler range was opened and closed around each pass.
    let group_dir = p.results().join("raw_output").join(&id);
    let log = std::fs::read_dir(&group_dir)
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("server.log")).ok())
        .collect::<String>();
    assert_eq!(log.matches("cudaProfilerStart").count(), 4, "{log}");
    assert_eq!(log.matches("cudaProfilerStop").count(), 4);
    p.assert_no_leftovers();
}

/// `--mode batch`: one launched server for the whole bsz_seq sweep, one
/// `matrix bench batch` per cell, one_batch's metrics in the CSV.
#[test]
fn batch_mode_measures_a_launched_server() {
    let p = RunProject::new();
    p.write("bsz_seq.csv", "1,2;16,32\n");
    let out = p.run(&[
        "--model",
        "qwen",
        "--mconf",
        "2l",
        "--deploy",
        "tp8ep8",
        "--mode",
        "batch",
        "--bsz-seq",
        "bsz_seq.csv",
        "--set",
        "output_len=4",
    ]);
    assert_eq!(out.code, 0, "{}", out.text());
    let id = p.only_run();
    let rows = p.rows(&id);
    assert_eq!(rows.len(), 4);
    assert_eq!(statuses(&rows).get("ok"), Some(&4), "{rows:#?}");
    for r in &rows {
        assert_eq!(r["mode"], "batch");
        let prefill: f64 = r["prefill_latency_s"].parse().unwrap();
        let e2e: f64 = r["e2e_latency_s"].parse().unwrap();
        assert!(prefill > 0.0 && prefill < e2e, "{r:?}");
        assert!(r["median_decode_throughput"].parse::<f64>().unwrap() > 0.0);
    }
    let servers = p
        .starts()
        .iter()
        .filter(|s| s["entry"] == "launch-server")
        .count();
    assert_eq!(servers, 1, "one server for all cells");
    p.assert_no_leftovers();
}

/// A selection metric the results do not carry is bad input: exit 2 before
/// anything is written.
#[test]
fn unknown_select_metric_is_refused_before_writing() {
    let p = RunProject::new();
    let out = p.run(&[
        "--matrix",
        "matrices/grok_online.yaml",
        "--mconf",
        "2l",
        "--set",
        "select_metric=median_foo",
    ]);
    assert_eq!(out.code, 2, "{}", out.text());
    assert!(out.stderr.contains("median_foo"), "{}", out.stderr);
    assert!(!p.results().exists(), "nothing written");
    assert!(p.starts().is_empty(), "nothing started");
}
