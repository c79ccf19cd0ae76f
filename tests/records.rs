//! Honest records: run folders claimed exclusively (two runs of one second
//! get two ids, nothing of one run touched by another), every executed
//! command and every engine's version in the run folder, a run that outlives
//! a closed stdout/stderr, and a resume that says which flags it ignores and
//! counts the whole run.

mod support;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use support::run::{RunProject, read_jsonl, statuses};

/// One one_batch launch measuring `bsz_seq` (2 cells for "1,2;16").
fn tiny_latency(p: &RunProject, bsz_seq: &str) -> Vec<String> {
    p.write("tiny.csv", bsz_seq);
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
        "same",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn commands(p: &RunProject, id: &str) -> Vec<Value> {
    read_jsonl(&p.run_dir(id).join("commands.jsonl"))
}

fn argv_of(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an argv: {v}"))
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect()
}

/// `YYYYMMDD-HHMMSS` of a run id.
fn second_of(id: &str) -> &str {
    &id[..15]
}

/// Every file under `dir` with its bytes, sorted.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((p.display().to_string(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// Two `matrix run`s started at once, in the same second, with the same
/// name: two run folders, two complete CSVs, and each run's commands name
/// only its own folder. Seconds can tick between the two starts; the pair
/// is started again until one lands in a single second (at most 5 times).
#[test]
fn two_runs_started_in_the_same_second_get_distinct_ids() {
    for _ in 0..5 {
        let p = RunProject::new();
        let args = tiny_latency(&p, "1,2;16\n");
        let a = p.spawn(&strs(&args));
        let b = p.spawn(&strs(&args));
        let (a, b) = (
            a.wait(Duration::from_secs(60)),
            b.wait(Duration::from_secs(60)),
        );
        assert_eq!(a.code, 0, "{}", a.text());
        assert_eq!(b.code, 0, "{}", b.text());
        let ids = p.run_ids();
        assert_eq!(ids.len(), 2, "two runs, two CSVs: {ids:?}");
        if second_of(&ids[0]) != second_of(&ids[1]) {
            continue;
        }
        let first = format!("{}_same", second_of(&ids[0]));
        let second = format!("{}-2_same", second_of(&ids[0]));
        let mut sorted = vec![first, second];
        sorted.sort();
        assert_eq!(ids, sorted);
        for id in &ids {
            let rows = p.rows(id);
            assert_eq!(statuses(&rows).get("ok"), Some(&2), "{id}: {rows:#?}");
            assert!(rows.iter().all(|r| &r["run_id"] == id), "{rows:#?}");
            assert_eq!(p.journal(id).len(), 2);
            assert_eq!(p.manifest(id)["run_id"], id.as_str());
            let own = p.run_dir(id).display().to_string();
            let cmds = commands(&p, id);
            assert_eq!(cmds.len(), 1, "one one_batch launch: {cmds:#?}");
            let argv = argv_of(&cmds[0]["argv"]).join(" ");
            assert!(argv.contains(&format!("{own}/")), "{argv}");
            for other in ids.iter().filter(|o| *o != id) {
                let theirs = format!("{}/", p.run_dir(other).display());
                assert!(!argv.contains(&theirs), "{argv}");
            }
        }
        return;
    }
    panic!("5 pairs of runs never started within one second");
}

/// A run whose id is taken (the folder exists, with files in it) gets the
/// next id at once and never touches the other run's files.
#[test]
fn a_taken_id_gets_the_next_one_and_is_left_alone() {
    let p = RunProject::new();
    let args = tiny_latency(&p, "1;16\n");
    // Take the ids of this second and the next few: whichever second the
    // run starts in, its first id is taken.
    let now = jiff::Zoned::now();
    let mut taken = Vec::new();
    for s in 0..10 {
        let t = now.checked_add(jiff::Span::new().seconds(s)).unwrap();
        let id = format!("{}_same", t.strftime("%Y%m%d-%H%M%S"));
        let dir = p.run_dir(&id);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("journal.jsonl"), "not yours\n").unwrap();
        taken.push(id);
    }
    let before = files(&p.results());
    let out = p.run(&strs(&args));
    assert_eq!(out.code, 0, "{}", out.text());
    let id = p.only_run();
    assert!(
        taken
            .iter()
            .any(|t| id == t.replacen("_same", "-2_same", 1)),
        "{id} is not a taken id with -2: {taken:?}"
    );
    for (path, bytes) in &before {
        assert_eq!(&std::fs::read(path).unwrap(), bytes, "{path} changed");
    }
    assert_eq!(p.rows(&id).len(), 1);
    assert_eq!(p.manifest(&id)["plan"]["run_id"], id.as_str());
}

/// `matrix run` with stdout and stderr both closed by the reader before
/// anything is written: the run goes on, exits 0 and writes every row.
#[test]
fn closed_stdout_and_stderr_do_not_stop_the_run() {
    let p = RunProject::new();
    let args = tiny_latency(&p, "1,2;16,32\n");
    let mut cmd = p.run_cmd(&strs(&args));
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("matrix starts");
    drop(child.stdout.take());
    drop(child.stderr.take());
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(std::time::Instant::now() < deadline, "matrix hangs");
        std::thread::sleep(Duration::from_millis(20));
    };
    // A panic exits 101; a signal (SIGPIPE) would leave no code.
    assert_eq!(status.code(), Some(0), "{status:?}");
    let id = p.only_run();
    let rows = p.rows(&id);
    assert_eq!(statuses(&rows).get("ok"), Some(&4), "{rows:#?}");
    assert_eq!(p.journal(&id).len(), 4);
    for (path, bytes) in files(&p.results()) {
        assert!(
            !String::from_utf8_lossy(&bytes).contains("panicked"),
            "{path} mentions a panic"
        );
    }
}

/// `matrix plan | head -1`: the reader goes away after one line; plan exits
/// 0 without a panic (stderr stays open here and must be empty).
#[test]
fn plan_into_a_closed_pipe_exits_quietly() {
    let p = RunProject::new();
    let mut cmd = p.matrix(&["plan", "--model", "qwen", "--deploy", "tp8,tp8ep8"]);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

/// `--resume` with planning flags names the flags it ignores; the summary
/// counts every cell of the run, those finished before the resume too.
#[test]
fn resume_names_ignored_flags_and_counts_the_whole_run() {
    let p = RunProject::new();
    let args = tiny_latency(&p, "1,2;16,32\n");
    let out = p.run(&strs(&args));
    assert_eq!(out.code, 0, "{}", out.text());
    let id = p.only_run();
    // As if killed after the first cell: keep one journal line.
    let journal = p.run_dir(&id).join("journal.jsonl");
    let text = std::fs::read_to_string(&journal).unwrap();
    std::fs::write(&journal, format!("{}\n", text.lines().next().unwrap())).unwrap();

    let cmd = p.matrix(&[
        "run", "--resume", &id, "--model", "qwen", "--deploy", "tp8", "--set", "x=1", "--gpu",
        "h200", "--grace", "1", "--quiet",
    ]);
    let out = support::run::run_to_end(cmd, Duration::from_secs(60));
    assert_eq!(out.code, 0, "{}", out.text());
    let warning = out.stderr.lines().next().unwrap_or_default().to_string();
    insta::assert_snapshot!("resume_ignored_flags", warning);
    assert!(
        out.stderr.contains(
            "4 cells: 4 ok, 0 failed, 0 skipped, 0 pruned (1 finished before this resume)"
        ),
        "{}",
        out.stderr
    );
    let rows = p.rows(&id);
    assert_eq!(statuses(&rows).get("ok"), Some(&4), "{rows:#?}");
    // The first launch ran the plan's argv; the resume's launches ran only
    // what was left ((1,2)x32 and 2x16: the plan's lists would redo 1x16),
    // and commands.jsonl has those argv, not the plan's.
    let planned = argv_of(&p.manifest(&id)["plan"]["groups"][0]["launch"]["argv"]);
    let cmds = commands(&p, &id);
    assert_eq!(cmds.len(), 3, "{cmds:#?}");
    assert_eq!(argv_of(&cmds[0]["argv"]), planned);
    let lists = |c: &Value| {
        let a = argv_of(&c["argv"]);
        let after = |flag: &str| -> Vec<String> {
            let i = a.iter().position(|x| x == flag).unwrap() + 1;
            a[i..]
                .iter()
                .take_while(|x| !x.starts_with("--"))
                .cloned()
                .collect()
        };
        (after("--batch-size"), after("--input-len"))
    };
    assert_eq!(
        lists(&cmds[1]),
        (vec!["1".into(), "2".into()], vec!["32".into()])
    );
    assert_eq!(lists(&cmds[2]), (vec!["2".into()], vec!["16".into()]));
}

/// `--dry-run` cannot go with `--resume` (a resume is not planned again):
/// a usage error, exit 2, nothing run.
#[test]
fn dry_run_with_resume_is_a_usage_error() {
    let p = RunProject::new();
    let cmd = p.matrix(&["run", "--resume", "latest", "--dry-run"]);
    let out = support::run::run_to_end(cmd, Duration::from_secs(30));
    assert_eq!(out.code, 2, "{}", out.text());
    assert!(!p.results().exists());
    insta::assert_snapshot!("dry_run_with_resume", out.stderr);
}

/// The manifest names every engine's version (or null and why), and
/// commands.jsonl holds the launch and every client exactly as planned for
/// a serving group.
#[test]
fn manifest_has_versions_and_commands_are_recorded_as_run() {
    let p = RunProject::new();
    p.write(
        "matrices/two_rates.yaml",
        "axes:\n  model: qwen\n  mode: serving\n  deploy: tp8\n  request_rate: [4, 8]\n\
         set:\n  workload:\n    seq: 16\n    output_len: 4\n    num_prompts: 4\n",
    );
    let out = p.run(&["--matrix", "matrices/two_rates.yaml", "--mconf", "2l"]);
    assert_eq!(out.code, 0, "{}", out.text());
    let id = p.only_run();
    let m = p.manifest(&id);
    assert_eq!(
        m["engines"],
        serde_json::json!([{"name": "sim", "version": format!("matrix {}", env!("CARGO_PKG_VERSION"))}])
    );
    let group = &m["plan"]["groups"][0];
    let cmds = commands(&p, &id);
    let launches: Vec<&Value> = cmds.iter().filter(|c| c["role"] == "launch").collect();
    let clients: Vec<&Value> = cmds.iter().filter(|c| c["role"] == "client").collect();
    assert_eq!(launches.len(), 1, "{cmds:#?}");
    assert_eq!(launches[0]["argv"], group["launch"]["argv"]);
    assert_eq!(launches[0]["env"], group["launch"]["env"]);
    assert_eq!(launches[0]["group"], group["id"]);
    assert!(launches[0]["cell"].is_null());
    let cells = group["cells"].as_array().unwrap();
    assert_eq!(clients.len(), cells.len(), "{cmds:#?}");
    for (c, cell) in clients.iter().zip(cells) {
        assert_eq!(c["cell"], cell["id"]);
        assert_eq!(c["argv"], cell["client"]["argv"]);
        assert!(c["started_at"].as_str().unwrap().ends_with('Z'), "{c}");
    }
}

/// An engine whose version is not known is `null` with the reason: not
/// probed (MATRIX_FLAGS=table), or its probe failed (not installed).
#[test]
fn engine_version_is_null_with_a_reason_when_unknown() {
    let p = RunProject::new();
    let plan = |flags: Option<&str>| -> Value {
        let mut cmd = p.matrix(&["plan", "--json", "--model", "qwen", "--deploy", "tp8"]);
        match flags {
            Some(f) => cmd.env("MATRIX_FLAGS", f),
            None => cmd.env_remove("MATRIX_FLAGS"),
        };
        // No python3 on PATH: the version probe cannot find an engine.
        cmd.env("PATH", p.path().join("no-bin"));
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let table = &plan(Some("table"))["engine_versions"]["sglang"];
    assert!(table["version"].is_null(), "{table}");
    assert_eq!(
        table["reason"],
        "not probed (MATRIX_FLAGS=table): flags from conf/engine/flags/sglang-0.5.23.json"
    );
    let auto = &plan(None)["engine_versions"]["sglang"];
    assert!(auto["version"].is_null(), "{auto}");
    let reason = auto["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("not installed (`python3 -c ") && reason.ends_with(".json"),
        "{reason}"
    );
}

/// Profiled cells run under nsys: commands.jsonl records the nsys argv that
/// ran, not the plan's bare launch.
#[test]
fn profiled_launches_are_recorded_with_their_nsys_argv() {
    let mut p = RunProject::new();
    p.write(
        "bin/nsys",
        "#!/bin/sh\n[ \"$1\" = profile ] || exit 64\nshift\nout=\n\
         while [ $# -gt 0 ]; do case \"$1\" in -o) out=\"$2\"; shift 2;; \
         -t|--export|--force-overwrite) shift 2;; -*) shift;; *) break;; esac; done\n\
         : > \"$out.nsys-rep\"; : > \"$out.sqlite\"\nexec \"$@\"\n",
    );
    {
        use std::os::unix::fs::PermissionsExt;
        let f = p.path().join("bin/nsys");
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let path = format!(
        "{}:{}",
        p.path().join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    p.env.push(("PATH".into(), path));
    let mut args = tiny_latency(&p, "1,2;16\n");
    args.extend(["--profile".to_string(), "decode".to_string()]);
    let out = p.run(&strs(&args));
    assert_eq!(out.code, 0, "{}", out.text());
    let id = p.only_run();
    let cmds = commands(&p, &id);
    assert_eq!(cmds.len(), 2, "one profiled launch per cell: {cmds:#?}");
    for c in &cmds {
        let argv = argv_of(&c["argv"]);
        assert_eq!(argv[..2], ["nsys", "profile"], "{argv:?}");
        let line = argv.join(" ");
        assert!(line.contains("--profile-stage decode"), "{line}");
    }
}
