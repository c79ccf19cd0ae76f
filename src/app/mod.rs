//! Each subcommand's glue between the command line and the library stages,
//! one file per subcommand. The binary (`src/main.rs`) turns the parsed
//! command line into the plain request types defined here and calls the subcommand's
//! `run`; nothing else in the library imports `app`.
//!
//! This module holds what several subcommands share: finding the project
//! root, the layer choices of `plan` / `run` / `show-config`, turning them
//! into a [`PlanInput`], and writing to stdout / stderr.

pub mod bench;
pub mod compare;
pub mod db;
pub mod ingest;
pub mod model_info;
pub mod parse;
pub mod plan;
pub mod plot;
pub mod regressions;
pub mod run;
pub mod runs;
pub mod serve;
pub mod show;
pub mod show_config;
pub mod sim;

use camino::{Utf8Path, Utf8PathBuf};
use indexmap::IndexMap;

use crate::Error;
use crate::matrix::CliChoices;
use crate::matrix::axis::Choice;
use crate::plan::PlanInput;

/// Where conf/, model_conf/ and matrices/ live: `--root`, else the current
/// directory. Made absolute so rendered paths work from any folder.
pub fn project_root(explicit: Option<Utf8PathBuf>) -> Result<Utf8PathBuf, Error> {
    let cwd = std::env::current_dir().map_err(|source| Error::Io {
        context: "cannot read the current directory".into(),
        source,
    })?;
    let cwd = Utf8PathBuf::from_path_buf(cwd).map_err(|p| Error::Io {
        context: format!("current directory {} is not UTF-8", p.display()),
        source: std::io::Error::other("non-UTF-8 path"),
    })?;
    Ok(match explicit {
        Some(p) if p.is_absolute() => p,
        Some(p) => cwd.join(p),
        None => cwd,
    })
}

/// `matrix plan`, `run` and `show-config` need a project folder: `root`
/// must hold conf/ (else: an error naming `--root` and `MATRIX_ROOT`).
pub fn require_project(root: &Utf8Path) -> Result<(), Error> {
    Ok(crate::plan::preflight::check_project(root).map_err(crate::plan::PlanError::from)?)
}

/// The `matrix` executable, for templates that call it back (`matrix sim`,
/// `matrix bench`).
pub fn matrix_exe() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.to_str().map(str::to_string))
        .unwrap_or_else(|| "matrix".into())
}

/// Local time as used in run ids: `20261122-153000`.
pub fn timestamp() -> String {
    jiff::Zoned::now().strftime("%Y%m%d-%H%M%S").to_string()
}

/// The layer choices shared by `plan`, `run` and `show-config`, as given
/// on the command line. Each list sweeps that axis; empty means not given.
#[derive(Debug, Clone, Default)]
pub struct Layers {
    pub model: Vec<String>,
    pub mconf: Vec<String>,
    pub base: Vec<String>,
    pub deploy: Vec<String>,
    pub backend: Vec<String>,
    pub optional: Vec<String>,
    pub engine: Vec<String>,
    pub mode: Vec<String>,
    /// `--matrix FILE`.
    pub matrix: Option<Utf8PathBuf>,
    /// `--set KEY=VALUE`, in order.
    pub set: Vec<String>,
    /// `--only AXIS=VALUES`, in order.
    pub only: Vec<String>,
}

impl Layers {
    /// The layer choices keyed by [`Choice`], in expansion order.
    pub fn choices(&self) -> CliChoices {
        let mut values = IndexMap::new();
        let pairs = [
            (Choice::Mode, &self.mode),
            (Choice::Model, &self.model),
            (Choice::Mconf, &self.mconf),
            (Choice::Base, &self.base),
            (Choice::Deploy, &self.deploy),
            (Choice::Backend, &self.backend),
            (Choice::Optional, &self.optional),
            (Choice::Engine, &self.engine),
        ];
        for (c, v) in pairs {
            values.insert(c, v.clone());
        }
        CliChoices { values }
    }
}

/// Everything `plan` and `run` need to build a plan.
#[derive(Debug, Clone, Default)]
pub struct PlanInputRequest {
    pub layers: Layers,
    /// `--bsz-seq FILE`.
    pub bsz_seq: Option<Utf8PathBuf>,
    pub ip: Option<String>,
    pub rank: Option<u32>,
    pub max_cells: Option<usize>,
    pub run_name: Option<String>,
    pub gpu: Option<String>,
}

/// The planner's input: the request plus this process's environment, the
/// `matrix` executable, the time and `MATRIX_FLAGS`.
pub fn plan_input(root: &Utf8Path, a: PlanInputRequest) -> PlanInput {
    PlanInput {
        expand: crate::matrix::ExpandInput {
            root: root.to_owned(),
            choices: a.layers.choices(),
            matrix: a.layers.matrix,
            bsz_seq: a.bsz_seq,
            sets: a.layers.set,
            only: a.layers.only,
            env_vars: std::env::vars().collect(),
            max_cells: a.max_cells.map(|n| n as u64),
            gpu: a.gpu,
        },
        ip: a.ip,
        rank: a.rank,
        run_name: a.run_name,
        matrix_exe: matrix_exe(),
        timestamp: timestamp(),
        flags: crate::plan::source::Preference::from_env_value(
            std::env::var("MATRIX_FLAGS").ok().as_deref(),
        ),
    }
}

/// Write to a buffered stdout: a 100 000-cell plan is hundreds of MB, and
/// unbuffered line writes would dominate planning time. A reader that went
/// away (`matrix plan | head -1`: EPIPE) is not an error: the output it
/// did not want is dropped and matrix exits as it would have.
pub fn write_stdout<F>(f: F) -> Result<(), Error>
where
    F: FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
{
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match f(&mut out).and_then(|_| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            // Drop what is still buffered rather than retry it on drop.
            let _ = out.into_parts();
            Ok(())
        }
        Err(source) => Err(Error::Io {
            context: "cannot write to stdout".into(),
            source,
        }),
    }
}

/// Write to stderr, ignoring every error: a closed or full stderr must not
/// stop a run or change its exit code (println!/eprintln! would panic).
pub fn write_stderr(text: &str) {
    use std::io::Write;
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// The results database: `explicit` (`--db`, `MATRIX_DB`; relative to the
/// current directory), else `<results>/matrix.db`.
pub fn db_path(results: &Utf8Path, explicit: Option<&Utf8Path>) -> Utf8PathBuf {
    match explicit {
        Some(p) if !p.as_str().is_empty() => p.to_owned(),
        _ => results.join("matrix.db"),
    }
}
