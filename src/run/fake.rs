//! A scripted, in-process stand-in for an engine: a test and benchmark
//! double of the run loop's [`Launcher`] (as hyperfine's `--debug-mode` is
//! for its runner). No process is started, nothing sleeps, and time is a
//! [`FakeClock`] that only the fake advances, so a run's event stream is
//! the same byte for byte on every machine, durations included.
//!
//! The fake writes what the real engines write, where they write it, so
//! the real parsing and recording path runs: one_batch's JSON result lines
//! and its printed `Prefill.` / `Total.` / `skipping (...)` lines in the
//! group's log; bench_serving's `--output-file` JSON line and tqdm progress
//! (`\r`-separated) in the cell's log; the engines' error lines on failures.
//!
//! A [`Script`] says per cell what happens, matched on its axis values
//! (`"bsz=8 seq=128"`: every named axis must have that value); a cell no
//! rule matches is measured ok.
//!
//! ```no_run
//! use matrix::run::fake::{Act, FakeClock, FakeLauncher, Script};
//! let clock = FakeClock::new();
//! let script = Script::new().on("bsz=8", Act::Oom).on("bsz=1", Act::CrashAtStart { times: 1 });
//! let mut launcher = FakeLauncher::new(script, clock.clone());
//! // matrix::run::run_with(root, target, opts, consumers, &mut launcher, &clock)
//! ```

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::rc::Rc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::exec::{
    Clock, CmdOutcome, ExecError, Job, Launcher, Readiness, ReadyCheck, Server, Spec, Stamp,
    StopFlag,
};
use crate::plan::{AdminCall, Group, Plan, PlanCell};

/// What happens to a cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Act {
    /// Measured, with numbers derived from its workload.
    Ok,
    /// Measured, taking this many seconds (one_batch's `total_latency`, or
    /// the serving benchmark's duration).
    OkIn(f64),
    /// one_batch: too big for the KV pool (`skipping (...)`).
    Skipped,
    /// CUDA out of memory: one_batch dies on this cell; a server dies
    /// while starting.
    Oom,
    /// The launch whose first cell this is fails to start `times` times
    /// (an error a retry can change), then the cell runs ok.
    CrashAtStart { times: u32 },
    /// Serving: the server dies while this cell's client runs (the client
    /// still exits 0, as bench_serving does).
    ServerDies,
    /// Serving: the client exits 1 with an error.
    ClientError,
    /// The process (one_batch or client) runs past its timeout.
    Timeout,
}

/// Rules: the first whose axis values all match a cell decides.
#[derive(Debug, Clone, Default)]
pub struct Script {
    rules: Vec<(Vec<(String, String)>, Act)>,
}

impl Script {
    pub fn new() -> Script {
        Script::default()
    }

    /// `when`: space-separated `axis=value` pairs.
    pub fn on(mut self, when: &str, act: Act) -> Script {
        let pairs = when
            .split_whitespace()
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.rules.push((pairs, act));
        self
    }

    fn act(&self, cell: &PlanCell) -> Act {
        let text = |v: &Value| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        self.rules
            .iter()
            .find(|(pairs, _)| {
                pairs.iter().all(|(k, v)| {
                    cell.axes
                        .get(k)
                        .or_else(|| cell.workload.get(k))
                        .is_some_and(|x| text(x) == *v)
                })
            })
            .map_or(Act::Ok, |(_, a)| a.clone())
    }
}

/// Time that moves only when the fake says so; starts at
/// 2026-01-01T00:00:00Z. Clones share the time.
#[derive(Debug, Clone, Default)]
pub struct FakeClock {
    mono: Rc<Cell<Duration>>,
}

impl FakeClock {
    pub fn new() -> FakeClock {
        FakeClock::default()
    }

    pub fn advance(&self, d: Duration) {
        self.mono.set(self.mono.get() + d);
    }

    fn advance_s(&self, s: f64) {
        self.advance(Duration::from_secs_f64(s.max(0.0)));
    }
}

impl Clock for FakeClock {
    fn now(&self) -> Stamp {
        let epoch =
            jiff::Timestamp::from_second(1_767_225_600).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        let mono = self.mono.get();
        let span = jiff::SignedDuration::try_from(mono).unwrap_or(jiff::SignedDuration::ZERO);
        Stamp {
            wall: epoch.checked_add(span).unwrap_or(epoch),
            mono,
        }
    }
}

/// Seconds a fake process takes to load its model.
const LOAD_S: f64 = 2.0;
/// Seconds a fake server takes to become ready.
const READY_S: f64 = 5.0;

/// The scripted launcher.
pub struct FakeLauncher {
    script: Script,
    clock: FakeClock,
    /// Failed starts so far per cell id (for `CrashAtStart`).
    crashes: HashMap<String, u32>,
    /// The live server's exit status cell (`None` while it runs).
    server: Option<Rc<RefCell<Option<ExitStatus>>>>,
}

impl FakeLauncher {
    pub fn new(script: Script, clock: FakeClock) -> FakeLauncher {
        FakeLauncher {
            script,
            clock,
            crashes: HashMap::new(),
            server: None,
        }
    }

    /// Does a launch whose first cell is `cell` crash at start now?
    fn crashes_now(&mut self, cell: Option<&PlanCell>) -> bool {
        let Some(cell) = cell else { return false };
        let Act::CrashAtStart { times } = self.script.act(cell) else {
            return false;
        };
        let n = self.crashes.entry(cell.id.clone()).or_insert(0);
        if *n < times {
            *n += 1;
            true
        } else {
            false
        }
    }

    fn one_batch(
        &mut self,
        group: &Group,
        cells: &[&PlanCell],
        spec: &Spec,
        timeout: Duration,
    ) -> CmdOutcome {
        let log = &spec.log;
        let results = group
            .results
            .as_ref()
            .map(|r| PathBuf::from(&r.file))
            .unwrap_or_else(|| log.with_file_name("result.jsonl"));
        self.clock.advance_s(LOAD_S);
        if self.crashes_now(cells.first().copied()) {
            append(
                log,
                "RuntimeError: fake: NCCL error while initialising (transient)\n",
            );
            return exited(1);
        }
        let (bszs, seqs) = crate::plan::bsz_seq_lists(
            cells
                .iter()
                .map(|c| (Some(num(c, "bsz")), Some(num(c, "seq")))),
        );
        let ol = cells.first().map_or(0, |c| num(c, "output_len"));
        append(log, "Warmup ...\nBenchmark ...\n");
        let mut spent = 0.0;
        for &bs in &bszs {
            for &il in &seqs {
                let cell = cells
                    .iter()
                    .find(|c| num(c, "bsz") == bs && num(c, "seq") == il);
                let act = cell.map_or(Act::Ok, |c| self.script.act(c));
                match act {
                    Act::Skipped => append(
                        log,
                        &format!("skipping ({bs}, {il}, {ol}) due to max batch size limit\n"),
                    ),
                    Act::Oom => {
                        self.clock.advance_s(1.0);
                        append(
                            log,
                            "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB (fake)\n",
                        );
                        return exited(1);
                    }
                    Act::Timeout => {
                        let left = timeout.saturating_sub(Duration::from_secs_f64(spent));
                        self.clock.advance(left);
                        return CmdOutcome::TimedOut { after: timeout };
                    }
                    other => {
                        let m = Measure::new(bs, il, ol, other);
                        append(log, &m.printed());
                        append(&results, &format!("{}\n", m.json()));
                        self.clock.advance_s(m.total);
                        spent += m.total;
                    }
                }
            }
        }
        exited(0)
    }

    fn client(
        &mut self,
        group: &Group,
        cell: &PlanCell,
        spec: &Spec,
        timeout: Duration,
        tick: &mut dyn FnMut(),
    ) -> CmdOutcome {
        let log = &spec.log;
        let act = self.script.act(cell);
        let total = num(cell, "num_prompts").max(1);
        let rate = cell.workload.get("request_rate").and_then(Value::as_f64);
        let duration = match act {
            Act::OkIn(s) => s,
            _ => rate
                .filter(|r| r.is_finite() && *r > 0.0)
                .map_or(4.0, |r| total as f64 / r),
        };
        append(log, "Starting benchmark ...\n");
        let steps: u64 = 4;
        let until = match act {
            Act::ServerDies | Act::ClientError => steps / 2,
            _ => steps,
        };
        for k in 0..=until {
            let done = total * k / steps;
            append(
                log,
                &format!(
                    "\r{:>3}%|          | {done}/{total} [00:00<00:00]",
                    done * 100 / total
                ),
            );
            if k > 0 {
                self.clock.advance_s(duration / steps as f64);
            }
            tick();
        }
        match act {
            Act::Timeout => {
                self.clock.advance(timeout);
                append(log, "\n");
                return CmdOutcome::TimedOut { after: timeout };
            }
            Act::ClientError => {
                append(
                    log,
                    "\nTraceback (most recent call last):\nValueError: fake: the client failed\n",
                );
                return exited(1);
            }
            Act::ServerDies => {
                if let Some(s) = &self.server {
                    *s.borrow_mut() = Some(ExitStatus::from_raw(9)); // killed by SIGKILL
                }
                let server_log = group_log(spec);
                append(&server_log, "RuntimeError: fake: the scheduler died\n");
                append(log, "\n");
                return exited(0);
            }
            _ => {}
        }
        append(log, "\n");
        let out = output_file(&spec.argv)
            .or_else(|| cell.results.as_ref().map(|r| PathBuf::from(&r.file)))
            .unwrap_or_else(|| log.with_file_name(format!("{}.jsonl", cell.id)));
        let line = serving_json(group, cell, total, rate, duration);
        append(&out, &format!("{line}\n"));
        exited(0)
    }
}

impl Launcher for FakeLauncher {
    fn preflight(&mut self, _plan: &Plan) -> Result<(), ExecError> {
        Ok(())
    }

    fn run_to_end(
        &mut self,
        job: Job<'_>,
        spec: &Spec,
        timeout: Duration,
        _grace: Duration,
        _stop: StopFlag,
        tick: &mut dyn FnMut(),
    ) -> Result<CmdOutcome, ExecError> {
        let outcome = match job {
            Job::Batch { group, cells } => self.one_batch(group, cells, spec, timeout),
            Job::Client { group, cell } => self.client(group, cell, spec, timeout, tick),
        };
        tick();
        Ok(outcome)
    }

    fn spawn_server(&mut self, group: &Group, spec: &Spec) -> Result<Box<dyn Server>, ExecError> {
        let status = Rc::new(RefCell::new(None));
        self.server = Some(status.clone());
        // A server serves all its group's cells: an `Oom` or a
        // `CrashAtStart` rule of any of them decides how it starts.
        let oom = group.cells.iter().any(|c| self.script.act(c) == Act::Oom);
        let crash = group
            .cells
            .iter()
            .filter(|c| matches!(self.script.act(c), Act::CrashAtStart { .. }))
            .collect::<Vec<_>>();
        let start = if oom {
            Start::Oom
        } else if crash.into_iter().any(|c| self.crashes_now(Some(c))) {
            Start::Crash
        } else {
            Start::Ready
        };
        Ok(Box::new(FakeServer {
            status,
            log: spec.log.clone(),
            clock: self.clock.clone(),
            start,
        }))
    }

    fn check_port_free(&mut self, _host: &str, _port: u16) -> Result<(), ExecError> {
        Ok(())
    }

    fn wait_port_free(
        &mut self,
        _host: &str,
        _port: u16,
        _limit: Duration,
    ) -> Result<(), ExecError> {
        Ok(())
    }

    fn healthy(&mut self, _url: &str) -> bool {
        self.server.as_ref().is_some_and(|s| s.borrow().is_none())
    }

    fn admin(&mut self, _call: &AdminCall, _body: &str) -> Result<Option<u16>, ExecError> {
        Ok(Some(200))
    }
}

#[derive(Debug, Clone, Copy)]
enum Start {
    Ready,
    Crash,
    Oom,
}

struct FakeServer {
    status: Rc<RefCell<Option<ExitStatus>>>,
    log: PathBuf,
    clock: FakeClock,
    start: Start,
}

impl Server for FakeServer {
    fn try_wait(&mut self) -> Result<Option<ExitStatus>, ExecError> {
        Ok(*self.status.borrow())
    }

    fn wait_ready(&mut self, _check: &ReadyCheck, _stop: StopFlag) -> Result<Readiness, ExecError> {
        match self.start {
            Start::Ready => {
                self.clock.advance_s(READY_S);
                append(&self.log, "The server is fired up and ready to roll!\n");
                Ok(Readiness::Ready {
                    after: Duration::from_secs_f64(READY_S),
                })
            }
            Start::Crash => {
                self.clock.advance_s(1.0);
                let tail = "RuntimeError: fake: NCCL error while initialising (transient)\n";
                append(&self.log, tail);
                let status = ExitStatus::from_raw(1 << 8);
                *self.status.borrow_mut() = Some(status);
                Ok(Readiness::Exited {
                    status,
                    log_tail: tail.to_string(),
                })
            }
            Start::Oom => {
                self.clock.advance_s(1.0);
                let tail = "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB (fake)\n";
                append(&self.log, tail);
                Ok(Readiness::Oom {
                    log_tail: tail.to_string(),
                })
            }
        }
    }

    fn wait_timeout(&mut self, _limit: Duration) -> Result<Option<ExitStatus>, ExecError> {
        Ok(*self.status.borrow())
    }

    fn stop(&mut self, _grace: Duration) -> Result<(), ExecError> {
        let mut s = self.status.borrow_mut();
        if s.is_none() {
            *s = Some(ExitStatus::from_raw(15)); // SIGTERM
        }
        Ok(())
    }

    fn log_path(&self) -> &Path {
        &self.log
    }
}

/// The numbers of one measured one_batch combination.
struct Measure {
    bs: u64,
    il: u64,
    ol: u64,
    prefill: f64,
    decode: f64,
    total: f64,
}

impl Measure {
    fn new(bs: u64, il: u64, ol: u64, act: Act) -> Measure {
        let prefill = 0.01 * (bs * il) as f64 / 1024.0;
        let decode = 0.005 + 0.0001 * bs as f64;
        let total = match act {
            Act::OkIn(s) => s,
            _ => prefill + decode * ol.saturating_sub(1) as f64,
        };
        Measure {
            bs,
            il,
            ol,
            prefill,
            decode,
            total,
        }
    }

    fn printed(&self) -> String {
        let mut s = format!(
            "Prefill. latency: {:6.5} s, throughput: {:9.2} token/s\n",
            self.prefill,
            (self.bs * self.il) as f64 / self.prefill
        );
        if self.ol > 1 {
            s.push_str(&format!(
                "Decode.  median latency: {:6.5} s, median throughput: {:9.2} token/s\n",
                self.decode,
                self.bs as f64 / self.decode
            ));
        }
        s.push_str(&format!(
            "Total. latency: {:6.3} s, throughput: {:9.2} token/s\n",
            self.total,
            ((self.il + self.ol) * self.bs) as f64 / self.total
        ));
        s
    }

    fn json(&self) -> Value {
        let mut r = json!({
            "run_name": "fake", "batch_size": self.bs, "input_len": self.il,
            "output_len": self.ol, "prefill_latency": self.prefill,
            "prefill_throughput": (self.bs * self.il) as f64 / self.prefill,
        });
        if self.ol > 1 {
            r["median_decode_latency"] = json!(self.decode);
            r["median_decode_throughput"] = json!(self.bs as f64 / self.decode);
        }
        r["total_latency"] = json!(self.total);
        r["overall_throughput"] = json!(((self.il + self.ol) * self.bs) as f64 / self.total);
        r
    }
}

/// bench_serving's `--output-file` line for a cell.
fn serving_json(
    group: &Group,
    cell: &PlanCell,
    total: u64,
    rate: Option<f64>,
    duration: f64,
) -> String {
    let il = num(cell, "seq");
    let ol = num(cell, "output_len");
    let e2e = 100.0 + ol as f64 * 10.0;
    let line = json!({
        "backend": group.engine, "dataset_name": "random-ids",
        "max_concurrency": cell.workload.get("max_concurrency").cloned().unwrap_or(Value::Null),
        "random_input_len": il, "random_output_len": ol,
        "duration": duration, "completed": total,
        "request_throughput": total as f64 / duration,
        "input_throughput": (total * il) as f64 / duration,
        "output_throughput": (total * ol) as f64 / duration,
        "mean_e2e_latency_ms": e2e, "median_e2e_latency_ms": e2e,
        "p90_e2e_latency_ms": e2e * 1.5, "p99_e2e_latency_ms": e2e * 2.0,
        "mean_ttft_ms": 50.0, "median_ttft_ms": 50.0, "p90_ttft_ms": 75.0, "p99_ttft_ms": 100.0,
        "mean_tpot_ms": 10.0, "median_tpot_ms": 10.0, "p90_tpot_ms": 12.0, "p99_tpot_ms": 15.0,
        "mean_itl_ms": 10.0, "median_itl_ms": 10.0, "p90_itl_ms": 12.0, "p99_itl_ms": 15.0,
        "concurrency": 1.0,
    });
    // bench_serving writes an infinite rate as Python's `Infinity`.
    let rate = match rate {
        Some(r) if r.is_finite() => r.to_string(),
        _ => "Infinity".to_string(),
    };
    format!("{{\"request_rate\": {rate}, {}", &line.to_string()[1..])
}

fn output_file(argv: &[std::ffi::OsString]) -> Option<PathBuf> {
    let i = argv.iter().position(|a| a == "--output-file")?;
    argv.get(i + 1).map(PathBuf::from)
}

/// The group's server.log next to a cell's log.
fn group_log(spec: &Spec) -> PathBuf {
    spec.log.with_file_name("server.log")
}

fn num(c: &PlanCell, key: &str) -> u64 {
    c.workload.get(key).and_then(Value::as_u64).unwrap_or(0)
}

fn exited(code: i32) -> CmdOutcome {
    CmdOutcome::Exited(ExitStatus::from_raw(code << 8))
}

fn append(path: &Path, text: &str) {
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = f.write_all(text.as_bytes());
    }
}
