//! Pre-flight: what would make every launch fail is refused before anything
//! starts: exit 2, a message with a hint (snapshot), no run folder, no CSV.

mod support;

use std::path::{Path, PathBuf};

use support::project::{Project, matrix_at, output, redactions};

/// Assert exit 2, nothing under results/, and snapshot stderr.
fn refused(p: &Project, name: &str, cmd: assert_cmd::Command) -> String {
    let (code, stdout, stderr) = output(cmd);
    assert_eq!(code, 2, "{name}: stdout={stdout} stderr={stderr}");
    assert!(
        !p.path().join("results").exists(),
        "{name}: results/ written: stderr={stderr}"
    );
    settings(p).bind(|| insta::assert_snapshot!(name, stderr));
    stderr
}

/// The shared redactions, plus group and cell ids (group ids hash the run
/// folder's path).
fn settings(p: &Project) -> insta::Settings {
    let mut s = redactions(p.path());
    s.add_filter(r"\bg[0-9a-f]{12}\b", "[GROUP]");
    s.add_filter(r"\bc[0-9a-f]{12}\b", "[CELL]");
    s
}

/// An executable script `bin/<name>` in the project; returns bin/.
fn script(p: &Project, name: &str, body: &str) -> PathBuf {
    let f = p.write(&format!("bin/{name}"), &format!("#!/bin/sh\n{body}\n"));
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o755)).unwrap();
    f.parent().unwrap().to_path_buf()
}

/// `dir` first on PATH, then the usual system folders (a fixed PATH, so
/// the test does not depend on what this machine has installed).
fn path_with(dir: &Path) -> String {
    format!("{}:/usr/bin:/bin", dir.display())
}

/// A model folder with a config but no tokenizer files.
fn model_without_tokenizer(p: &Project) {
    let cfg = std::fs::read_to_string(p.path().join("model_conf/qwen/config_2l.json")).unwrap();
    p.write("model_conf/notok/config_2l.json", &cfg);
}

/// One serving cell of `model` on tp1, text prompts (`random` needs the
/// model's tokenizer).
fn serving_matrix(p: &Project, model: &str, dataset: &str) -> &'static str {
    p.write(
        "matrices/pf.yaml",
        &format!(
            "axes:\n  model: {model}\n  mconf: 2l\n  mode: serving\n  deploy: tp1\n\
             set:\n  workload:\n    dataset: {dataset}\n    seq: 16\n    output_len: 4\n    num_prompts: 2\n"
        ),
    );
    "matrices/pf.yaml"
}

#[test]
fn no_conf_folder_names_root_and_matrix_root() {
    let p = Project::new();
    let empty = tempfile::tempdir().unwrap();
    for sub in [&["plan"][..], &["run", "--engine", "sim"], &["show-config"]] {
        let mut cmd = assert_cmd::Command::cargo_bin("matrix").unwrap();
        cmd.env_remove("MATRIX_ROOT")
            .current_dir(empty.path())
            .args(sub)
            .args(["--model", "qwen"]);
        let (code, _, stderr) = output(cmd);
        assert_eq!(code, 2, "{sub:?}: {stderr}");
        assert!(stderr.contains("no conf/ found in"), "{sub:?}: {stderr}");
        assert!(
            !empty.path().join("results").exists(),
            "{sub:?} wrote results/"
        );
    }
    // --root pointing at a folder without conf/ is refused the same way.
    refused(
        &p,
        "no_conf",
        matrix_at(&p.path().join("model_conf"), &["plan", "--model", "qwen"]),
    );
}

#[test]
fn engine_module_not_importable_names_module_and_engine_sim() {
    let p = Project::new();
    // An interpreter in which no module is importable.
    let bin = script(&p, "python3", "exit 1");
    let mut cmd = p.matrix(&[
        "run", "--engine", "sglang", "--model", "qwen", "--mconf", "2l", "--deploy", "tp1",
    ]);
    cmd.env("PATH", path_with(&bin));
    let err = refused(&p, "engine_module_missing", cmd);
    assert!(err.contains("sglang.benchmark.one_batch"), "{err}");
    assert!(err.contains("--engine sim"), "{err}");
}

#[test]
fn engine_interpreter_not_on_path() {
    let p = Project::new();
    let empty = p.path().join("emptybin");
    std::fs::create_dir_all(&empty).unwrap();
    let m = serving_matrix(&p, "qwen", "random-ids");
    let mut cmd = p.matrix(&["run", "--engine", "vllm", "--matrix", m]);
    cmd.env("PATH", empty.display().to_string());
    let err = refused(&p, "engine_program_not_on_path", cmd);
    assert!(err.contains("python3 is not on PATH"), "{err}");
}

#[test]
fn profile_without_nsys_on_path() {
    let p = Project::new();
    let empty = p.path().join("emptybin");
    std::fs::create_dir_all(&empty).unwrap();
    let mut cmd = p.matrix(&[
        "run",
        "--engine",
        "sim",
        "--model",
        "qwen",
        "--mconf",
        "2l",
        "--deploy",
        "tp1",
        "--profile",
        "decode",
    ]);
    cmd.env("PATH", empty.display().to_string());
    refused(&p, "no_nsys", cmd);
}

#[test]
fn plan_profile_shows_the_nsys_command_of_each_pass() {
    let p = Project::new();
    p.write("bsz_seq.csv", "1,2;16\n");
    let args = [
        "plan",
        "--engine",
        "sim",
        "--model",
        "qwen",
        "--mconf",
        "2l",
        "--deploy",
        "tp1",
        "--bsz-seq",
        "bsz_seq.csv",
        "--profile",
        "both",
    ];
    let (code, text, err) = output(p.matrix(&args));
    assert_eq!(code, 0, "{err}");
    assert!(text.contains("profile: prefill, decode"), "{text}");
    let passes: Vec<&str> = text
        .lines()
        .filter(|l| {
            l.trim_start().starts_with("profile prefill:")
                || l.trim_start().starts_with("profile decode:")
        })
        .collect();
    assert_eq!(passes.len(), 4, "2 cells x 2 phases: {text}");
    let (code, json, err) = output(p.matrix(&[&args[..], &["--json"]].concat()));
    assert_eq!(code, 0, "{err}");
    let plan: serde_json::Value = serde_json::from_str(&json).unwrap();
    let cell = &plan["groups"][0]["cells"][0];
    let argv: Vec<&str> = cell["profile"][1]["argv"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(cell["profile"][1]["phase"], "decode");
    assert_eq!(argv[..2], ["nsys", "profile"]);
    let base = format!(
        "qwen_profile/{}/decode_bsz1_seq16_tp1_none_{}",
        plan["run_id"].as_str().unwrap(),
        cell["id"].as_str().unwrap()
    );
    assert!(argv.iter().any(|a| a.ends_with(&base)), "{argv:?}");
    let tail = &argv[argv.len() - 5..];
    assert_eq!(
        tail,
        [
            "--profile",
            "--profile-activities",
            "CUDA_PROFILER",
            "--profile-stage",
            "decode"
        ]
    );
    // Without --profile the plan carries no passes.
    let (_, json, _) = output(p.matrix(&[&args[..args.len() - 2], &["--json"]].concat()));
    assert!(!json.contains("\"profile\""), "{json}");
}

#[test]
fn run_profile_executes_the_planned_nsys_commands_and_records_them() {
    let p = Project::new();
    let log = p.path().join("nsys-argv.txt");
    // A stand-in nsys: log argv, write the artifacts, run the command.
    let bin = script(
        &p,
        "nsys",
        &format!(
            "echo \"$*\" >> '{}'\nshift\nout=\nwhile [ $# -gt 0 ]; do case \"$1\" in -o) out=\"$2\"; shift 2;; -t|--export|--force-overwrite) shift 2;; -*) shift;; *) break;; esac; done\n\
             echo rep > \"$out.nsys-rep\"; echo sqlite > \"$out.sqlite\"\nexec \"$@\"",
            log.display()
        ),
    );
    p.write("bsz_seq.csv", "1;16\n");
    let mut cmd = p.matrix(&[
        "run",
        "--engine",
        "sim",
        "--model",
        "qwen",
        "--mconf",
        "2l",
        "--deploy",
        "tp1",
        "--bsz-seq",
        "bsz_seq.csv",
        "--set",
        "output_len=4",
        "--profile",
        "decode",
        "--quiet",
    ]);
    cmd.env("PATH", path_with(&bin))
        .env("MATRIX_SIM_TIME_SCALE", "0.001");
    let (code, _, err) = output(cmd);
    assert_eq!(code, 0, "{err}");
    let raw = p.path().join("results/raw_output");
    let run = std::fs::read_dir(&raw)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("manifest.json")).unwrap()).unwrap();
    let planned: Vec<String> = manifest["plan"]["groups"][0]["cells"][0]["profile"][0]["argv"]
        .as_array()
        .expect("the manifest records the nsys argv")
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let ran = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        ran.lines().collect::<Vec<_>>(),
        [planned[1..].join(" ")],
        "ran what was planned"
    );
}

#[test]
fn missing_tokenizer_is_caught_by_plan() {
    let p = Project::new();
    model_without_tokenizer(&p);
    let m = serving_matrix(&p, "notok", "random");
    let err = refused(
        &p,
        "tokenizer_missing",
        p.matrix(&["plan", "--engine", "sim", "--matrix", m]),
    );
    assert!(
        err.contains("tokenizer.json") && err.contains("model_conf/notok/"),
        "{err}"
    );
    // `run` refuses the same way, before any run folder exists.
    let (code, _, _) = output(p.matrix(&["run", "--engine", "sim", "--matrix", m]));
    assert_eq!(code, 2);
    assert!(!p.path().join("results").exists());
    // Random token ids need no tokenizer.
    let m = serving_matrix(&p, "notok", "random-ids");
    let (code, _, err) = output(p.matrix(&["plan", "--engine", "sim", "--matrix", m]));
    assert_eq!(code, 0, "{err}");
}

#[test]
fn port_in_use_names_port_group_and_set() {
    let p = Project::new();
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let m = serving_matrix(&p, "qwen", "random-ids");
    let set = format!("run.port={port}");
    let (code, _, err) =
        output(p.matrix(&["run", "--engine", "sim", "--matrix", m, "--set", &set]));
    assert_eq!(code, 2, "{err}");
    assert!(!p.path().join("results").exists(), "results/ written");
    assert!(
        err.contains(&format!("port {port} on 127.0.0.1 is already in use")),
        "{err}"
    );
    assert!(err.contains("--set run.port="), "{err}");
    let err = err.replace(&port.to_string(), "[PORT]");
    settings(&p).bind(|| insta::assert_snapshot!("port_in_use", err));
    drop(holder);
}

#[test]
fn model_too_large_for_the_simulated_gpu() {
    let p = Project::new();
    let err = refused(
        &p,
        "sim_no_memory",
        p.matrix(&[
            "plan",
            "--engine",
            "sim",
            "--model",
            "llama",
            "--mconf",
            "8b",
            "--deploy",
            "tp1",
            "--set",
            "mem_fraction_static=0.05",
        ]),
    );
    assert!(err.contains("not enough memory"), "{err}");
    // The same cells with room plan fine.
    let (code, _, err) = output(p.matrix(&[
        "plan", "--engine", "sim", "--model", "llama", "--mconf", "8b", "--deploy", "tp1",
    ]));
    assert_eq!(code, 0, "{err}");
}

#[test]
fn model_too_large_for_a_real_engine_is_a_warning_with_numbers() {
    let p = Project::new();
    // An interpreter that has every module (and runs nothing).
    let bin = script(&p, "python3", "exit 0");
    let mut cmd = p.matrix(&[
        "run",
        "--engine",
        "sglang",
        "--model",
        "llama",
        "--mconf",
        "8b",
        "--deploy",
        "tp1",
        "--gpu",
        "h100",
        "--set",
        "mem_fraction_static=0.05",
        "--startup-retries",
        "0",
    ]);
    cmd.env("PATH", path_with(&bin));
    let (_, _, err) = output(cmd);
    let warning = err
        .lines()
        .find(|l| l.contains("not enough memory"))
        .unwrap_or_else(|| panic!("no memory warning: {err}"));
    assert!(
        warning.contains("1 x h100") && warning.contains("mem_fraction_static 0.05"),
        "{warning}"
    );
    assert!(warning.contains(" GB"), "names the numbers: {warning}");
}

/// The module check runs with the env the spawn gets: an engine importable
/// only through `env:` (here PYTHONPATH) passes pre-flight and is launched;
/// without it, Python's last stderr line is in the message.
#[test]
fn engine_module_importable_through_env_only() {
    let p = Project::new();
    let marker = p.path().join("launched");
    // `-c` is the pre-flight's find_spec; anything else the real launch.
    let bin = script(
        &p,
        "python3",
        &format!(
            "if [ \"$1\" = -c ]; then\n\
               [ \"$PYTHONPATH\" = /opt/engine ] && exit 0\n\
               echo 'Traceback (most recent call last):' >&2\n\
               echo 'ImportError: libcuda.so.1: cannot open shared object file' >&2\n\
               exit 1\n\
             fi\n\
             touch '{}'\nexit 1",
            marker.display()
        ),
    );
    let args = [
        "run", "--engine", "sglang", "--model", "qwen", "--mconf", "2l", "--deploy", "tp1",
    ];
    let mut cmd = p.matrix(&args);
    cmd.env("PATH", path_with(&bin));
    let err = refused(&p, "engine_module_import_error", cmd);
    assert!(
        err.contains("not importable by python3: ImportError: libcuda.so.1"),
        "{err}"
    );
    assert!(!marker.exists(), "launched although refused");

    let mut cmd = p.matrix(&[&args[..], &["--set", "env.PYTHONPATH=/opt/engine"]].concat());
    cmd.env("PATH", path_with(&bin)).env_remove("PYTHONPATH");
    let (_, _, err) = output(cmd);
    assert!(!err.contains("cannot run"), "{err}");
    assert!(marker.exists(), "the engine was never launched: {err}");
}

/// A vLLM run whose SGLang client module is missing is told to install
/// sglang (the module's top-level package), not vLLM.
#[test]
fn client_module_missing_names_its_package() {
    let p = Project::new();
    // Only vllm.* modules are importable.
    let bin = script(&p, "python3", "case \"$3\" in vllm*) exit 0;; esac\nexit 1");
    // The Python client's tokenizer check passes (files present).
    p.write("model_conf/qwen/tokenizer.json", "{}");
    p.write("model_conf/qwen/tokenizer_config.json", "{}");
    let m = serving_matrix(&p, "qwen", "random-ids");
    let mut cmd = p.matrix(&[
        "run",
        "--engine",
        "vllm",
        "--matrix",
        m,
        "--set",
        "workload.client=sglang",
    ]);
    cmd.env("PATH", path_with(&bin));
    let err = refused(&p, "client_module_missing", cmd);
    assert!(err.contains("install sglang for `python3`"), "{err}");
    assert!(!err.contains("install vllm"), "{err}");
}

/// `run.port` beyond 65535 is refused, not truncated to another port.
#[test]
fn port_beyond_u16_is_refused() {
    let p = Project::new();
    let m = serving_matrix(&p, "qwen", "random-ids");
    let cmd = p.matrix(&[
        "run",
        "--engine",
        "sim",
        "--matrix",
        m,
        "--set",
        "run.port=70000",
    ]);
    let err = refused(&p, "port_out_of_range", cmd);
    assert!(err.contains("run.port 70000"), "{err}");
}
