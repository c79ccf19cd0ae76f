//! The run loop's event stream on the scripted fake launcher
//! (`matrix::run::fake`): the plan comes from `matrix plan --json` in a
//! scratch project, the run happens in process with a fake clock, so the
//! JSON-lines stream (as `matrix run --json` prints it: one
//! `serde_json::to_string` per event) is the same on every machine.

mod support;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use camino::Utf8PathBuf;
use indicatif::InMemoryTerm;
use matrix::plan::Plan;
use matrix::record::RecordError;
use matrix::record::event::{Consumer, Event};
use matrix::report::summary::SummaryFile;
use matrix::report::{Display, DisplayOptions};
use matrix::run::fake::{Act, FakeClock, FakeLauncher, Script};
use matrix::run::{RunOptions, Target};
use support::run::{RunProject, read_csv};

/// Keeps every event.
struct Keep(Rc<RefCell<Vec<Event>>>);

impl Consumer for Keep {
    fn event(&mut self, e: &Event) -> Result<(), RecordError> {
        self.0.borrow_mut().push(e.clone());
        Ok(())
    }
}

/// `matrix plan --json` of the project, renamed to a fixed run id. The
/// port is fixed too (it is part of the server command, so of the group
/// id): the fake launcher never listens on it.
fn plan(p: &RunProject, args: &[&str]) -> Plan {
    let mut all = vec![
        "plan",
        "--json",
        "--engine",
        "sim",
        "--set",
        "run.port=39999",
    ];
    all.extend_from_slice(args);
    let out = p.matrix(&all).output().expect("matrix plan runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut plan: Plan = serde_json::from_slice(&out.stdout).expect("the plan is JSON");
    plan.rename_run("20260101-000000_events");
    plan
}

/// Run `plan` on the fake launcher; its events.
fn run(p: &RunProject, plan: Plan, script: Script) -> (matrix::run::Summary, Vec<Event>) {
    run_to(p, plan, script, Vec::new())
}

/// [`run`], with `more` consumers after the one keeping the events.
fn run_to(
    p: &RunProject,
    plan: Plan,
    script: Script,
    more: Vec<Box<dyn Consumer>>,
) -> (matrix::run::Summary, Vec<Event>) {
    let root = Utf8PathBuf::from_path_buf(p.path().to_path_buf()).unwrap();
    let events = Rc::new(RefCell::new(Vec::new()));
    let clock = FakeClock::new();
    let mut launcher = FakeLauncher::new(script, clock.clone());
    let opts = RunOptions {
        grace: std::time::Duration::from_secs(1),
        ..RunOptions::default()
    };
    let summary = matrix::run::run_with(
        &root,
        Target::Fresh(Box::new(plan)),
        opts,
        std::iter::once(Box::new(Keep(events.clone())) as Box<dyn Consumer>)
            .chain(more)
            .collect(),
        &mut launcher,
        &clock,
    )
    .expect("the run ends");
    let events = events.borrow().clone();
    (summary, events)
}

/// The stream as `--json` prints it, the project folder as `[ROOT]`.
/// Snapshot an event stream. A group id hashes its launch argv, which
/// names the `matrix` binary's path (the simulator's program): it differs
/// between checkouts, so it is redacted; cell ids do not depend on it.
#[track_caller]
fn assert_events(name: &str, text: &str) {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"\bg[0-9a-f]{12}\b", "[GROUP]");
    settings.bind(|| insta::assert_snapshot!(name, text));
}

fn json_lines(p: &RunProject, events: &[Event]) -> String {
    let root = p.path().to_str().unwrap();
    events
        .iter()
        .map(|e| serde_json::to_string(e).unwrap().replace(root, "[ROOT]") + "\n")
        .collect()
}

fn latency_project() -> (RunProject, Plan) {
    let p = RunProject::new();
    p.write("bsz_seq.csv", "1,2,4,8;16,32\n");
    p.write(
        "matrices/lat.yaml",
        "axes:\n  model: qwen\n  mode: latency\n  deploy: tp8\nset:\n  workload:\n    output_len: 4\n",
    );
    let plan = plan(
        &p,
        &[
            "--matrix",
            "matrices/lat.yaml",
            "--mconf",
            "2l",
            "--bsz-seq",
            "bsz_seq.csv",
        ],
    );
    (p, plan)
}

fn latency_script() -> Script {
    Script::new()
        .on("bsz=1 seq=16", Act::CrashAtStart { times: 1 })
        .on("bsz=2 seq=32", Act::Skipped)
        .on("bsz=4 seq=16", Act::Oom)
}

fn serving_project() -> (RunProject, Plan) {
    let p = RunProject::new();
    p.write(
        "matrices/srv.yaml",
        "axes:\n  model: qwen\n  mode: serving\n  deploy: tp8\n  request_rate: [1, 2, 4, 8]\n\
         set:\n  workload:\n    seq: 16\n    output_len: 4\n    num_prompts: 8\n    \
         warmup_requests: 1\n    dataset: random-ids\n",
    );
    let plan = plan(&p, &["--matrix", "matrices/srv.yaml", "--mconf", "2l"]);
    (p, plan)
}

fn serving_script() -> Script {
    Script::new()
        .on("request_rate=1", Act::CrashAtStart { times: 1 })
        .on("request_rate=2", Act::ServerDies)
        .on("request_rate=8", Act::ClientError)
}

#[test]
fn latency_events() {
    let (p, plan) = latency_project();
    let (summary, events) = run(&p, plan, latency_script());
    assert_eq!(summary.counts.pruned, 1, "{summary:?}");
    assert_events("latency_events", &json_lines(&p, &events));
}

#[test]
fn serving_events() {
    let (p, plan) = serving_project();
    let (summary, events) = run(&p, plan, serving_script());
    assert_eq!(summary.counts.failed, 2, "{summary:?}");
    assert_events("serving_events", &json_lines(&p, &events));
}

/// Every CSV row is the row of exactly one `cell_finished`, and every cell
/// has exactly one `cell_started` before its one `cell_finished`.
#[test]
fn every_row_is_in_exactly_one_cell_finished_event() {
    for (p, plan, script) in [
        {
            let (p, plan) = latency_project();
            (p, plan, latency_script())
        },
        {
            let (p, plan) = serving_project();
            (p, plan, serving_script())
        },
    ] {
        let cells = plan.cell_count();
        let (summary, events) = run(&p, plan, script);
        let rows = read_csv(std::path::Path::new(&summary.csv));
        assert_eq!(rows.len(), cells);
        let finished: Vec<BTreeMap<String, String>> = events
            .iter()
            .filter_map(|e| match e {
                Event::CellFinished(f) => Some(f.row.clone().into_iter().collect()),
                _ => None,
            })
            .collect();
        assert_eq!(finished.len(), rows.len());
        for row in &rows {
            let n = finished.iter().filter(|f| *f == row).count();
            assert_eq!(n, 1, "{row:#?}\nin {finished:#?}");
        }
        let mut open: Option<String> = None;
        let mut started = Vec::new();
        for e in &events {
            match e {
                Event::CellStarted(c) => {
                    assert_eq!(open, None, "a cell started inside another");
                    open = Some(c.cell.clone());
                    started.push(c.cell.clone());
                }
                Event::CellFinished(f) => {
                    assert_eq!(open.as_deref(), Some(f.cell.as_str()));
                    open = None;
                }
                _ => {}
            }
        }
        started.sort();
        started.dedup();
        assert_eq!(started.len(), cells, "one cell_started per cell");
    }
}

/// The built-in client writes tqdm progress to its log when it is not a
/// terminal, so the runner's request progress reads it: every cell log of a
/// real sim run ends with all its requests done.
#[test]
fn sim_cell_logs_carry_request_progress() {
    let p = RunProject::new();
    p.write(
        "matrices/srv.yaml",
        "axes:\n  model: qwen\n  mode: serving\n  deploy: tp8\n  request_rate: [4, 8]\n\
         set:\n  workload:\n    seq: 16\n    output_len: 4\n    num_prompts: 8\n    \
         warmup_requests: 1\n    dataset: random-ids\n",
    );
    let out = p.run(&["--matrix", "matrices/srv.yaml", "--mconf", "2l"]);
    assert_eq!(out.code, 0, "{}", out.text());
    let id = p.only_run();
    let rows = p.rows(&id);
    assert_eq!(rows.len(), 2);
    for r in &rows {
        let dir = p.run_dir(&id);
        let logs: Vec<_> = walk(&dir)
            .into_iter()
            .filter(|f| {
                f.file_name()
                    .is_some_and(|n| n == format!("{}.log", r["cell_id"]).as_str())
            })
            .collect();
        assert_eq!(logs.len(), 1, "{logs:?}");
        let text = std::fs::read_to_string(&logs[0]).unwrap();
        assert_eq!(
            matrix::parse::progress::last_progress(&text),
            Some((8, 8)),
            "{text}"
        );
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// A writer the test reads back.
#[derive(Clone, Default)]
struct Buf(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A terminal display on an in-memory terminal that keeps the screen as
/// it was right after the first event `at` matches (bars redrawn), and at
/// the end.
struct Screen {
    display: Display,
    term: InMemoryTerm,
    at: fn(&Event) -> bool,
    mid: Rc<RefCell<Option<String>>>,
    end: Rc<RefCell<String>>,
}

impl Consumer for Screen {
    fn event(&mut self, e: &Event) -> Result<(), RecordError> {
        self.display.event(e)?;
        if self.mid.borrow().is_none() && (self.at)(e) {
            self.display.redraw();
            *self.mid.borrow_mut() = Some(self.term.contents());
        }
        *self.end.borrow_mut() = self.term.contents();
        Ok(())
    }
}

/// What a person sees of a fake run: the plain lines (a pipe: a line per
/// finished cell, the results table, counts and paths) and the terminal
/// (bars mid-run, and the screen at the end).
struct Seen {
    plain: String,
    tty_mid: String,
    tty_end: String,
}

fn seen(p: &RunProject, plan: Plan, script: Script, at: fn(&Event) -> bool) -> Seen {
    let opts = |tty| DisplayOptions {
        tty,
        color: false,
        quiet: false,
        width: Some(120),
    };
    let buf = Buf::default();
    let term = InMemoryTerm::new(40, 140);
    let (mid, end) = (Rc::default(), Rc::default());
    let screen = Screen {
        display: Display::term(Box::new(term.clone()), opts(true), None),
        term,
        at,
        mid: Rc::clone(&mid),
        end: Rc::clone(&end),
    };
    let plain = Display::plain(Box::new(buf.clone()), opts(false));
    let summary = SummaryFile::new();
    run_to(
        p,
        plan,
        script,
        vec![Box::new(summary), Box::new(plain), Box::new(screen)],
    );
    let root = p.path().to_str().unwrap();
    let tidy = |t: String| t.replace(root, "[ROOT]");
    let plain = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    let mid = mid.borrow().clone().expect("the mid-run event happened");
    let end = end.borrow().clone();
    Seen {
        plain: tidy(plain),
        tty_mid: tidy(mid),
        tty_end: tidy(end),
    }
}

/// Snapshot what a person sees; group ids redacted (see [`assert_events`]),
/// and the bars' elapsed time and ETA, which indicatif takes from the real
/// clock.
fn assert_seen(name: &str, s: &Seen) {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"\bg[0-9a-f]{12}\b", "[GROUP]");
    settings.add_filter(r"\d\d:\d\d:\d\d", "[elapsed]");
    settings.add_filter(r"eta \S+", "eta [eta]");
    settings.bind(|| {
        insta::assert_snapshot!(format!("{name}_plain"), s.plain);
        insta::assert_snapshot!(format!("{name}_tty_mid"), s.tty_mid);
        insta::assert_snapshot!(format!("{name}_tty_end"), s.tty_end);
    });
}

/// The display of a latency run on the fake launcher: a line per cell by
/// its axis values (ok with prefill and decode, skipped, oom with the
/// engine's line, pruned), the retry's warning, the results table read
/// back from the CSV, counts and paths; on a terminal, the bars after the
/// oom cell.
#[test]
fn latency_display() {
    let (p, plan) = latency_project();
    let s = seen(
        &p,
        plan,
        latency_script(),
        |e| matches!(e, Event::CellFinished(f) if f.status == matrix::record::Status::Oom),
    );
    for label in [
        "bsz=1 seq=16",
        "bsz=2 seq=32",
        "bsz=4 seq=16",
        "bsz=8 seq=16",
    ] {
        assert!(
            s.plain.contains(&format!("] {label} ")),
            "{label}\n{}",
            s.plain
        );
    }
    assert!(s.tty_mid.contains("bsz=4 seq=16"), "{}", s.tty_mid);
    assert_seen("latency_display", &s);
}

/// The display of a serving run on the fake launcher: group launches,
/// retry and relaunch, requests done / total of the cell in flight on the
/// terminal, TTFT and output throughput per cell, causes of failures, the
/// table.
#[test]
fn serving_display() {
    let (p, plan) = serving_project();
    let s = seen(
        &p,
        plan,
        serving_script(),
        |e| matches!(e, Event::RequestProgress(r) if r.done == 4),
    );
    assert!(s.tty_mid.contains("requests 4/8"), "{}", s.tty_mid);
    for label in [
        "request_rate=1",
        "request_rate=2",
        "request_rate=4",
        "request_rate=8",
    ] {
        assert!(
            s.plain.contains(&format!("] {label} ")),
            "{label}\n{}",
            s.plain
        );
    }
    assert_seen("serving_display", &s);
}

/// `matrix run --json` of real sim runs (a latency sweep, a serving sweep):
/// stdout is only events, each line one event of the documented format;
/// every CSV row is the row of exactly one `cell_finished`; the run is
/// framed by `run_started` and `run_finished`; and the plain display on
/// stderr names every cell by its axis values.
#[test]
fn json_events_of_real_sim_runs_carry_every_row_once() {
    let p = RunProject::new();
    p.write("bsz_seq.csv", "1,4;16,32\n");
    p.write(
        "matrices/srv.yaml",
        "axes:\n  model: qwen\n  mode: serving\n  deploy: tp8\n  request_rate: [4, 8]\n\
         set:\n  workload:\n    seq: 16\n    output_len: 4\n    num_prompts: 8\n    \
         warmup_requests: 1\n    dataset: random-ids\n",
    );
    let runs: [&[&str]; 2] = [
        &[
            "--json",
            "--model",
            "qwen",
            "--mconf",
            "2l",
            "--deploy",
            "tp8",
            "--bsz-seq",
            "bsz_seq.csv",
            "--set",
            "output_len=4",
            "--run-name",
            "lat",
        ],
        &[
            "--json",
            "--matrix",
            "matrices/srv.yaml",
            "--mconf",
            "2l",
            "--run-name",
            "srv",
        ],
    ];
    for args in runs {
        let out = p.run(args);
        assert_eq!(out.code, 0, "{}", out.text());
        let events: Vec<Event> = out
            .stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        let Some(Event::RunStarted(start)) = events.first() else {
            panic!("the first event is run_started: {}", out.stdout)
        };
        let Some(Event::RunFinished(end)) = events.last() else {
            panic!("the last event is run_finished: {}", out.stdout)
        };
        let rows = read_csv(std::path::Path::new(&end.csv));
        assert_eq!(rows.len(), start.cells, "{}", out.text());
        let finished: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                Event::CellFinished(f) => Some(f),
                _ => None,
            })
            .collect();
        assert_eq!(finished.len(), rows.len(), "{}", out.stdout);
        for row in &rows {
            let n = finished
                .iter()
                .filter(|f| f.row.clone().into_iter().collect::<BTreeMap<_, _>>() == *row)
                .count();
            assert_eq!(n, 1, "{row:#?}\n{}", out.stdout);
        }
        for f in &finished {
            assert!(!f.label.is_empty(), "{f:?}");
            let line = format!("] {}  {}", f.label, f.status.as_str());
            assert!(
                out.stderr.lines().any(|l| l.contains(&line)),
                "no `{line}` line\n{}",
                out.stderr
            );
        }
        assert_eq!(end.counts.ok, rows.len(), "{}", out.text());
    }
}
