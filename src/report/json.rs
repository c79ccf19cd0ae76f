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
}

impl<W: Write> JsonLines<W> {
    pub fn new(out: W) -> Self {
        JsonLines { out, error: None }
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
        JsonLines::new(std::io::stdout())
    }
}

impl<W: Write> Consumer for JsonLines<W> {
    fn event(&mut self, e: &Event) -> Result<(), RecordError> {
        if self.error.is_some() {
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
        }
        Ok(())
    }
}
