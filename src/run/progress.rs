//! What the runner tells the user while it works: one event stream, two
//! renderings. On a terminal, indicatif bars (groups, cells, current phase,
//! elapsed and ETA); in pipes and CI, one plain line per event. `--quiet`
//! keeps only warnings and the final summary.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Something that happened during a run.
#[derive(Debug, Clone)]
pub enum Event {
    /// The run begins: how much there is to do, and what is already done.
    Start {
        run_id: String,
        groups: usize,
        cells: usize,
        done: usize,
    },
    /// A group begins (`phase` says what: "starting server", "one_batch").
    Group {
        index: usize,
        total: usize,
        id: String,
        phase: String,
    },
    /// What the current group is doing now ("starting server", "one_batch").
    Phase { id: String, phase: String },
    /// The server of the current group answered its readiness probe.
    Ready { id: String, after: Duration },
    /// A cell begins.
    Cell {
        index: usize,
        total: usize,
        id: String,
        label: String,
    },
    /// A cell ended with a status.
    CellDone {
        id: String,
        status: String,
        error: Option<String>,
        duration: Duration,
    },
    /// Something worth a line even in quiet mode.
    Warn(String),
}

/// How events are shown.
pub enum Reporter {
    Lines { quiet: bool },
    Bars(Bars),
}

pub struct Bars {
    _multi: MultiProgress,
    groups: ProgressBar,
    cells: ProgressBar,
}

impl Reporter {
    /// Bars on a terminal (unless quiet or `CI` is set), else lines.
    pub fn new(quiet: bool) -> Reporter {
        let tty = std::io::stderr().is_terminal() && std::env::var_os("CI").is_none();
        if quiet || !tty {
            return Reporter::Lines { quiet };
        }
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template(
            "{prefix:>7} [{bar:30}] {pos}/{len} {elapsed_precise} eta {eta} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        let groups = multi.add(
            ProgressBar::new(0)
                .with_style(style.clone())
                .with_prefix("groups"),
        );
        let cells = multi.add(ProgressBar::new(0).with_style(style).with_prefix("cells"));
        Reporter::Bars(Bars {
            _multi: multi,
            groups,
            cells,
        })
    }

    pub fn event(&mut self, e: &Event) {
        match self {
            Reporter::Lines { quiet } => lines(*quiet, e),
            Reporter::Bars(b) => bars(b, e),
        }
    }

    /// Remove the bars before the summary is printed.
    pub fn finish(&mut self) {
        if let Reporter::Bars(b) = self {
            b.cells.finish_and_clear();
            b.groups.finish_and_clear();
        }
    }
}

fn lines(quiet: bool, e: &Event) {
    let mut err = std::io::stderr().lock();
    let _ = match e {
        Event::Warn(w) => writeln!(err, "warning: {w}"),
        _ if quiet => Ok(()),
        Event::Start {
            run_id,
            groups,
            cells,
            done,
        } => {
            writeln!(
                err,
                "run {run_id}: {groups} groups, {cells} cells ({done} already done)"
            )
        }
        Event::Group {
            index,
            total,
            id,
            phase,
        } => writeln!(err, "group {index}/{total} {id}: {phase}"),
        Event::Phase { id, phase } => writeln!(err, "group {id}: {phase}"),
        Event::Ready { id, after } => {
            writeln!(err, "group {id}: ready after {:.1} s", after.as_secs_f64())
        }
        Event::Cell {
            index,
            total,
            id,
            label,
        } => writeln!(err, "  cell {index}/{total} {id} {label}"),
        Event::CellDone {
            id,
            status,
            error,
            duration,
        } => match error {
            Some(m) => writeln!(
                err,
                "  cell {id}: {status} after {:.1} s: {m}",
                duration.as_secs_f64()
            ),
            None => writeln!(
                err,
                "  cell {id}: {status} in {:.1} s",
                duration.as_secs_f64()
            ),
        },
    };
}

fn bars(b: &mut Bars, e: &Event) {
    match e {
        Event::Start {
            groups,
            cells,
            done,
            ..
        } => {
            b.groups.set_length(*groups as u64);
            b.cells.set_length(*cells as u64);
            b.cells.set_position(*done as u64);
        }
        Event::Group {
            index, id, phase, ..
        } => {
            b.groups.set_position(index.saturating_sub(1) as u64);
            b.groups.set_message(format!("{id}: {phase}"));
        }
        Event::Phase { id, phase } => b.groups.set_message(format!("{id}: {phase}")),
        Event::Ready { id, after } => b
            .groups
            .set_message(format!("{id}: ready after {:.1} s", after.as_secs_f64())),
        Event::Cell {
            index,
            total,
            label,
            ..
        } => b.cells.set_message(format!("cell {index}/{total} {label}")),
        Event::CellDone { status, error, .. } => {
            b.cells.inc(1);
            if let Some(m) = error {
                b.cells.println(format!("cell {status}: {m}"));
            }
        }
        Event::Warn(w) => b.cells.println(format!("warning: {w}")),
    }
}
