//! Where a run's files go under the results folder (see docs/RESULTS.md):
//!
//! ```text
//! <results>/raw_output/<run_id>/manifest.json
//! <results>/raw_output/<run_id>/journal.jsonl
//! <results>/raw_output/<run_id>/commands.jsonl, commands.sh
//! <results>/raw_output/<run_id>/<group>/server.log, <cell>.log, result.jsonl
//! <results>/csv/<run_id>.csv
//! <results>/<model>_profile/<run_id>/<phase>_bsz<b>_seq<s>_<deploy>_<backend>.nsys-rep|.sqlite
//! ```

use camino::{Utf8Path, Utf8PathBuf};

use super::RecordError;

/// The paths of one run. Pure path arithmetic; only [`RunLayout::create_dirs`]
/// and [`latest`] touch the disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunLayout {
    results_dir: Utf8PathBuf,
    run_id: String,
}

impl RunLayout {
    pub fn new(results_dir: impl Into<Utf8PathBuf>, run_id: impl Into<String>) -> Self {
        RunLayout {
            results_dir: results_dir.into(),
            run_id: run_id.into(),
        }
    }

    pub fn results_dir(&self) -> &Utf8Path {
        &self.results_dir
    }

    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// `raw_output/<run_id>/`: manifest, journal, one folder per group.
    pub fn run_dir(&self) -> Utf8PathBuf {
        self.results_dir.join("raw_output").join(&self.run_id)
    }

    pub fn manifest(&self) -> Utf8PathBuf {
        self.run_dir().join("manifest.json")
    }

    pub fn journal(&self) -> Utf8PathBuf {
        self.run_dir().join("journal.jsonl")
    }

    /// Every process the run started, one JSON line each, written as it
    /// is spawned (see [`super::commands`]).
    pub fn commands(&self) -> Utf8PathBuf {
        self.run_dir().join("commands.jsonl")
    }

    /// `commands.sh`: the commands of `commands.jsonl` as a shell script
    /// (see [`super::commands::script`]).
    pub fn commands_script(&self) -> Utf8PathBuf {
        self.run_dir().join("commands.sh")
    }

    pub fn group_dir(&self, group: &str) -> Utf8PathBuf {
        self.run_dir().join(group)
    }

    pub fn server_log(&self, group: &str) -> Utf8PathBuf {
        self.run_dir().join(server_log_in_run(group))
    }

    pub fn cell_log(&self, group: &str, cell: &str) -> Utf8PathBuf {
        self.run_dir().join(cell_log_in_run(group, cell))
    }

    /// one_batch's `--result-filename` for a latency group.
    pub fn group_result(&self, group: &str) -> Utf8PathBuf {
        self.group_dir(group).join("result.jsonl")
    }

    /// `csv/<run_id>.csv`.
    pub fn csv(&self) -> Utf8PathBuf {
        self.results_dir
            .join("csv")
            .join(format!("{}.csv", self.run_id))
    }

    /// `<model>_profile/<run_id>/`.
    pub fn profile_dir(&self, model: &str) -> Utf8PathBuf {
        self.results_dir
            .join(format!("{model}_profile"))
            .join(&self.run_id)
    }

    /// Create `raw_output/<run_id>/` and `csv/` (group and profile folders
    /// are made when first used). For a run that exists (resume).
    pub fn create_dirs(&self) -> Result<(), RecordError> {
        for dir in [self.run_dir(), self.results_dir.join("csv")] {
            std::fs::create_dir_all(&dir)
                .map_err(|e| RecordError::io(format!("cannot create {dir}"), e))?;
        }
        Ok(())
    }

    /// Claim the run id for a new run: create `raw_output/<run_id>/` with
    /// `create_dir` (not `create_dir_all`), which exactly one process can
    /// do. [`RecordError::RunExists`] when the folder is already there:
    /// another run owns it, and nothing of it is touched.
    pub fn claim(&self) -> Result<(), RecordError> {
        let raw = self.results_dir.join("raw_output");
        for dir in [&raw, &self.results_dir.join("csv")] {
            std::fs::create_dir_all(dir)
                .map_err(|e| RecordError::io(format!("cannot create {dir}"), e))?;
        }
        let dir = self.run_dir();
        match std::fs::create_dir(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(RecordError::RunExists {
                    run_id: self.run_id.clone(),
                    path: dir,
                })
            }
            Err(e) => Err(RecordError::io(format!("cannot create {dir}"), e)),
        }
    }
}

/// `<group>/server.log`, relative to the run folder: the log of the
/// group's launch (its server, or the one_batch process that measures every
/// cell of a latency group). The CSV's `log` column holds such paths.
pub fn server_log_in_run(group: &str) -> Utf8PathBuf {
    Utf8PathBuf::from(group).join("server.log")
}

/// `<group>/<cell>.log`, relative to the run folder: a serving cell's
/// client log.
pub fn cell_log_in_run(group: &str, cell: &str) -> Utf8PathBuf {
    Utf8PathBuf::from(group).join(format!("{cell}.log"))
}

/// The `n`-th candidate for a run id (`n` from 1): the id itself, then
/// `<timestamp>-2_<name>`, `<timestamp>-3_<name>`, ... for runs started in
/// the same second. An id that is not `<timestamp>_<name>` gets `-n` at
/// its end.
pub fn numbered_run_id(run_id: &str, n: u32) -> String {
    if n <= 1 {
        return run_id.to_string();
    }
    match split_run_id(run_id) {
        Some((ts, _, name)) => format!("{ts}-{n}_{name}"),
        None => format!("{run_id}-{n}"),
    }
}

/// `YYYYMMDD-HHMMSS[-N]_<name>` → (timestamp, N (1 when absent), name).
fn split_run_id(name: &str) -> Option<(&str, u32, &str)> {
    let b = name.as_bytes();
    if b.len() < 16
        || !b[..8].iter().all(u8::is_ascii_digit)
        || b[8] != b'-'
        || !b[9..15].iter().all(u8::is_ascii_digit)
    {
        return None;
    }
    let (ts, rest) = name.split_at(15);
    let (n, name) = match rest.strip_prefix('-') {
        Some(r) => {
            let (digits, name) = r.split_once('_')?;
            let n: u32 = digits.parse().ok().filter(|n| *n >= 2)?;
            (n, name)
        }
        None => (1, rest.strip_prefix('_')?),
    };
    (!name.is_empty()).then_some((ts, n, name))
}

/// Does `name` look like a run id (`YYYYMMDD-HHMMSS[-N]_<name>`)?
pub fn is_run_id(name: &str) -> bool {
    split_run_id(name).is_some()
}

/// The newest run id under `results_dir/raw_output/`: run ids start with
/// their creation time, and `-N` orders runs of the same second; `None`
/// when there is none.
pub fn latest(results_dir: &Utf8Path) -> Result<Option<String>, RecordError> {
    let raw = results_dir.join("raw_output");
    let entries = match std::fs::read_dir(&raw) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(RecordError::io(format!("cannot list {raw}"), e)),
    };
    let mut best: Option<((String, u32, String), String)> = None;
    for e in entries {
        let e = e.map_err(|err| RecordError::io(format!("cannot list {raw}"), err))?;
        let Ok(name) = e.file_name().into_string() else {
            continue;
        };
        let Some((ts, n, rest)) = split_run_id(&name) else {
            continue;
        };
        let key = (ts.to_string(), n, rest.to_string());
        if e.path().is_dir() && best.as_ref().is_none_or(|(b, _)| key > *b) {
            best = Some((key, name));
        }
    }
    Ok(best.map(|(_, name)| name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_the_design() {
        let l = RunLayout::new("results", "20261122-153000_qwen_2l");
        assert_eq!(
            l.manifest(),
            "results/raw_output/20261122-153000_qwen_2l/manifest.json"
        );
        assert_eq!(
            l.journal(),
            "results/raw_output/20261122-153000_qwen_2l/journal.jsonl"
        );
        assert_eq!(
            l.server_log("g1"),
            "results/raw_output/20261122-153000_qwen_2l/g1/server.log"
        );
        assert_eq!(
            l.cell_log("g1", "c2"),
            "results/raw_output/20261122-153000_qwen_2l/g1/c2.log"
        );
        assert_eq!(
            l.group_result("g1"),
            "results/raw_output/20261122-153000_qwen_2l/g1/result.jsonl"
        );
        assert_eq!(l.csv(), "results/csv/20261122-153000_qwen_2l.csv");
        assert_eq!(
            l.commands_script(),
            "results/raw_output/20261122-153000_qwen_2l/commands.sh"
        );
        assert_eq!(server_log_in_run("g1"), "g1/server.log");
        assert_eq!(cell_log_in_run("g1", "c2"), "g1/c2.log");
        assert_eq!(
            l.run_dir().join(cell_log_in_run("g1", "c2")),
            l.cell_log("g1", "c2")
        );
        assert_eq!(
            l.profile_dir("qwen"),
            "results/qwen_profile/20261122-153000_qwen_2l"
        );
    }

    #[test]
    fn latest_picks_the_newest_run_folder() {
        let dir = tempfile::tempdir().unwrap();
        let root = Utf8Path::from_path(dir.path()).unwrap();
        assert_eq!(latest(root).unwrap(), None);
        for id in [
            "20261122-153000_qwen_2l",
            "20261123-090000_a",
            "20261121-235959_z",
            "notarun",
        ] {
            RunLayout::new(root, id).create_dirs().unwrap();
        }
        std::fs::write(root.join("raw_output/20991231-000000_file"), "").unwrap();
        assert_eq!(latest(root).unwrap().as_deref(), Some("20261123-090000_a"));
    }

    #[test]
    fn numbered_ids_stay_run_ids_and_sort_after_the_first() {
        let id = "20261122-153000_qwen_2l";
        assert_eq!(numbered_run_id(id, 1), id);
        assert_eq!(numbered_run_id(id, 2), "20261122-153000-2_qwen_2l");
        assert_eq!(numbered_run_id("odd", 3), "odd-3");
        assert!(is_run_id("20261122-153000-12_qwen_2l"));
        assert!(!is_run_id("20261122-153000-1_qwen_2l"));
        assert!(!is_run_id("20261122-153000-x_qwen_2l"));
        assert!(!is_run_id("20261122-153000_"));
        let dir = tempfile::tempdir().unwrap();
        let root = Utf8Path::from_path(dir.path()).unwrap();
        for n in [1, 2, 10, 3] {
            RunLayout::new(root, numbered_run_id(id, n))
                .claim()
                .unwrap();
        }
        assert_eq!(
            latest(root).unwrap().as_deref(),
            Some("20261122-153000-10_qwen_2l")
        );
    }

    #[test]
    fn claiming_a_taken_id_fails_and_leaves_it_alone() {
        let dir = tempfile::tempdir().unwrap();
        let root = Utf8Path::from_path(dir.path()).unwrap();
        let l = RunLayout::new(root, "20261122-153000_a");
        l.claim().unwrap();
        std::fs::write(l.journal(), "x\n").unwrap();
        let err = l.claim().unwrap_err();
        assert!(matches!(err, RecordError::RunExists { .. }), "{err}");
        assert_eq!(std::fs::read_to_string(l.journal()).unwrap(), "x\n");
    }
}
