//! `matrix run --json`: one JSON object per event and line on stdout, the
//! stable format of docs/EVENTS.md. Each line is flushed as it is written,
//! so a reader sees an event when it happens.

use std::io::Write;

use crate::record::RecordError;
use crate::record::event::{Consumer, Event};

/// Writes each event as one line of JSON to its writer. A writer that
/// fails (a reader that went away: a closed pipe) never stops the run:
/// the writer stops writing and keeps the error ([`JsonLines::error`]).
pub struct JsonLines<W: Write> {
    out: W,
    error: Option<std::io::Error>,
    /// Events written.
    written: usize,
    /// Where to say, when the run ends, that writing stopped (stderr for
    /// `matrix run --json`), so a cut stream is never taken for a whole one.
    notice: Option<Box<dyn Write + Send>>,
}

impl<W: Write> JsonLines<W> {
    pub fn new(out: W) -> Self {
        JsonLines {
            out,
            error: None,
            written: 0,
            notice: None,
        }
    }

    /// At the end of the run, say on `notice` when writing stopped.
    pub fn with_notice(mut self, notice: Box<dyn Write + Send>) -> Self {
        self.notice = Some(notice);
        self
    }

    /// Why writing stopped, when it did.
    pub fn error(&self) -> Option<&std::io::Error> {
        self.error.as_ref()
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

impl JsonLines<std::io::Stdout> {
    pub fn stdout() -> Self {
        JsonLines::new(std::io::stdout()).with_notice(Box::new(std::io::stderr()))
    }
}

impl<W: Write> Consumer for JsonLines<W> {
    fn event(&mut self, e: &Event) -> Result<(), RecordError> {
        if let Some(err) = &self.error {
            if let (Event::RunFinished(f), Some(n)) = (e, self.notice.as_mut()) {
                let _ = writeln!(
                    n,
                    "warning: --json: writing the events stopped after {} of them ({err}); \
                     the run's CSV and {} are complete",
                    self.written, f.summary
                );
            }
            return Ok(());
        }
        let mut line = match serde_json::to_string(e) {
            Ok(l) => l,
            Err(err) => {
                self.error = Some(std::io::Error::other(err));
                return Ok(());
            }
        };
        line.push('\n');
        if let Err(err) = self
            .out
            .write_all(line.as_bytes())
            .and_then(|_| self.out.flush())
        {
            self.error = Some(err);
        } else {
            self.written += 1;
        }
        Ok(())
    }
}
