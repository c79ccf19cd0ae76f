//! `matrix run`: plan (or read the plan of the run to resume), then run.

use camino::Utf8Path;

use crate::Error;

use super::{PlanInputRequest, plan_input, write_stderr, write_stdout};

/// What `matrix run` needs.
#[derive(Debug, Clone, Default)]
pub struct RunRequest {
    pub input: PlanInputRequest,
    /// `--resume RUN_ID`.
    pub resume: Option<String>,
    pub dry_run: bool,
    /// `--profile prefill|decode|both`.
    pub profile: Option<String>,
    pub no_prune: bool,
    pub quiet: bool,
    /// `--grace SECONDS`.
    pub grace: f64,
    pub startup_retries: u32,
    /// `--json`: the run's events as JSON lines on stdout.
    pub json: bool,
    /// `--color`.
    pub color: crate::report::display::ColorChoice,
    /// The results database the run's cells go to as they finish; `None`
    /// with `--no-db`.
    pub db: Option<camino::Utf8PathBuf>,
}

/// `matrix run`: plan (or read the plan of the run to resume), then run.
/// The run folder is claimed when the run opens its records: a run started
/// in the same second gets the next id, nobody waits.
pub fn run(root: &Utf8Path, a: RunRequest) -> Result<i32, Error> {
    let profile = a.profile.as_deref().and_then(crate::plan::profile::phases);
    let target = match &a.resume {
        Some(id) => {
            let ignored = ignored_on_resume(&a);
            if !ignored.is_empty() {
                write_stderr(&format!(
                    "warning: {}: a resumed run uses the plan and options in its manifest; \
                     ignoring them\n",
                    ignored.join(", ")
                ));
            }
            crate::run::Target::Resume {
                id: id.clone(),
                results_dir: root.join("results"),
            }
        }
        None => {
            let plan = super::plan::build(&plan_input(root, a.input.clone()), profile.as_deref())?;
            if a.dry_run {
                write_stdout(|out| out.write_all(crate::plan::output::render(&plan).as_bytes()))?;
                return Ok(0);
            }
            crate::run::Target::Fresh(Box::new(plan))
        }
    };
    let opts = crate::run::RunOptions {
        no_prune: a.no_prune,
        gpu: a.input.gpu,
        grace: std::time::Duration::from_secs_f64(a.grace.max(0.0)),
        startup_retries: a.startup_retries,
        argv: std::env::args().collect(),
        env_vars: std::env::vars().collect(),
    };
    // The recorder is the run's own first consumer; then summary.json, the
    // JSON lines (`--json`) and the display, each seeing only rows on disk.
    // The results database first: it never fails the run (a warning at
    // most), and a killed run keeps the cells it recorded.
    let mut consumers: Vec<Box<dyn crate::record::event::Consumer>> = Vec::new();
    if let Some(db) = &a.db {
        consumers.push(Box::new(crate::record::db::sink::DbSink::new(db)));
    }
    consumers.push(Box::new(crate::report::summary::SummaryFile::new()));
    if a.json {
        consumers.push(Box::new(crate::report::json::JsonLines::stdout()));
    }
    consumers.push(Box::new(crate::report::display::Display::stderr_with(
        a.quiet, a.color,
    )));
    let summary = crate::run::run(root, target, opts, consumers)?;
    Ok(summary.exit_code())
}

/// The flags of `matrix run --resume` that a resume does not use: what to
/// plan (the plan is the manifest's), and `--gpu` / `--profile` (they
/// change what a run measures, so a resume keeps the run's own). `--quiet`,
/// `--grace`, `--startup-retries` and `--no-prune` do apply. See
/// docs/RESULTS.md.
fn ignored_on_resume(a: &RunRequest) -> Vec<&'static str> {
    let i = &a.input;
    let l = &i.layers;
    let given = [
        ("--model", !l.model.is_empty()),
        ("--mconf", !l.mconf.is_empty()),
        ("--base", !l.base.is_empty()),
        ("--deploy", !l.deploy.is_empty()),
        ("--backend", !l.backend.is_empty()),
        ("--optional", !l.optional.is_empty()),
        ("--engine", !l.engine.is_empty()),
        ("--mode", !l.mode.is_empty()),
        ("--matrix", l.matrix.is_some()),
        ("--set", !l.set.is_empty()),
        ("--only", !l.only.is_empty()),
        ("--bsz-seq", i.bsz_seq.is_some()),
        ("--ip", i.ip.is_some()),
        ("--rank", i.rank.is_some()),
        ("--max-cells", i.max_cells.is_some()),
        ("--run-name", i.run_name.is_some()),
        ("--gpu", i.gpu.is_some()),
        ("--profile", a.profile.is_some()),
    ];
    given.iter().filter(|(_, g)| *g).map(|(f, _)| *f).collect()
}
