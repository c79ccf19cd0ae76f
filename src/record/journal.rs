//! `journal.jsonl`: one JSON line per finished cell, the record `matrix run
//! --resume` trusts. Each line is written with its newline in one write,
//! flushed and synced. A line without its newline is torn (the writer was
//! killed mid-write): [`Journal::read`] ignores it and [`Journal::open`]
//! cuts it off before appending.

use std::fs::{File, OpenOptions};
use std::io::Read;

use camino::{Utf8Path, Utf8PathBuf};
use indexmap::{IndexMap, IndexSet};
use serde::{Deserialize, Serialize};

use super::RecordError;
use super::csv::{CsvRow, write_synced};
use super::status::Status;

/// One finished cell. `row` is the exact CSV row (by column name), so the
/// CSV can be rebuilt from the journal alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalEntry {
    pub cell_id: String,
    pub status: Status,
    #[serde(default)]
    pub error: Option<String>,
    /// RFC 3339.
    #[serde(default)]
    pub started_at: Option<String>,
    #[serde(default)]
    pub duration_s: Option<f64>,
    pub row: CsvRow,
    /// Every repeat's measured values (metric → value), in the order they
    /// ran, so the results database can be rebuilt from a run folder with
    /// its spread; absent in journals written before it (then the row's
    /// values are the only sample).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub samples: Vec<IndexMap<String, f64>>,
}

impl JournalEntry {
    /// The entry for a CSV row (its cell id, status and times are read from it).
    pub fn from_row(row: &CsvRow) -> JournalEntry {
        JournalEntry {
            cell_id: row.cell_id().unwrap_or_default().to_string(),
            status: row
                .get("status")
                .and_then(Status::parse)
                .unwrap_or(Status::Ok),
            error: row.get("error").map(String::from),
            started_at: row.get("started_at").map(String::from),
            duration_s: row.get("duration_s").and_then(|d| d.parse().ok()),
            row: row.clone(),
            samples: Vec::new(),
        }
    }
}

/// What a journal file holds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JournalState {
    /// Entries in the order cells finished; a cell appears once (the first
    /// line for it wins).
    pub entries: Vec<JournalEntry>,
    /// Length of the valid prefix of the file, in bytes.
    pub valid_len: u64,
    /// Bytes of a torn last line (0 when the file ends cleanly).
    pub torn_bytes: u64,
}

impl JournalState {
    /// Ids of the finished cells.
    pub fn done(&self) -> IndexSet<String> {
        self.entries.iter().map(|e| e.cell_id.clone()).collect()
    }
}

/// An open journal, appending.
#[derive(Debug)]
pub struct Journal {
    path: Utf8PathBuf,
    file: File,
}

impl Journal {
    /// Read a journal; a missing file is an empty journal. A complete line
    /// that is not an entry is [`RecordError::CorruptJournal`].
    pub fn read(path: &Utf8Path) -> Result<JournalState, RecordError> {
        let mut text = String::new();
        match File::open(path) {
            Ok(mut f) => {
                f.read_to_string(&mut text)
                    .map_err(|e| RecordError::io(format!("cannot read {path}"), e))?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(RecordError::io(format!("cannot open {path}"), e)),
        }
        parse(path, &text)
    }

    /// Open for appending, cutting off a torn last line first. Returns the
    /// journal and what it already holds.
    pub fn open(path: &Utf8Path) -> Result<(Journal, JournalState), RecordError> {
        let state = Journal::read(path)?;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| RecordError::io(format!("cannot open {path}"), e))?;
        if state.torn_bytes > 0 {
            file.set_len(state.valid_len)
                .and_then(|_| file.sync_data())
                .map_err(|e| RecordError::io(format!("cannot cut the torn line of {path}"), e))?;
        }
        Ok((
            Journal {
                path: path.to_owned(),
                file,
            },
            state,
        ))
    }

    /// Append one entry (one line), flushed and synced before returning.
    pub fn append(&mut self, entry: &JournalEntry) -> Result<(), RecordError> {
        let mut line = serde_json::to_string(entry).map_err(|e| {
            RecordError::io(
                format!("cannot encode the journal line of {}", entry.cell_id),
                std::io::Error::other(e),
            )
        })?;
        line.push('\n');
        write_synced(&mut self.file, line.as_bytes())
            .map_err(|e| RecordError::io(format!("cannot append to {}", self.path), e))
    }

    pub fn path(&self) -> &Utf8Path {
        &self.path
    }
}

fn parse(path: &Utf8Path, text: &str) -> Result<JournalState, RecordError> {
    let complete = text.rfind('\n').map_or(0, |i| i + 1);
    let mut state = JournalState {
        valid_len: complete as u64,
        torn_bytes: (text.len() - complete) as u64,
        ..JournalState::default()
    };
    let mut seen = IndexSet::new();
    for (i, line) in text[..complete].lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let entry: JournalEntry =
            serde_json::from_str(line).map_err(|e| RecordError::CorruptJournal {
                path: path.to_owned(),
                line: i + 1,
                reason: e.to_string(),
            })?;
        if seen.insert(entry.cell_id.clone()) {
            state.entries.push(entry);
        }
    }
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn entry(id: &str) -> JournalEntry {
        let mut row = CsvRow::new();
        row.set("cell_id", id);
        row.set_outcome(Status::Ok, None, None, Some(2.0));
        JournalEntry::from_row(&row)
    }

    #[test]
    fn append_read_and_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = Utf8PathBuf::from_path_buf(dir.path().join("journal.jsonl")).unwrap();
        assert!(Journal::read(&path).unwrap().entries.is_empty());
        let (mut j, _) = Journal::open(&path).unwrap();
        j.append(&entry("a")).unwrap();
        j.append(&entry("b")).unwrap();
        drop(j);
        OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(br#"{"cell_id":"c","sta"#)
            .unwrap();
        let s = Journal::read(&path).unwrap();
        assert_eq!(s.done().into_iter().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(s.torn_bytes, 19);
        assert_eq!(s.entries[1].duration_s, Some(2.0));
        let (mut j, s) = Journal::open(&path).unwrap();
        assert_eq!(s.entries.len(), 2);
        j.append(&entry("c")).unwrap();
        let s = Journal::read(&path).unwrap();
        assert_eq!(s.done().len(), 3);
        assert_eq!(s.torn_bytes, 0);
    }

    #[test]
    fn corrupt_middle_line_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = Utf8PathBuf::from_path_buf(dir.path().join("journal.jsonl")).unwrap();
        let good = serde_json::to_string(&entry("a")).unwrap();
        std::fs::write(&path, format!("garbage\n{good}\n")).unwrap();
        let err = Journal::read(&path).unwrap_err();
        assert!(
            err.to_string().contains("journal.jsonl:1: corrupt"),
            "{err}"
        );
    }
}
