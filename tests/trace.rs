//! Rows you can trace: every CSV row names its group (`group_id`) and its
//! own log (`log`, relative to the run folder), and an older run whose CSV
//! lacks those two columns still resumes.

mod support;

use support::run::{RunProject, read_csv};

/// A 2×2 latency sweep in one one_batch launch (4 cells).
fn latency_args(p: &RunProject) -> Vec<String> {
    p.write("tiny.csv", "1,2;16,32\n");
    [
        "--model",
        "qwen",
        "--mconf",
        "2l",
        "--deploy",
        "tp8ep8",
        "--bsz-seq",
        "tiny.csv",
        "--set",
        "output_len=4",
        "--run-name",
        "trace",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// The CSV's header line.
fn header(p: &RunProject, id: &str) -> Vec<String> {
    let text = std::fs::read_to_string(p.csv_path(id)).unwrap();
    let first = text.lines().next().unwrap();
    first.split(',').map(str::to_string).collect()
}

#[test]
fn latency_rows_name_their_group_and_the_one_batch_log() {
    let p = RunProject::new();
    let out = p.run(&strs(&latency_args(&p)));
    assert_eq!(out.code, 0, "{}", out.text());
    let id = p.only_run();
    let h = header(&p, &id);
    assert_eq!(h[h.len() - 2..], ["group_id", "log"], "{h:?}");
    let group = p.manifest(&id)["plan"]["groups"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let rows = p.rows(&id);
    assert_eq!(rows.len(), 4, "{rows:#?}");
    for r in &rows {
        assert_eq!(r["group_id"], group, "{r:#?}");
        assert_eq!(r["log"], format!("{group}/server.log"), "{r:#?}");
    }
    assert!(p.run_dir(&id).join(&rows[0]["log"]).is_file());
}

#[test]
fn serving_rows_name_their_client_log() {
    let p = RunProject::new();
    p.write(
        "matrices/two_rates.yaml",
        "axes:\n  model: qwen\n  mode: serving\n  deploy: tp8\n  request_rate: [4, 8]\n\
         set:\n  workload:\n    seq: 16\n    output_len: 4\n    num_prompts: 4\n",
    );
    let out = p.run(&["--matrix", "matrices/two_rates.yaml", "--mconf", "2l"]);
    assert_eq!(out.code, 0, "{}", out.text());
    let id = p.only_run();
    let group = p.manifest(&id)["plan"]["groups"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let rows = p.rows(&id);
    assert_eq!(rows.len(), 2, "{rows:#?}");
    for r in &rows {
        assert_eq!(r["group_id"], group, "{r:#?}");
        assert_eq!(r["log"], format!("{group}/{}.log", r["cell_id"]), "{r:#?}");
        assert!(p.run_dir(&id).join(&r["log"]).is_file(), "{r:#?}");
    }
}

/// A serving cell whose server never started has no client log: its `log`
/// is the group's server.log, the log that says why.
#[test]
fn a_cell_whose_server_did_not_start_names_the_server_log() {
    let p = RunProject::new();
    p.write(
        "matrices/crash.yaml",
        "axes:\n  model: qwen\n  mode: serving\n  deploy: tp8\n  request_rate: [4]\n  \
         env.MATRIX_SIM_FAULT: [\"crash_at_start=3\"]\n\
         set:\n  workload:\n    seq: 16\n    output_len: 4\n    num_prompts: 4\n",
    );
    let out = p.run(&[
        "--matrix",
        "matrices/crash.yaml",
        "--mconf",
        "2l",
        "--startup-retries",
        "0",
    ]);
    assert_eq!(out.code, 1, "{}", out.text());
    let id = p.only_run();
    let rows = p.rows(&id);
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0]["status"], "startup_crash", "{rows:#?}");
    assert_eq!(
        rows[0]["log"],
        format!("{}/server.log", rows[0]["group_id"]),
        "{rows:#?}"
    );
    assert!(p.run_dir(&id).join(&rows[0]["log"]).is_file());
}

/// A run whose CSV was written before `group_id` and `log` existed resumes:
/// its header stays as it was and the rows written on resume have its
/// columns (the journal keeps the full rows).
#[test]
fn an_older_csv_without_the_trace_columns_resumes_with_its_header() {
    let p = RunProject::new();
    let out = p.run(&strs(&latency_args(&p)));
    assert_eq!(out.code, 0, "{}", out.text());
    let id = p.only_run();
    let csv = p.csv_path(&id);
    let full = read_csv(&csv);
    // Make it an older run killed after its first cell: the CSV without the
    // last two columns, one journal line.
    let text = std::fs::read_to_string(&csv).unwrap();
    let old: String = text
        .lines()
        .take(2)
        .map(|l| {
            let mut f: Vec<&str> = l.split(',').collect();
            f.truncate(f.len() - 2);
            format!("{}\n", f.join(","))
        })
        .collect();
    std::fs::write(&csv, &old).unwrap();
    let journal = p.run_dir(&id).join("journal.jsonl");
    let jt = std::fs::read_to_string(&journal).unwrap();
    std::fs::write(&journal, format!("{}\n", jt.lines().next().unwrap())).unwrap();

    // A killed run's commands.sh may lag behind commands.jsonl: the resume
    // rewrites it from commands.jsonl before anything runs.
    let script = p.run_dir(&id).join("commands.sh");
    std::fs::write(&script, "stale\n").unwrap();

    let out = p.resume(&id);
    assert_eq!(out.code, 0, "{}", out.text());
    let sh = std::fs::read_to_string(&script).unwrap();
    assert!(sh.starts_with("#!/usr/bin/env bash\n"), "{sh}");
    // The first session's launch, then the resume's (one_batch processes
    // for the cells left): each launch of commands.jsonl, once.
    let recorded = run_support_launches(&p, &id);
    assert!(recorded >= 2, "commands.jsonl has both sessions' launches");
    assert_eq!(sh.matches(" launch\n").count(), recorded, "{sh}");
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(text.starts_with(&old), "{text}");
    let old_header = old.lines().next().unwrap();
    assert_eq!(text.lines().next().unwrap(), old_header);
    assert!(!old_header.contains("group_id"), "{old_header}");
    let rows = read_csv(&csv);
    assert_eq!(rows.len(), 4, "{text}");
    let width = old_header.split(',').count();
    for (r, line) in rows.iter().zip(text.lines().skip(1)) {
        assert_eq!(r["status"], "ok", "{r:#?}");
        assert_eq!(line.split(',').count(), width, "{line}");
        assert!(!r.contains_key("log"), "{r:#?}");
    }
    // The same cells as the unkilled run.
    let ids = |rows: &[support::run::Row]| {
        let mut v: Vec<String> = rows.iter().map(|r| r["cell_id"].clone()).collect();
        v.sort();
        v
    };
    assert_eq!(ids(&rows), ids(&full));
}

/// `commands.sh` of a latency sim run, run with bash, re-runs the one_batch
/// process: its result file gets the same lines again. Every field of the
/// simulator's one_batch result is computed from the model and the seed
/// (two runs agree exactly), so they are compared exactly.
#[test]
fn commands_sh_of_a_latency_run_reproduces_its_results() {
    let p = RunProject::new();
    let out = p.run(&strs(&latency_args(&p)));
    assert_eq!(out.code, 0, "{}", out.text());
    let id = p.only_run();
    let run_dir = p.run_dir(&id);
    let script = run_dir.join("commands.sh");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&script).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o755);
    let group = p.manifest(&id)["plan"]["groups"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let result = run_dir.join(&group).join("result.jsonl");
    let before = std::fs::read_to_string(&result).unwrap();
    assert_eq!(before.lines().count(), 4, "{before}");
    let out = script_run(&p, &script);
    assert_eq!(out.status.code(), Some(0), "{}", out_text(&out));
    let after = std::fs::read_to_string(&result).unwrap();
    assert_eq!(after, format!("{before}{before}"), "{}", out_text(&out));
    // And the CSV row of a cell is what that line says.
    let rows = p.rows(&id);
    let line: serde_json::Value = serde_json::from_str(before.lines().next().unwrap()).unwrap();
    let row = rows
        .iter()
        .find(|r| {
            r["bsz"].parse::<u64>().ok() == line["batch_size"].as_u64()
                && r["input_len"].parse::<u64>().ok() == line["input_len"].as_u64()
        })
        .unwrap();
    assert_eq!(
        row["prefill_latency_s"],
        line["prefill_latency"].to_string()
    );
}

/// A serving block: the server starts in the background, the script waits
/// for its readiness URL, runs the clients, stops the server. Each client
/// writes its output file again with the same request count, and nothing
/// is left running (the port is free).
#[test]
fn commands_sh_of_a_serving_run_starts_serves_and_stops() {
    let p = RunProject::new();
    p.write(
        "matrices/two_rates.yaml",
        "axes:\n  model: qwen\n  mode: serving\n  deploy: tp8\n  request_rate: [4, 8]\n\
         set:\n  workload:\n    seq: 16\n    output_len: 4\n    num_prompts: 4\n",
    );
    let out = p.run(&["--matrix", "matrices/two_rates.yaml", "--mconf", "2l"]);
    assert_eq!(out.code, 0, "{}", out.text());
    let id = p.only_run();
    let run_dir = p.run_dir(&id);
    let rows = p.rows(&id);
    assert_eq!(rows.len(), 2);
    let outputs: Vec<(std::path::PathBuf, String)> = rows
        .iter()
        .map(|r| {
            let f = run_dir
                .join(&r["group_id"])
                .join(format!("{}.jsonl", r["cell_id"]));
            std::fs::remove_file(&f).unwrap();
            (f, r["completed"].clone())
        })
        .collect();
    let starts = p.starts().len();
    let out = script_run(&p, &run_dir.join("commands.sh"));
    assert_eq!(out.status.code(), Some(0), "{}", out_text(&out));
    assert_eq!(p.starts().len(), starts + 1, "one more server start");
    for (f, completed) in &outputs {
        let text = std::fs::read_to_string(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let v: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
        assert_eq!(v["completed"].to_string(), *completed, "{text}");
    }
    assert!(!p.port_busy(), "the server's port is still bound");
    p.assert_no_leftovers();
}

/// `bash commands.sh` from another folder, with no MATRIX_* variable of
/// its own: the script sets what the run had (its `cd`, its environment).
fn script_run(p: &RunProject, script: &std::path::Path) -> std::process::Output {
    let mut cmd = std::process::Command::new("bash");
    cmd.arg(script).current_dir("/");
    for (k, _) in std::env::vars() {
        if k.starts_with("MATRIX_") {
            cmd.env_remove(k);
        }
    }
    cmd.env(support::run::MARK, p.path());
    cmd.stdin(std::process::Stdio::null());
    cmd.output().unwrap()
}

fn out_text(o: &std::process::Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Launch records in a run's commands.jsonl.
fn run_support_launches(p: &RunProject, id: &str) -> usize {
    support::run::read_jsonl(&p.run_dir(id).join("commands.jsonl"))
        .iter()
        .filter(|c| c["role"] == "launch")
        .count()
}
