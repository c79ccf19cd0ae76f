//! `commands.jsonl`: every process a run started, exactly as it was
//! started: one JSON line per spawn, written (and synced) just before the
//! spawn, so a run killed at any instant still says what it ran. This is
//! the record of what was executed, not of what was planned: the runner
//! rewrites some command lines at run time (one_batch retries with fewer
//! batch sizes, Nsight Systems wrapping when profiling), and those are the
//! argv recorded here. A later `commands.sh` is built from this file alone.

use std::fs::{File, OpenOptions};

use camino::{Utf8Path, Utf8PathBuf};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use super::RecordError;
use super::csv::write_synced;
use super::manifest::is_secret;

/// What a started process was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The group's server, one_batch process, or worker rank.
    Launch,
    /// A cell's benchmark client.
    Client,
}

/// One started process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Executed {
    pub group: String,
    /// The cell it ran for; `None` for a launch that serves several cells.
    pub cell: Option<String>,
    pub role: Role,
    /// The exact argv (never a shell string).
    pub argv: Vec<String>,
    /// Environment added on top of matrix's own; values of secret-looking
    /// names (TOKEN, KEY, SECRET, PASSWORD) are written as `***`.
    pub env: IndexMap<String, String>,
    /// CPUs it was pinned to; `None`: not pinned.
    pub cpus: Option<Vec<usize>>,
    /// RFC 3339, when it was spawned.
    pub started_at: String,
}

impl Executed {
    /// A record stamped now, secrets masked.
    pub fn now(
        group: &str,
        cell: Option<&str>,
        role: Role,
        argv: &[String],
        env: &IndexMap<String, String>,
        cpus: Option<&[usize]>,
    ) -> Executed {
        Executed {
            group: group.to_string(),
            cell: cell.map(str::to_string),
            role,
            argv: argv.to_vec(),
            env: env
                .iter()
                .map(|(k, v)| {
                    let v = if is_secret(k) { "***" } else { v.as_str() };
                    (k.clone(), v.to_string())
                })
                .collect(),
            cpus: cpus.map(<[usize]>::to_vec),
            started_at: jiff::Timestamp::now().to_string(),
        }
    }
}

/// `commands.jsonl`, open for appending.
#[derive(Debug)]
pub struct CommandLog {
    path: Utf8PathBuf,
    file: File,
}

impl CommandLog {
    /// Open (creating it) for appending; a torn last line (a kill mid-write)
    /// is cut off first.
    pub fn open(path: &Utf8Path) -> Result<CommandLog, RecordError> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(path)
            .map_err(|e| RecordError::io(format!("cannot open {path}"), e))?;
        let text =
            std::fs::read(path).map_err(|e| RecordError::io(format!("cannot read {path}"), e))?;
        let complete = text.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        if complete < text.len() {
            file.set_len(complete as u64)
                .map_err(|e| RecordError::io(format!("cannot cut the torn line of {path}"), e))?;
        }
        Ok(CommandLog {
            path: path.to_owned(),
            file,
        })
    }

    /// Append one record (one line), synced before returning.
    pub fn append(&mut self, e: &Executed) -> Result<(), RecordError> {
        let mut line = serde_json::to_string(e).map_err(|err| {
            RecordError::io(
                format!("cannot encode a line of {}", self.path),
                std::io::Error::other(err),
            )
        })?;
        line.push('\n');
        write_synced(&mut self.file, line.as_bytes())
            .map_err(|err| RecordError::io(format!("cannot append to {}", self.path), err))
    }

    /// The records of a file, in spawn order; a missing file is empty and a
    /// torn last line is ignored.
    pub fn read(path: &Utf8Path) -> Result<Vec<Executed>, RecordError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(RecordError::io(format!("cannot read {path}"), e)),
        };
        let complete = text.rfind('\n').map_or(0, |i| i + 1);
        text[..complete]
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                serde_json::from_str(l).map_err(|e| RecordError::CorruptJournal {
                    path: path.to_owned(),
                    line: i + 1,
                    reason: e.to_string(),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_roundtrip_masked_and_a_torn_line_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = Utf8Path::from_path(dir.path())
            .unwrap()
            .join("commands.jsonl");
        let env: IndexMap<String, String> = [("HF_TOKEN", "hf_x"), ("CUDA_VISIBLE_DEVICES", "0")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let argv = vec!["nsys".to_string(), "profile".into(), "a b".into()];
        let e = Executed::now("g1", Some("c1"), Role::Client, &argv, &env, Some(&[2, 3]));
        assert_eq!(e.env["HF_TOKEN"], "***");
        assert_eq!(e.env["CUDA_VISIBLE_DEVICES"], "0");
        let mut log = CommandLog::open(&path).unwrap();
        log.append(&e).unwrap();
        drop(log);
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .and_then(|mut f| std::io::Write::write_all(&mut f, b"{\"group\":"))
            .unwrap();
        assert_eq!(CommandLog::read(&path).unwrap(), vec![e.clone()]);
        let mut log = CommandLog::open(&path).unwrap();
        log.append(&e).unwrap();
        assert_eq!(CommandLog::read(&path).unwrap(), vec![e.clone(), e]);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"role\":\"client\""), "{text}");
        assert!(text.contains("\"cpus\":[2,3]"), "{text}");
    }
}
