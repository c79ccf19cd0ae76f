//! The terminal display: a [`Consumer`] of the run's events that renders
//! them for a person, to an injected output.
//!
//! - On a terminal (`tty`): indicatif bars — the run's cells done / total
//!   with elapsed time and ETA, the current group (index / total, mode,
//!   engine, its axis values) and the current cell by its axis values,
//!   with a serving cell's requests done / total. The bars redraw at least
//!   once a second. Failed cells and warnings print a line above them.
//! - Plain (pipes, CI): one line per finished cell with its axis values,
//!   status and two headline metrics (or the cause of a failure), a line
//!   per group launch / ready and per warning.
//! - `quiet`: only warnings, failed cells with their cause, and the end.
//!
//! At `run_finished` it prints the results table of the run's CSV (all of
//! a resumed run's cells, not only this session's), the counts, the paths,
//! how to resume an interrupted run and the runner overhead per cell.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use camino::Utf8Path;
use indexmap::IndexMap;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle, TermLike};
use serde_json::Value;

use super::table::{self, Rows};
use crate::record::event::{
    CellFinished, Consumer, DurationOf, Event, GroupLaunching, RunFinished, RunStarted,
};
use crate::record::{RecordError, Status};

/// How the display renders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DisplayOptions {
    /// Progress bars (a terminal) rather than plain lines.
    pub tty: bool,
    /// ANSI colour for statuses and warnings.
    pub color: bool,
    /// Only warnings, failures and the end of the run.
    pub quiet: bool,
    /// Terminal width: lines above the bars are cut to it (plain lines
    /// never are: logs keep the whole cause).
    pub width: Option<usize>,
}

/// When to use colour (`--color`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColorChoice {
    /// On a terminal, unless `NO_COLOR` is set to a non-empty value.
    #[default]
    Auto,
    Always,
    Never,
}

impl DisplayOptions {
    /// Options for stderr: bars when stderr is a terminal and `CI` is
    /// unset; colour on such a terminal unless `NO_COLOR` is set and not
    /// empty (no-color.org), or as `color` says.
    pub fn for_stderr(quiet: bool, color: ColorChoice) -> DisplayOptions {
        let tty = std::io::stderr().is_terminal() && std::env::var_os("CI").is_none();
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        DisplayOptions {
            tty,
            color: match color {
                ColorChoice::Auto => tty && !no_color,
                ColorChoice::Always => true,
                ColorChoice::Never => false,
            },
            quiet,
            width: None,
        }
    }
}

/// How often the bars of `matrix run` redraw on their own.
pub const TICK: Duration = Duration::from_millis(500);

struct Bars {
    multi: MultiProgress,
    run: ProgressBar,
    /// The run bar's style once a cell has finished: with an ETA (before,
    /// indicatif's ETA is a meaningless `0s`).
    run_style: ProgressStyle,
    /// Redraw interval, started when the run's size is known.
    tick: Option<Duration>,
    group: ProgressBar,
    cell: ProgressBar,
}

/// A group as the display names it.
struct GroupInfo {
    /// `group 2/3 serving sim deploy=tp8`.
    desc: String,
    /// `group 2/3`.
    short: String,
}

/// Renders a run's events to a writer (plain) or a terminal (bars).
pub struct Display {
    opts: DisplayOptions,
    out: Box<dyn Write + Send>,
    bars: Option<Bars>,
    total: usize,
    finished: usize,
    groups: IndexMap<String, GroupInfo>,
    /// The current cell: (id, `cell 5/12 request_rate=8`).
    cell: Option<(String, String)>,
    /// Rows of this session's finished cells: the table when the CSV
    /// cannot be read.
    rows: Vec<IndexMap<String, String>>,
    /// The plan's varying axes (`run_started`): the end table's columns.
    varying: Option<Vec<String>>,
    /// Cells finished before this session (a resume).
    done_before: usize,
}

impl Display {
    /// The display of `matrix run`: stderr, bars on a terminal, colour
    /// there unless `NO_COLOR` (see [`DisplayOptions::for_stderr`]).
    pub fn stderr(quiet: bool) -> Display {
        Display::stderr_with(quiet, ColorChoice::Auto)
    }

    /// [`Display::stderr`] with a `--color` choice.
    pub fn stderr_with(quiet: bool, color: ColorChoice) -> Display {
        let opts = DisplayOptions::for_stderr(quiet, color);
        if opts.tty && !quiet {
            // Redraw at least once a second so elapsed time, ETA and
            // request counts visibly move while a long cell runs.
            Display::with_bars(
                ProgressDrawTarget::stderr(),
                Box::new(std::io::stderr()),
                opts,
                Some(TICK),
            )
        } else {
            Display::plain(Box::new(std::io::stderr()), opts)
        }
    }

    /// Plain lines to `out` (`opts.tty` is ignored).
    pub fn plain(out: Box<dyn Write + Send>, opts: DisplayOptions) -> Display {
        Display {
            opts: DisplayOptions { tty: false, ..opts },
            out,
            bars: None,
            total: 0,
            finished: 0,
            groups: IndexMap::new(),
            cell: None,
            rows: Vec::new(),
            varying: None,
            done_before: 0,
        }
    }

    /// Bars on a terminal-like target (tests: indicatif's `InMemoryTerm`);
    /// with `quiet`, plain lines to the same terminal instead. `tick`: how
    /// often the bars redraw on their own (`None`: only on events, as
    /// snapshot tests want).
    pub fn term(term: Box<dyn TermLike>, opts: DisplayOptions, tick: Option<Duration>) -> Display {
        let target = ProgressDrawTarget::term_like(term);
        Display::with_bars(target, Box::new(std::io::sink()), opts, tick)
    }

    fn with_bars(
        target: ProgressDrawTarget,
        out: Box<dyn Write + Send>,
        opts: DisplayOptions,
        tick: Option<Duration>,
    ) -> Display {
        let multi = MultiProgress::with_draw_target(target);
        let style = |t: &str| {
            ProgressStyle::with_template(t)
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ")
        };
        let run_style = style("run  [{bar:30}] {pos}/{len} cells  {elapsed_precise}  eta {eta}");
        let first_style = style("run  [{bar:30}] {pos}/{len} cells  {elapsed_precise}  eta -");
        let msg_style =
            ProgressStyle::with_template("{msg}").unwrap_or_else(|_| ProgressStyle::default_bar());
        // Added to the screen when `run_started` gives its size (no
        // `0/0 cells` frame).
        let run = ProgressBar::new(0).with_style(first_style);
        let group = multi.add(ProgressBar::new(0).with_style(msg_style.clone()));
        let cell = multi.add(ProgressBar::new(0).with_style(msg_style));
        let mut d = Display::plain(out, opts);
        d.opts.tty = !opts.quiet;
        if !opts.quiet {
            d.bars = Some(Bars {
                multi,
                run,
                run_style,
                tick,
                group,
                cell,
            });
        } else {
            // Quiet on a terminal: plain lines, printed through the term.
            d.bars = None;
            d.out = Box::new(TermLines(multi));
        }
        d
    }

    /// Redraw the bars now (tests take the terminal's contents after it).
    pub fn redraw(&self) {
        if let Some(b) = &self.bars {
            b.multi.suspend(|| ());
        }
    }

    /// A line to the output: above the bars on a terminal.
    fn line(&mut self, text: &str) {
        match &self.bars {
            Some(b) => {
                let _ = b.multi.println(text);
            }
            None => {
                let _ = writeln!(self.out, "{text}");
                let _ = self.out.flush();
            }
        }
    }

    fn paint(&self, text: &str, code: &str) -> String {
        if self.opts.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    fn status_word(&self, s: Status) -> String {
        let code = match s {
            Status::Ok => "32",
            Status::Skipped | Status::Pruned => "33",
            _ => "31",
        };
        self.paint(s.as_str(), code)
    }

    fn run_started(&mut self, r: &RunStarted) {
        self.varying = Some(r.varying.clone());
        self.total = r.cells;
        self.finished = r.done_before;
        self.done_before = r.done_before;
        if let Some(b) = &self.bars {
            b.multi.insert(0, b.run.clone());
            b.run.set_length(r.cells as u64);
            b.run.set_position(r.done_before as u64);
            b.run.reset_eta();
            b.run.tick();
            if let Some(every) = b.tick {
                b.run.enable_steady_tick(every);
            }
        }
        if self.opts.quiet {
            return;
        }
        let mut s = format!(
            "run {}: {} group{}, {} cell{}",
            r.run_id,
            r.groups,
            if r.groups == 1 { "" } else { "s" },
            r.cells,
            if r.cells == 1 { "" } else { "s" }
        );
        if r.done_before > 0 {
            s.push_str(&format!(", {} already done", r.done_before));
        }
        self.line(&s);
    }

    fn group_launching(&mut self, g: &GroupLaunching) {
        let short = format!("group {}/{}", g.index, g.groups);
        let mut desc = format!("{short} {} {}", g.mode, g.engine);
        let axes = axes_text(&g.axes);
        if !axes.is_empty() {
            desc.push(' ');
            desc.push_str(&axes);
        }
        let what = if g.attempt > 1 {
            format!("relaunching (attempt {})", g.attempt)
        } else {
            "launching".to_string()
        };
        let text = format!("{desc}: {what}");
        self.groups
            .insert(g.group.clone(), GroupInfo { desc, short });
        match &self.bars {
            Some(b) => {
                b.group.set_message(text);
                b.cell.set_message("");
            }
            None if !self.opts.quiet => self.line(&text),
            None => {}
        }
    }

    fn group_name(&self, id: &str, long: bool) -> String {
        match self.groups.get(id) {
            Some(g) if long => g.desc.clone(),
            Some(g) => g.short.clone(),
            None => format!("group {id}"),
        }
    }

    fn cell_finished(&mut self, c: &CellFinished) {
        self.finished += 1;
        self.rows.push(c.row.clone());
        if let Some(b) = &self.bars {
            // The first cell of this session: from now on an ETA means something.
            if self.finished == self.done_before + 1 {
                b.run.set_style(b.run_style.clone());
            }
            b.run.inc(1);
            if self.cell.as_ref().is_some_and(|(id, _)| *id == c.cell) {
                b.cell.set_message("");
            }
        }
        if self.cell.as_ref().is_some_and(|(id, _)| *id == c.cell) {
            self.cell = None;
        }
        let failed = c.status.is_failure();
        let show = failed || (!self.opts.quiet && self.bars.is_none());
        if !show {
            return;
        }
        let width = self.total.max(self.finished).to_string().len();
        let label = if c.label.is_empty() {
            format!("cell {}", c.cell)
        } else {
            c.label.clone()
        };
        let mut s = format!(
            "[{:>width$}/{}] {label}  {}",
            self.finished,
            self.total,
            self.status_word(c.status)
        );
        let mut rest: Vec<String> = Vec::new();
        if c.status == Status::Ok {
            s.push_str("  ");
            s.push_str(&headline_text(&c.row));
        } else if let Some(e) = c.error.as_deref().filter(|e| !e.trim().is_empty()) {
            let mut lines = e.lines().filter(|l| !l.trim().is_empty());
            if let Some(first) = lines.next() {
                s.push_str("  ");
                s.push_str(first.trim());
            }
            rest = lines.map(|l| format!("    {}", l.trim_end())).collect();
        }
        // A pruned cell never ran: it has no time to show.
        if c.status != Status::Pruned {
            s.push_str(&match c.duration_of {
                DurationOf::Cell => format!("  ({})", seconds(c.duration_s)),
                DurationOf::Group => {
                    format!("  ({}, the group's time)", seconds(c.duration_s))
                }
            });
        }
        if let (Some(w), true) = (self.opts.width, self.bars.is_some()) {
            s = cut(&s, w);
            rest = rest.into_iter().map(|l| cut(&l, w)).collect();
        }
        self.line(&s);
        for l in rest {
            self.line(&l);
        }
    }

    fn run_finished(&mut self, f: &RunFinished) {
        if let Some(b) = &self.bars {
            b.cell.finish_and_clear();
            b.group.finish_and_clear();
            b.run.finish_and_clear();
        }
        let mut text = String::new();
        if !self.opts.quiet {
            let (rows, note) = match table::read_csv(Utf8Path::new(&f.csv)) {
                Ok(rows) => (rows, None),
                Err(e) => (
                    Rows::from_maps(self.rows.iter().cloned()),
                    Some(format!(
                        "(this session's cells only: cannot read the CSV: {e})\n"
                    )),
                ),
            };
            text.push('\n');
            text.push_str(&table::render(&table::tables(
                &rows,
                self.varying.as_deref(),
            )));
            if let Some(n) = note {
                text.push_str(&n);
            }
            text.push('\n');
        }
        let c = &f.counts;
        text.push_str(&format!(
            "run {}: {} cells: {} ok, {} failed, {} skipped, {} pruned",
            f.run_id,
            f.cells,
            self.paint(&c.ok.to_string(), "32"),
            if c.failed > 0 {
                self.paint(&c.failed.to_string(), "31")
            } else {
                c.failed.to_string()
            },
            c.skipped,
            c.pruned
        ));
        if f.interrupted {
            text.push_str(&format!(", {} not run (interrupted)", c.not_run));
        }
        if f.done_before > 0 {
            text.push_str(&format!(" ({} finished before this resume)", f.done_before));
        }
        text.push_str(&format!(
            "\n{} launch{}, wall {:.1} s (setup {:.1} s), runner overhead {:.2} ms per cell\n\
             csv: {}\nrun folder: {}\nsummary: {}\n",
            f.launches,
            if f.launches == 1 { "" } else { "es" },
            f.wall_s,
            f.setup_s,
            f.overhead_per_cell_ms,
            f.csv,
            f.run_dir,
            f.summary
        ));
        if f.interrupted {
            text.push_str(&format!(
                "interrupted: resume with `matrix run --resume {}`\n",
                f.run_id
            ));
        }
        for l in text.trim_end_matches('\n').split('\n') {
            self.line(l);
        }
    }
}

impl Consumer for Display {
    fn event(&mut self, e: &Event) -> Result<(), RecordError> {
        match e {
            Event::RunStarted(r) => self.run_started(r),
            Event::GroupLaunching(g) => self.group_launching(g),
            Event::GroupReady(g) => {
                let text = format!(
                    "{}: ready after {:.1} s",
                    self.group_name(&g.group, false),
                    g.after_s
                );
                match &self.bars {
                    Some(b) => b
                        .group
                        .set_message(format!("{}: ready", self.group_name(&g.group, true))),
                    None if !self.opts.quiet => self.line(&text),
                    None => {}
                }
            }
            Event::GroupStopped(_) => {}
            Event::CellStarted(c) => {
                let label = if c.label.is_empty() {
                    c.cell.clone()
                } else {
                    c.label.clone()
                };
                let text = format!("cell {}/{} {label}", c.index, c.cells);
                if let Some(b) = &self.bars {
                    b.cell.set_message(text.clone());
                }
                self.cell = Some((c.cell.clone(), text));
            }
            Event::RequestProgress(p) => {
                if let (Some(b), Some((id, text))) = (&self.bars, &self.cell)
                    && *id == p.cell
                {
                    b.cell
                        .set_message(format!("{text}  requests {}/{}", p.done, p.total));
                }
            }
            Event::CellFinished(c) => self.cell_finished(c),
            Event::Warning(w) => {
                let word = self.paint("warning", "33");
                // Name the group it concerns, by its place in the plan.
                let about = w
                    .group
                    .as_deref()
                    .and_then(|g| self.groups.get(g))
                    .map(|g| format!("{}: ", g.short))
                    .filter(|p| !w.message.starts_with(p.as_str()))
                    .unwrap_or_default();
                // The runner's messages name the group by its id; the
                // display names it by its place instead of twice.
                let message = match (&w.group, about.is_empty()) {
                    (Some(g), false) => w
                        .message
                        .strip_prefix(&format!("group {g}: "))
                        .unwrap_or(&w.message),
                    _ => &w.message,
                };
                self.line(&format!("{word}: {about}{message}"));
            }
            Event::RunFinished(f) => self.run_finished(f),
        }
        Ok(())
    }
}

/// Plain lines through a (quiet) terminal: each line via `println`.
struct TermLines(MultiProgress);

impl Write for TermLines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        for l in text.strip_suffix('\n').unwrap_or(&text).split('\n') {
            self.0.println(l)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `bsz=64 seq=1024`.
fn axes_text(axes: &IndexMap<String, Value>) -> String {
    axes.iter()
        .map(|(k, v)| format!("{k}={}", crate::record::csv::value_text(v)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Two headline metrics of an ok cell's row: latency prefill ms + median
/// decode ms; serving median TTFT ms + output tok/s. `-` where empty.
fn headline_text(row: &IndexMap<String, String>) -> String {
    let get = |c: &str, scale: f64| {
        row.get(c)
            .and_then(|t| table::number(t))
            .map_or_else(|| "-".to_string(), |x| table::fmt_num(x * scale))
    };
    match row.get("mode").map(String::as_str) {
        Some("serving") => format!(
            "TTFT {} ms  out {} tok/s",
            get("median_ttft_ms", 1.0),
            get("output_throughput", 1.0)
        ),
        _ => format!(
            "prefill {} ms  decode {} ms",
            get("prefill_latency_s", 1000.0),
            get("median_decode_latency_s", 1000.0)
        ),
    }
}

/// Cut a line to `width` characters (ANSI escapes counted as text: lines
/// that are cut are rarely coloured past the status word).
fn cut(s: &str, width: usize) -> String {
    if s.chars().count() <= width || width < 2 {
        return s.to_string();
    }
    let mut t: String = s.chars().take(width - 1).collect();
    t.push('…');
    t
}

/// A cell's time as a person reads it: `850 ms` under a second (one_batch
/// cells take milliseconds), else `12.3 s`.
fn seconds(s: f64) -> String {
    let ms = s * 1e3;
    if ms < 10.0 {
        format!("{ms:.2} ms")
    } else if ms < 100.0 {
        format!("{ms:.1} ms")
    } else if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{s:.1} s")
    }
}
