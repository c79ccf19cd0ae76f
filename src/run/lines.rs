//! A minimal consumer of the run's events: one plain line per event worth
//! a line, on any writer (stderr for `matrix run`). `--quiet` keeps
//! warnings and failed cells with their cause. The terminal display and
//! the JSON-lines writer of `src/report/` replace it where they exist.

use std::io::Write;

use crate::record::RecordError;
use crate::record::event::{Consumer, Event};

/// Plain lines to `out`.
pub struct Lines<W: Write> {
    out: W,
    quiet: bool,
    /// `index/cells` of the cell started last.
    at: String,
}

impl Lines<std::io::Stderr> {
    pub fn stderr(quiet: bool) -> Self {
        Lines::new(std::io::stderr(), quiet)
    }
}

impl<W: Write> Lines<W> {
    pub fn new(out: W, quiet: bool) -> Self {
        Lines {
            out,
            quiet,
            at: String::new(),
        }
    }

    pub fn into_inner(self) -> W {
        self.out
    }

    fn line(&self, e: &Event) -> Option<String> {
        Some(match e {
            Event::Warning(w) => format!("warning: {}", w.message),
            Event::CellFinished(f) if self.quiet && f.status.is_failure() => format!(
                "cell {} {}: {} after {} s: {}",
                f.cell,
                f.label,
                f.status,
                secs(f.duration_s),
                f.error.as_deref().unwrap_or("")
            ),
            _ if self.quiet => return None,
            Event::RunStarted(r) => format!(
                "run {}: {} groups, {} cells ({} already done)",
                r.run_id, r.groups, r.cells, r.done_before
            ),
            Event::GroupLaunching(g) => {
                let again = if g.attempt > 1 {
                    format!(", launch {}", g.attempt)
                } else {
                    String::new()
                };
                format!(
                    "group {}/{} {}: {} {}, {} cells{again}",
                    g.index, g.groups, g.group, g.engine, g.mode, g.cells
                )
            }
            Event::GroupReady(g) => format!("group {}: ready after {:.1} s", g.group, g.after_s),
            Event::CellFinished(f) => {
                let whose = match f.duration_of {
                    crate::record::event::DurationOf::Cell => "",
                    crate::record::event::DurationOf::Group => " (the group's process)",
                };
                let (at, label, d) = (&self.at, &f.label, secs(f.duration_s));
                match &f.error {
                    Some(m) => format!("  cell {at} {label}: {} after {d} s{whose}: {m}", f.status),
                    None => format!("  cell {at} {label}: {} in {d} s{whose}", f.status),
                }
            }
            _ => return None,
        })
    }
}

/// Seconds with three significant digits under 100 (`0.0155`, `3.05`),
/// else whole.
fn secs(s: f64) -> String {
    if s >= 100.0 || s == 0.0 {
        format!("{s:.0}")
    } else {
        let digits = (2 - s.abs().log10().floor() as i32).clamp(0, 6) as usize;
        format!("{s:.digits$}")
    }
}

impl<W: Write> Consumer for Lines<W> {
    fn event(&mut self, e: &Event) -> Result<(), RecordError> {
        if let Event::CellStarted(c) = e {
            self.at = format!("{}/{}", c.index, c.cells);
        }
        if let Some(l) = self.line(e) {
            // A display that cannot write does not stop the run.
            let _ = writeln!(self.out, "{l}");
        }
        Ok(())
    }
}
