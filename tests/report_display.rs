//! The report side of the run's event stream, fed scripted event sequences
//! (no process, no timing): the terminal display (bars on an in-memory
//! terminal, plain lines, colour, quiet), the end-of-run table, the JSON
//! lines of `--json` and summary.json.

use std::io::Write;
use std::sync::{Arc, Mutex};

use camino::{Utf8Path, Utf8PathBuf};
use indexmap::IndexMap;
use indicatif::InMemoryTerm;
use matrix::record::event::*;
use matrix::record::{CsvRow, CsvSchema, CsvSink, Mode, Status};
use matrix::report::table;
use matrix::report::{Display, DisplayOptions, JsonLines, SummaryFile};
use serde_json::{Value, json};

/// A writer the test can read back.
#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Buf {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

/// A scripted run: its events, its CSV written as the recorder would.
struct Script {
    dir: tempfile::TempDir,
    events: Vec<Event>,
}

impl Script {
    fn root(&self) -> &Utf8Path {
        Utf8Path::from_path(self.dir.path()).unwrap()
    }

    fn run_dir(&self) -> Utf8PathBuf {
        self.root().join("results/raw_output/20261204-120000_qwen")
    }

    fn csv(&self) -> Utf8PathBuf {
        self.root().join("results/csv/20261204-120000_qwen.csv")
    }
}

fn axes(pairs: &[(&str, Value)]) -> IndexMap<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

fn label(a: &IndexMap<String, Value>) -> String {
    a.iter()
        .map(|(k, v)| format!("{k}={}", matrix::record::csv::value_text(v)))
        .collect::<Vec<_>>()
        .join(" ")
}

struct Builder {
    script: Script,
    sink: CsvSink,
    total: usize,
    started: usize,
}

impl Builder {
    fn new(modes: &[Mode], plan_axes: &[&str]) -> Builder {
        let dir = tempfile::tempdir().unwrap();
        let script = Script {
            dir,
            events: Vec::new(),
        };
        std::fs::create_dir_all(script.run_dir()).unwrap();
        let schema = CsvSchema::new(
            modes,
            &plan_axes.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        );
        let sink = CsvSink::open(&script.csv(), schema).unwrap();
        Builder {
            script,
            sink,
            total: 0,
            started: 0,
        }
    }

    fn ev(&mut self, e: Event) {
        self.script.events.push(e);
    }

    fn start(&mut self, groups: usize, cells: usize, varying: &[&str], modes: &[&str]) {
        self.total = cells;
        let s = &self.script;
        let e = Event::RunStarted(RunStarted {
            format: FORMAT,
            run_id: "20261204-120000_qwen".into(),
            run_dir: s.run_dir().to_string(),
            csv: s.csv().to_string(),
            resumed: false,
            groups,
            cells,
            done_before: 0,
            varying: varying.iter().map(|s| s.to_string()).collect(),
            modes: modes.iter().map(|s| s.to_string()).collect(),
        });
        self.ev(e);
    }

    fn launch(
        &mut self,
        group: &str,
        index: usize,
        groups: usize,
        mode: &str,
        attempt: u32,
        a: &[(&str, Value)],
    ) {
        self.ev(Event::GroupLaunching(GroupLaunching {
            group: group.into(),
            index,
            groups,
            engine: "sim".into(),
            mode: mode.into(),
            attempt,
            cells: 2,
            axes: axes(a),
        }));
    }

    fn ready(&mut self, group: &str, after_s: f64) {
        self.ev(Event::GroupReady(GroupReady {
            group: group.into(),
            after_s,
        }));
    }

    fn cell_started(&mut self, group: &str, cell: &str, a: &[(&str, Value)]) {
        self.started += 1;
        let a = axes(a);
        self.ev(Event::CellStarted(CellStarted {
            group: group.into(),
            cell: cell.into(),
            index: self.started,
            cells: self.total,
            label: label(&a),
            axes: a,
        }));
    }

    #[allow(clippy::too_many_arguments)]
    fn finished(
        &mut self,
        group: &str,
        cell: &str,
        mode: &str,
        a: &[(&str, Value)],
        status: Status,
        error: Option<&str>,
        metrics: &[(&str, &str)],
        duration_of: DurationOf,
    ) {
        let a = axes(a);
        let mut row = CsvRow::new();
        row.set("run_id", "20261204-120000_qwen");
        row.set("cell_id", cell);
        row.set_outcome(status, error, None, Some(1.25));
        row.set("engine", "sim");
        row.set("mode", mode);
        row.set("model", "qwen");
        row.set("mconf", "2l");
        row.set("base", "base");
        row.set("tp", 1);
        for (k, v) in &a {
            let col = if k == "seq" { "input_len" } else { k.as_str() };
            row.set(col, matrix::record::csv::value_text(v));
        }
        for (k, v) in metrics {
            row.set(k, v);
        }
        self.sink.write_row(&row).unwrap();
        let full: IndexMap<String, String> = self
            .sink
            .schema()
            .columns()
            .iter()
            .map(|c| (c.clone(), row.get(c).unwrap_or_default().to_string()))
            .collect();
        self.ev(Event::CellFinished(CellFinished {
            group: group.into(),
            cell: cell.into(),
            status,
            error: error.map(str::to_string),
            label: label(&a),
            axes: a,
            duration_s: 1.25,
            duration_of,
            log: Some(format!("{group}/{cell}.log")),
            row: full,
            samples: Vec::new(),
        }));
    }

    fn warn(&mut self, message: &str) {
        self.ev(Event::Warning(Warning {
            group: None,
            message: message.into(),
        }));
    }

    fn finish(mut self, counts: Counts, launches: usize, interrupted: bool) -> Script {
        let s = &self.script;
        let e = Event::RunFinished(RunFinished {
            run_id: "20261204-120000_qwen".into(),
            cells: self.total,
            counts,
            done_before: 0,
            launches,
            interrupted,
            wall_s: 12.5,
            overhead_per_cell_ms: 0.42,
            csv: s.csv().to_string(),
            run_dir: s.run_dir().to_string(),
            summary: s.run_dir().join("summary.json").to_string(),
            setup_s: 0.75,
        });
        self.ev(e);
        self.script
    }
}

/// A latency run: one group, bsz × seq; ok, oom, pruned and skipped cells,
/// a warning; one_batch gives no per-cell times (durations are the group's).
fn latency_run() -> Script {
    let mut b = Builder::new(&[Mode::Latency], &["bsz", "seq"]);
    b.start(1, 5, &["bsz", "seq"], &["latency"]);
    b.warn("model_conf/qwen/config_2l.json: 2 layers; numbers are not the full model's");
    b.launch("g1", 1, 1, "latency", 1, &[]);
    let lat = [
        ("prefill_latency_s", "0.0123"),
        ("prefill_throughput", "83252.0"),
        ("median_decode_latency_s", "0.00456"),
        ("median_decode_throughput", "219.3"),
        ("e2e_latency_s", "0.0708"),
        ("e2e_throughput", "14520.3"),
        ("prefill_mfu", "0.4123"),
        ("decode_mbu", "0.6012"),
        ("output_len", "16"),
    ];
    for (cell, bsz, seq, status, err) in [
        ("c1aaaa", 1, 1024, Status::Ok, None),
        ("c2bbbb", 64, 1024, Status::Ok, None),
        (
            "c3cccc",
            128,
            1024,
            Status::Oom,
            Some("CUDA out of memory. Tried to allocate 2.00 GiB\n(GPU 0; 79.1 GiB total)"),
        ),
        (
            "c5eeee",
            64,
            8192,
            Status::Skipped,
            Some("KV pool too small for bsz 64 x 8208 tokens"),
        ),
    ] {
        let a = [("bsz", json!(bsz)), ("seq", json!(seq))];
        b.cell_started("g1", cell, &a);
        let m: &[(&str, &str)] = if status == Status::Ok {
            &lat
        } else {
            &[("output_len", "16")]
        };
        b.finished("g1", cell, "latency", &a, status, err, m, DurationOf::Group);
        if cell == "c3cccc" {
            let a = [("bsz", json!(256)), ("seq", json!(1024))];
            b.finished(
                "g1",
                "c4dddd",
                "latency",
                &a,
                Status::Pruned,
                Some("bsz 128 ran out of memory at seq 1024"),
                &[("output_len", "16")],
                DurationOf::Cell,
            );
        }
    }
    b.ev(Event::GroupStopped(GroupStopped {
        group: "g1".into(),
        wall_s: 6.0,
    }));
    b.finish(
        Counts {
            ok: 2,
            failed: 1,
            skipped: 1,
            pruned: 1,
            not_run: 0,
        },
        1,
        false,
    )
}

/// A serving run: two groups by chunked_prefill_size, request rates as
/// cells, request progress, a server that dies and is relaunched, a failed
/// client; interrupted before the last cell.
fn serving_run() -> Script {
    let mut b = Builder::new(&[Mode::Serving], &["chunked_prefill_size", "request_rate"]);
    b.start(
        2,
        5,
        &["chunked_prefill_size", "request_rate"],
        &["serving"],
    );
    let serving = |ttft: &'static str, tput: &'static str| -> Vec<(&'static str, &'static str)> {
        vec![
            ("input_len", "1024"),
            ("output_len", "256"),
            ("num_prompts", "100"),
            ("completed", "100"),
            ("median_ttft_ms", ttft),
            ("median_itl_ms", "8.91"),
            ("median_e2e_ms", "2301.5"),
            ("output_throughput", tput),
        ]
    };
    b.launch(
        "g1",
        1,
        2,
        "serving",
        1,
        &[("chunked_prefill_size", json!(4096))],
    );
    b.ready("g1", 3.2);
    let a4 = [
        ("chunked_prefill_size", json!(4096)),
        ("request_rate", json!(4)),
    ];
    b.cell_started("g1", "s1aaaa", &a4);
    for done in [25, 50, 100] {
        b.ev(Event::RequestProgress(RequestProgress {
            group: "g1".into(),
            cell: "s1aaaa".into(),
            done,
            total: 100,
        }));
    }
    b.finished(
        "g1",
        "s1aaaa",
        "serving",
        &a4,
        Status::Ok,
        None,
        &serving("41.2", "1021.7"),
        DurationOf::Cell,
    );
    let a8 = [
        ("chunked_prefill_size", json!(4096)),
        ("request_rate", json!(8)),
    ];
    b.cell_started("g1", "s2bbbb", &a8);
    b.finished(
        "g1",
        "s2bbbb",
        "serving",
        &a8,
        Status::ServerDied,
        Some("server exited with signal 9 while the cell ran"),
        &[("num_prompts", "100"), ("completed", "37")],
        DurationOf::Cell,
    );
    b.ev(Event::Warning(Warning {
        group: Some("g1".into()),
        message: "the server died; relaunching it for the remaining cells".into(),
    }));
    b.launch(
        "g1",
        1,
        2,
        "serving",
        2,
        &[("chunked_prefill_size", json!(4096))],
    );
    b.ready("g1", 2.9);
    let a16 = [
        ("chunked_prefill_size", json!(4096)),
        ("request_rate", json!(16)),
    ];
    b.cell_started("g1", "s3cccc", &a16);
    b.finished(
        "g1",
        "s3cccc",
        "serving",
        &a16,
        Status::Ok,
        None,
        &serving("97.0", "1890.4"),
        DurationOf::Cell,
    );
    b.launch(
        "g2",
        2,
        2,
        "serving",
        1,
        &[("chunked_prefill_size", json!(8192))],
    );
    b.ready("g2", 3.0);
    let b4 = [
        ("chunked_prefill_size", json!(8192)),
        ("request_rate", json!(4)),
    ];
    b.cell_started("g2", "s4dddd", &b4);
    b.finished(
        "g2",
        "s4dddd",
        "serving",
        &b4,
        Status::ClientError,
        Some("client exited with 1: ConnectionResetError"),
        &[("num_prompts", "100")],
        DurationOf::Cell,
    );
    b.finish(
        Counts {
            ok: 2,
            failed: 2,
            skipped: 0,
            pruned: 0,
            not_run: 1,
        },
        3,
        true,
    )
}

fn opts(color: bool, quiet: bool) -> DisplayOptions {
    DisplayOptions {
        tty: false,
        color,
        quiet,
        width: None,
    }
}

/// Plain output of a script, paths of its temp folder as `[TMP]`, ANSI
/// escapes as `␛`.
fn plain(s: &Script, color: bool, quiet: bool) -> String {
    let buf = Buf::default();
    let mut d = Display::plain(Box::new(buf.clone()), opts(color, quiet));
    for e in &s.events {
        d.event(e).unwrap();
    }
    tidy(s, &buf.text())
}

fn tidy(s: &Script, text: &str) -> String {
    text.replace(s.root().as_str(), "[TMP]")
        .replace('\x1b', "␛")
}

#[test]
fn latency_plain() {
    let s = latency_run();
    insta::assert_snapshot!(plain(&s, false, false));
}

#[test]
fn latency_plain_color() {
    let s = latency_run();
    insta::assert_snapshot!(plain(&s, true, false));
}

#[test]
fn latency_quiet() {
    let s = latency_run();
    let text = plain(&s, false, true);
    // Failures keep their cause; ok, skipped and pruned cells are not shown.
    assert!(text.contains("oom  CUDA out of memory"), "{text}");
    assert!(!text.contains("bsz=1 seq=1024"), "{text}");
    insta::assert_snapshot!(text);
}

#[test]
fn serving_plain() {
    let s = serving_run();
    insta::assert_snapshot!(plain(&s, false, false));
}

#[test]
fn serving_quiet_color() {
    let s = serving_run();
    insta::assert_snapshot!(plain(&s, true, true));
}

/// Every finished cell's line names it by its axis values.
#[test]
fn plain_lines_name_every_cell_by_its_axes() {
    for s in [latency_run(), serving_run()] {
        let text = plain(&s, false, false);
        for e in &s.events {
            if let Event::CellFinished(c) = e {
                let line = text
                    .lines()
                    .find(|l| l.starts_with('[') && l.contains(&format!("] {} ", c.label)))
                    .unwrap_or_else(|| panic!("no line for {}: {text}", c.label));
                assert!(line.contains(c.status.as_str()), "{line}");
            }
        }
    }
}

/// Feed events to a display on an in-memory terminal; snapshot the screen
/// after event `at` (bars drawn) and at the end.
fn tty(s: &Script, at: usize) -> (String, String) {
    let term = InMemoryTerm::new(60, 120);
    let mut d = Display::term(
        Box::new(term.clone()),
        DisplayOptions {
            tty: true,
            color: false,
            quiet: false,
            width: Some(100),
        },
        None,
    );
    let mut mid = String::new();
    for (i, e) in s.events.iter().enumerate() {
        d.event(e).unwrap();
        if i == at {
            d.redraw();
            mid = term.contents();
        }
    }
    (tidy(s, &mid), tidy(s, &term.contents()))
}

fn tty_filters() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"\d\d:\d\d:\d\d", "[elapsed]");
    settings.add_filter(r"eta \S+", "eta [eta]");
    settings
}

fn index_of(s: &Script, pred: impl Fn(&Event) -> bool) -> usize {
    s.events.iter().position(pred).unwrap()
}

#[test]
fn latency_tty() {
    let s = latency_run();
    // After the oom cell: its line above the bars, the bars at 3/5.
    let at = index_of(
        &s,
        |e| matches!(e, Event::CellFinished(c) if c.cell == "c3cccc"),
    );
    let (mid, end) = tty(&s, at);
    tty_filters().bind(|| {
        insta::assert_snapshot!("latency_tty_mid", mid);
        insta::assert_snapshot!("latency_tty_end", end);
    });
}

#[test]
fn serving_tty() {
    let s = serving_run();
    // A serving cell in flight: its requests done / total.
    let at = index_of(
        &s,
        |e| matches!(e, Event::RequestProgress(p) if p.done == 50),
    );
    let (mid, end) = tty(&s, at);
    assert!(mid.contains("requests 50/100"), "{mid}");
    assert!(mid.contains("request_rate=4"), "{mid}");
    tty_filters().bind(|| {
        insta::assert_snapshot!("serving_tty_mid", mid);
        insta::assert_snapshot!("serving_tty_end", end);
    });
}

/// The end-of-run table is read from the CSV: a row the events never
/// carried (a cell finished before a resume) is in it.
#[test]
fn the_end_table_reads_the_csv() {
    let s = latency_run();
    let mut csv = std::fs::read_to_string(s.csv()).unwrap();
    let first_row = csv.lines().nth(1).unwrap().replace("c1aaaa", "c0before");
    csv.push_str(&first_row);
    csv.push('\n');
    std::fs::write(s.csv(), csv).unwrap();
    let text = plain(&s, false, true);
    assert!(!text.contains("c0before"), "quiet has no table: {text}");
    let text = plain(&s, false, false);
    assert!(text.contains("c0before"), "{text}");
}

/// A mixed run: one table per mode, each with its own headline metrics.
#[test]
fn mixed_table() {
    let lat = latency_run();
    let srv = serving_run();
    let maps = |s: &Script| -> Vec<IndexMap<String, String>> {
        s.events
            .iter()
            .filter_map(|e| match e {
                Event::CellFinished(c) => Some(c.row.clone()),
                _ => None,
            })
            .collect()
    };
    let rows = table::Rows::from_maps(maps(&lat).into_iter().chain(maps(&srv)));
    insta::assert_snapshot!(table::render(&table::tables(&rows, None)));
}

#[test]
fn json_lines() {
    let s = latency_run();
    let buf = Buf::default();
    let mut j = JsonLines::new(buf.clone());
    for e in &s.events {
        j.event(e).unwrap();
    }
    assert!(j.error().is_none());
    let text = tidy(&s, &buf.text());
    // One line per event, each parsing back to the event.
    assert_eq!(text.lines().count(), s.events.len());
    for (line, e) in buf.text().lines().zip(&s.events) {
        let back: Event = serde_json::from_str(line).unwrap();
        assert_eq!(&back, e);
    }
    insta::assert_snapshot!(text);
}

/// A reader that went away: the writer stops, remembers why, and never
/// fails the run.
#[test]
fn json_lines_survive_a_closed_pipe() {
    struct Closing(usize, Buf);
    impl Write for Closing {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            if self.0 == 0 {
                return Err(std::io::ErrorKind::BrokenPipe.into());
            }
            self.0 -= 1;
            self.1.write(b)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let s = latency_run();
    let buf = Buf::default();
    let notice = Buf::default();
    let mut j = JsonLines::new(Closing(2, buf.clone())).with_notice(Box::new(notice.clone()));
    for e in &s.events {
        assert!(j.event(e).is_ok());
    }
    assert_eq!(
        j.error().map(std::io::Error::kind),
        Some(std::io::ErrorKind::BrokenPipe)
    );
    assert_eq!(buf.text().lines().count(), 2);
    // The cut is said once, at the end of the run.
    let said = notice.text();
    assert_eq!(said.lines().count(), 1, "{said}");
    assert!(
        said.starts_with("warning: --json: writing the events stopped after 2 of them"),
        "{said}"
    );
}

#[test]
fn summary_json() {
    let s = serving_run();
    let mut f = SummaryFile::new();
    for e in &s.events {
        f.event(e).unwrap();
    }
    let path = s.run_dir().join("summary.json");
    assert_eq!(f.written(), Some(path.as_path()));
    let text = std::fs::read_to_string(&path).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["statuses"]["ok"], 2);
    assert_eq!(v["counts"]["not_run"], 1);
    // No temp file is left behind.
    let names: Vec<String> = std::fs::read_dir(s.run_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, vec!["summary.json".to_string()]);
    insta::assert_snapshot!(tidy(&s, &text));
}

/// A resumed run counts on from the cells finished before it.
#[test]
fn a_resumed_run_numbers_cells_after_those_done_before() {
    let mut s = latency_run();
    for e in &mut s.events {
        match e {
            Event::RunStarted(r) => {
                r.resumed = true;
                r.cells = 8;
                r.done_before = 3;
            }
            Event::RunFinished(f) => {
                f.cells = 8;
                f.done_before = 3;
            }
            _ => {}
        }
    }
    let text = plain(&s, false, false);
    assert!(text.contains("8 cells, 3 already done"), "{text}");
    assert!(text.contains("[4/8] bsz=1 seq=1024  ok"), "{text}");
    assert!(text.contains("[8/8] bsz=64 seq=8192  skipped"), "{text}");
    assert!(text.contains("(3 finished before this resume)"), "{text}");
}

/// `--quiet` on a terminal: no bars, the same lines as in a pipe.
#[test]
fn quiet_on_a_terminal_prints_the_plain_quiet_lines() {
    let s = serving_run();
    let term = InMemoryTerm::new(60, 200);
    let mut d = Display::term(
        Box::new(term.clone()),
        DisplayOptions {
            tty: true,
            color: false,
            quiet: true,
            width: None,
        },
        None,
    );
    for e in &s.events {
        d.event(e).unwrap();
    }
    let screen: Vec<String> = tidy(&s, &term.contents())
        .lines()
        .map(|l| l.trim_end().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    let lines: Vec<String> = plain(&s, false, true).lines().map(str::to_string).collect();
    assert_eq!(screen, lines);
}
