//! Helpers for the `matrix run` integration tests: a scratch project with
//! its own port, a `matrix run --engine sim` command with short timeouts and
//! compressed time, readers for the CSV / journal / start log, and a scan of
//! /proc for processes the run left behind.
//!
//! Every process a test's run starts inherits `RUN_TEST_MARK=<project dir>`
//! in its environment (nothing clears it: `exec::Spec` only adds variables),
//! so a leftover — a server, a client, a grandchild holding the port — is
//! found by reading `/proc/<pid>/environ`, whatever its command line says.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::free_port;

/// The environment variable that marks every process of one test's runs.
pub const MARK: &str = "RUN_TEST_MARK";

/// One CSV row, column name → text.
pub type Row = BTreeMap<String, String>;

/// A temporary project root (copies of conf/, model_conf/, matrices/) with
/// a free port for its servers.
pub struct RunProject {
    pub dir: tempfile::TempDir,
    pub port: u16,
    /// `MATRIX_SIM_TIME_SCALE` (clients learn it from the simulator).
    pub sim_scale: f64,
    /// Extra environment for `matrix` (and so for everything it starts).
    pub env: Vec<(String, String)>,
    /// `--grace` seconds.
    pub grace: String,
}

impl RunProject {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        super::copy_project(dir.path());
        RunProject {
            dir,
            port: free_port(),
            sim_scale: 0.001,
            env: Vec::new(),
            grace: "1".into(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Write `text` to `rel` under the project root.
    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }

    /// Where the simulator appends one line per start (server or one-batch).
    pub fn start_log(&self) -> PathBuf {
        self.path().join("starts.jsonl")
    }

    /// The start log's lines.
    pub fn starts(&self) -> Vec<Value> {
        read_jsonl(&self.start_log())
    }

    /// `matrix --root <project> <args>` with a clean MATRIX_* environment,
    /// the time scales, the start log and the leftover mark. No run options
    /// are added: see [`RunProject::run_cmd`].
    pub fn matrix(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("matrix"));
        for (k, _) in std::env::vars() {
            if k.starts_with("MATRIX_") {
                cmd.env_remove(k);
            }
        }
        cmd.env_remove("CI");
        cmd.env("MATRIX_FLAGS", "table")
            .env("MATRIX_SIM_TIME_SCALE", self.sim_scale.to_string())
            .env("MATRIX_SIM_START_LOG", self.start_log())
            .env(MARK, self.path());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd.arg("--root").arg(self.path()).args(args);
        cmd.stdin(Stdio::null());
        cmd
    }

    /// `matrix run --engine sim` on this project's port, with a 1 s grace,
    /// short startup and cell timeouts, then `args` (later `--set`s win).
    pub fn run_cmd(&self, args: &[&str]) -> Command {
        let port = format!("run.port={}", self.port);
        let mut all = vec![
            "run",
            "--engine",
            "sim",
            "--grace",
            &self.grace,
            "--set",
            &port,
            "--set",
            "run.startup_timeout_s=10",
            "--set",
            "run.cell_timeout_s=10",
        ];
        all.extend_from_slice(args);
        self.matrix(&all)
    }

    /// Run `matrix run ...` to the end (killed after `limit`).
    pub fn run(&self, args: &[&str]) -> Out {
        run_to_end(self.run_cmd(args), Duration::from_secs(60))
    }

    /// Start `matrix run ...` in the background, output to files.
    pub fn spawn(&self, args: &[&str]) -> Running {
        let out = self.path().join(format!("spawn-{}.out", unique()));
        let err = out.with_extension("err");
        let mut cmd = self.run_cmd(args);
        cmd.stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap());
        Running {
            child: cmd.spawn().expect("matrix starts"),
            out,
            err,
        }
    }

    /// `matrix run --resume <id> --grace 1` to the end.
    pub fn resume(&self, id: &str) -> Out {
        let cmd = self.matrix(&["run", "--resume", id, "--grace", "1"]);
        run_to_end(cmd, Duration::from_secs(60))
    }

    pub fn results(&self) -> PathBuf {
        self.path().join("results")
    }

    /// Run ids with a CSV, oldest first.
    pub fn run_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = std::fs::read_dir(self.results().join("csv"))
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter_map(|e| {
                        e.file_name()
                            .to_str()
                            .and_then(|n| n.strip_suffix(".csv"))
                            .map(str::to_string)
                    })
                    .collect()
            })
            .unwrap_or_default();
        ids.sort();
        ids
    }

    /// The only run of this project.
    pub fn only_run(&self) -> String {
        let ids = self.run_ids();
        assert_eq!(ids.len(), 1, "expected one run, found {ids:?}");
        ids[0].clone()
    }

    pub fn run_dir(&self, run_id: &str) -> PathBuf {
        self.results().join("raw_output").join(run_id)
    }

    pub fn csv_path(&self, run_id: &str) -> PathBuf {
        self.results().join("csv").join(format!("{run_id}.csv"))
    }

    /// The CSV rows of a run.
    pub fn rows(&self, run_id: &str) -> Vec<Row> {
        read_csv(&self.csv_path(run_id))
    }

    /// The journal lines of a run.
    pub fn journal(&self, run_id: &str) -> Vec<Value> {
        read_jsonl(&self.run_dir(run_id).join("journal.jsonl"))
    }

    pub fn manifest(&self, run_id: &str) -> Value {
        let text = std::fs::read_to_string(self.run_dir(run_id).join("manifest.json"))
            .expect("manifest.json");
        serde_json::from_str(&text).expect("manifest is JSON")
    }

    /// Processes (pid, command line) of this project's runs still alive.
    pub fn leftovers(&self) -> Vec<(i32, String)> {
        leftovers_marked(self.path())
    }

    /// Wait (a few seconds at most: SIGKILLed processes take a moment to be
    /// reaped) until no process of this project is left; panic naming them.
    pub fn assert_no_leftovers(&self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let left = self.leftovers();
            if left.is_empty() {
                return;
            }
            if Instant::now() > deadline {
                self.kill_leftovers();
                panic!("processes of the run are left: {left:#?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL every process of this project (and wait until they are gone).
    pub fn kill_leftovers(&self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let left = self.leftovers();
            if left.is_empty() || Instant::now() > deadline {
                return;
            }
            for (pid, _) in left {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Is something listening on this project's port?
    pub fn port_busy(&self) -> bool {
        std::net::TcpListener::bind(("127.0.0.1", self.port)).is_err()
    }
}

impl Drop for RunProject {
    fn drop(&mut self) {
        // A failed test must not leak servers into the next ones.
        self.kill_leftovers();
    }
}

/// A finished `matrix` process.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn text(&self) -> String {
        format!(
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// `matrix` running in the background.
pub struct Running {
    pub child: Child,
    out: PathBuf,
    err: PathBuf,
}

impl Running {
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid()), sig).expect("signal");
    }

    /// Wait up to `limit` for it to exit (SIGKILL and panic after).
    pub fn wait(mut self, limit: Duration) -> Out {
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("try_wait") {
                break s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "matrix did not exit within {limit:?}:\n{}",
                    std::fs::read_to_string(&self.err).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        Out {
            code: code_of(status),
            stdout: std::fs::read_to_string(&self.out).unwrap_or_default(),
            stderr: std::fs::read_to_string(&self.err).unwrap_or_default(),
        }
    }

    /// Stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.err).unwrap_or_default()
    }

    pub fn exited(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_some()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub fn run_to_end(mut cmd: Command, limit: Duration) -> Out {
    let dir = std::env::temp_dir();
    let out = dir.join(format!("matrix-run-test-{}.out", unique()));
    let err = out.with_extension("err");
    cmd.stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap());
    let child = cmd.spawn().expect("matrix starts");
    let r = Running { child, out, err };
    let (o, e) = (r.out.clone(), r.err.clone());
    let result = r.wait(limit);
    let _ = std::fs::remove_file(o);
    let _ = std::fs::remove_file(e);
    result
}

fn code_of(s: ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0))
}

pub fn unique() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

pub fn read_csv(path: &Path) -> Vec<Row> {
    let mut r = csv::Reader::from_path(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let headers = r.headers().unwrap().clone();
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            headers
                .iter()
                .zip(rec.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

pub fn read_jsonl(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

/// A column as a number (panics with the row when it is not one).
pub fn num(row: &Row, col: &str) -> f64 {
    row.get(col)
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("column {col} is not a number in {row:#?}"))
}

/// Status → number of rows.
pub fn statuses(rows: &[Row]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for r in rows {
        *m.entry(r["status"].clone()).or_insert(0) += 1;
    }
    m
}

/// Each cell id appears exactly once.
pub fn assert_unique_cells(rows: &[Row]) {
    let mut seen = std::collections::BTreeSet::new();
    for r in rows {
        assert!(
            seen.insert(r["cell_id"].clone()),
            "cell {} recorded twice",
            r["cell_id"]
        );
    }
}

/// Processes whose environment carries `RUN_TEST_MARK=<dir>`.
pub fn leftovers_marked(dir: &Path) -> Vec<(i32, String)> {
    let needle = format!("{MARK}={}", dir.display()).into_bytes();
    let me = std::process::id() as i32;
    let mut out = Vec::new();
    // Without /proc no leftover could be seen: fail rather than report none.
    let entries = std::fs::read_dir("/proc").expect("read /proc to look for leftover processes");
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        let mut environ = Vec::new();
        let Ok(mut f) = std::fs::File::open(e.path().join("environ")) else {
            continue;
        };
        if f.read_to_end(&mut environ).is_err() {
            continue;
        }
        if environ.split(|&b| b == 0).any(|v| v == needle.as_slice()) {
            let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            // A zombie has an empty cmdline; it is gone as soon as it is reaped
            // and holds nothing, but still counts until then.
            out.push((pid, cmdline));
        }
    }
    out
}

/// Two serving groups (the `env.MATRIX_SIM_FAULT` axis: `fault` for the
/// first, none for the second) × `rates` request rates, tiny workloads.
pub fn fault_matrix(fault: &str, rates: &[u32]) -> String {
    let rates: Vec<String> = rates.iter().map(u32::to_string).collect();
    format!(
        "description: serving, the fault only in the first group\n\
         axes:\n  model: qwen\n  mode: serving\n  deploy: tp8\n  \
         env.MATRIX_SIM_FAULT: [\"{fault}\", \"\"]\n  request_rate: [{}]\n\
         set:\n  workload:\n    seq: 16\n    output_len: 4\n    num_prompts: 8\n    \
         warmup_requests: 1\n    dataset: random-ids\n",
        rates.join(", ")
    )
}
