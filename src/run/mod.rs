//! `matrix run`: execute a plan group by group, cell by cell, record every
//! cell as it ends, and resume a run that was stopped or killed.
//!
//! The loop is sequential on purpose: one server (or one one_batch process)
//! at a time owns the GPUs. Every cell's CSV row and journal line are
//! written and synced when it ends ([`crate::record`]); a resumed run skips
//! journaled cells and never launches a group whose cells are all done.

mod context;
pub mod fake;
mod files;
mod latency;
mod latency_repeats;
pub mod profile;
mod retry;
mod serving;
pub mod stage;
mod worker;

use std::time::Duration;

use camino::{Utf8Path, Utf8PathBuf};

use crate::Error;
use crate::config::engine::Exec;
use crate::exec::{self, Clock, Launcher, RealLauncher, SystemClock};
use crate::plan::{Group, Plan, PlanCell};
use crate::record::csv::{CsvSchema, Mode};
use crate::record::event::{self, Consumer, Event, RunFinished, RunStarted};
use crate::record::layout::numbered_run_id;
use crate::record::{
    EngineInfo, Executed, Manifest, ManifestInput, ManifestOptions, RecordError, Recorder, Role,
    RunLayout, Utilisation,
};

pub use context::{Counts, RunOptions};
use context::{Ctx, Outputs};
pub use exec::launcher::{Job, Server, Stamp};

/// What to run: a fresh plan, or a run to resume.
#[derive(Debug)]
pub enum Target {
    Fresh(Box<Plan>),
    /// A run id under `<results_dir>/raw_output/`, or `latest`.
    Resume {
        id: String,
        results_dir: Utf8PathBuf,
    },
}

/// How a run ended.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    pub run_id: String,
    pub cells: usize,
    /// Counts of the whole run: cells finished before a resume and now.
    pub counts: Counts,
    /// Cells already finished when this session began (a resume).
    pub done_before: usize,
    pub interrupted: bool,
    pub wall_s: f64,
    /// Of `wall_s`, before the first group: pre-flight, manifest, claiming
    /// the run folder.
    pub setup_s: f64,
    /// Wall time after the setup not spent waiting on engine processes, per
    /// cell run.
    pub overhead_per_cell_ms: f64,
    pub csv: String,
    pub run_dir: String,
}

impl Summary {
    /// 0 all cells ok (or skipped/pruned), 1 some failed, 130 interrupted.
    pub fn exit_code(&self) -> i32 {
        if self.interrupted {
            crate::exit::EXIT_INTERRUPTED
        } else if self.counts.failed > 0 {
            crate::exit::EXIT_FAILED
        } else {
            0
        }
    }
}

/// Run (or resume) a plan with real processes and the system clock.
/// `root` is the project root (model configs are staged from there). Every
/// event goes to the recorder first, then to `consumers` in order.
pub fn run(
    root: &Utf8Path,
    target: Target,
    opts: RunOptions,
    consumers: Vec<Box<dyn Consumer>>,
) -> Result<Summary, Error> {
    let clock = SystemClock::new();
    run_with(root, target, opts, consumers, &mut RealLauncher, &clock)
}

/// [`run`] with the processes started by `launcher` and the time read from
/// `clock`: [`fake::FakeLauncher`] and [`fake::FakeClock`] run a plan in
/// process, deterministically, for tests and benchmarks.
pub fn run_with(
    root: &Utf8Path,
    target: Target,
    opts: RunOptions,
    consumers: Vec<Box<dyn Consumer>>,
    launcher: &mut dyn Launcher,
    clock: &dyn Clock,
) -> Result<Summary, Error> {
    let started = clock.now();
    let mut opts = opts;
    let stop = exec::install_signals()?;
    let mut target = target;
    if let Target::Fresh(plan) = &mut target {
        // Bad input, and an environment in which every launch would fail,
        // are reported before anything is written.
        check_select_metrics(plan)?;
        preflight(root, plan, &opts, launcher)?;
    }
    let resumed = matches!(target, Target::Resume { .. });
    let (mut plan, layout, recorder, done) = open(root, target, &mut opts)?;
    if resumed {
        preflight(root, &mut plan, &opts, launcher)?;
    }
    let schema = recorder_schema(&plan);
    let cells = plan.cell_count();
    let mut ctx = Ctx {
        run_id: plan.run_id.clone(),
        layout,
        schema,
        out: Outputs {
            recorder,
            consumers,
        },
        stop,
        opts,
        counts: Counts::default(),
        started,
        launcher,
        clock,
        varying: plan.varying_axes(),
        cells,
        index: done,
        current: None,
        group_index: 0,
        groups: plan.groups.len(),
        attempt: 0,
    };
    // Pre-flight, the manifest (git, GPUs, versions) and claiming the run
    // folder: once per run, so not part of the per-cell overhead.
    let setup = clock.now().since(started);
    let mut modes: Vec<String> = Vec::new();
    for g in &plan.groups {
        if !modes.contains(&g.mode) {
            modes.push(g.mode.clone());
        }
    }
    ctx.emit(Event::RunStarted(RunStarted {
        format: event::FORMAT,
        run_id: plan.run_id.clone(),
        run_dir: ctx.layout.run_dir().to_string(),
        csv: ctx.layout.csv().to_string(),
        resumed,
        groups: plan.groups.len(),
        cells,
        done_before: done,
        varying: ctx.varying.clone(),
        modes,
    }))?;
    for w in &plan.warnings {
        ctx.warn(None, w.clone())?;
    }
    for (i, group) in plan.groups.iter().enumerate() {
        if ctx.stop.is_stopping() {
            break;
        }
        let todo: Vec<&PlanCell> = group
            .cells
            .iter()
            .filter(|c| !ctx.out.recorder.is_done(&c.id))
            .collect();
        if todo.is_empty() {
            continue;
        }
        ctx.group_index = i + 1;
        ctx.attempt = 0;
        run_group(root, &mut ctx, group, todo, plan.profile.is_some())?;
    }
    // The whole run's counts, from the journal: cells finished before a
    // resume count as much as those finished now.
    let journal = ctx.out.recorder.done();
    let finished = journal.len();
    let whole = Counts::of(journal.values().map(|e| e.status));
    ctx.counts.ok = whole.ok;
    ctx.counts.failed = whole.failed;
    ctx.counts.skipped = whole.skipped;
    ctx.counts.pruned = whole.pruned;
    ctx.counts.not_run = cells.saturating_sub(finished);
    let wall = ctx.now().since(ctx.started);
    let ran = finished.saturating_sub(done).max(1);
    let overhead = wall.saturating_sub(setup).saturating_sub(ctx.counts.busy);
    let summary = Summary {
        run_id: ctx.run_id.clone(),
        cells,
        done_before: done,
        interrupted: ctx.stop.is_stopping(),
        wall_s: wall.as_secs_f64(),
        setup_s: setup.as_secs_f64(),
        overhead_per_cell_ms: overhead.as_secs_f64() * 1e3 / ran as f64,
        csv: ctx.layout.csv().to_string(),
        run_dir: ctx.layout.run_dir().to_string(),
        counts: ctx.counts.clone(),
    };
    let c = &summary.counts;
    ctx.emit(Event::RunFinished(RunFinished {
        run_id: summary.run_id.clone(),
        cells,
        counts: event::Counts {
            ok: c.ok,
            failed: c.failed,
            skipped: c.skipped,
            pruned: c.pruned,
            not_run: c.not_run,
        },
        done_before: done,
        launches: c.launches,
        interrupted: summary.interrupted,
        wall_s: summary.wall_s,
        overhead_per_cell_ms: summary.overhead_per_cell_ms,
        csv: summary.csv.clone(),
        run_dir: summary.run_dir.clone(),
        summary: ctx.layout.run_dir().join("summary.json").to_string(),
        setup_s: summary.setup_s,
    }))?;
    Ok(summary)
}

/// Stage the model, then run the group's unfinished cells by mode;
/// `profiled` (the plan has `profile`): each cell runs its planned nsys
/// passes.
fn run_group(
    root: &Utf8Path,
    ctx: &mut Ctx,
    group: &Group,
    todo: Vec<&PlanCell>,
    profiled: bool,
) -> Result<(), Error> {
    let config = root.join(&group.model_dir.source);
    let dir = Utf8PathBuf::from(&group.model_dir.dir);
    stage::stage_model(&config, &dir).map_err(|source| Error::Io {
        context: format!("cannot stage {} into {dir}", group.model_dir.source),
        source,
    })?;
    std::fs::create_dir_all(ctx.group_dir(group)).map_err(|source| Error::Io {
        context: format!("cannot create {}", ctx.group_dir(group)),
        source,
    })?;
    if let Some(rank) = worker::worker_rank(group) {
        return worker::run_group(ctx, group, rank);
    }
    let spec = crate::model::ModelSpec::from_file(&dir.join("config.json")).ok();
    let gpu = gpu_name(ctx, group);
    // GPU count from the launch argv's sizes; unknown sizes: no MFU/MBU.
    let gpus = group
        .gpu_count()
        .map(|n| u32::try_from(n).unwrap_or(u32::MAX));
    let util = spec
        .as_ref()
        .zip(gpus)
        .and_then(|(s, n)| Utilisation::new(s, gpu.as_deref(), n));
    match group.exec {
        Exec::Process => latency::run_group(ctx, group, todo, util.as_ref(), profiled),
        // A launched server measured by one client per cell.
        Exec::Server => serving::run_group(ctx, group, todo, util.as_ref(), profiled),
    }
}

/// The accelerator for MFU/MBU: for the simulator the GPU it simulated
/// (its `sim_gpu`, which `--gpu` set at planning; default h100), so a resumed
/// run's numbers still match what ran; else `--gpu`, or the first GPU
/// nvidia-smi/rocm-smi reports.
fn gpu_name(ctx: &Ctx, group: &Group) -> Option<String> {
    if group.engine == "sim" {
        let g = group
            .server
            .get("sim_gpu")
            .and_then(|v| v.as_str())
            .unwrap_or("h100");
        return Some(g.to_string());
    }
    if let Some(g) = &ctx.opts.gpu {
        return Some(g.clone());
    }
    detected_gpu()
}

/// The first GPU nvidia-smi/rocm-smi reports, as a known GPU name.
fn detected_gpu() -> Option<String> {
    let detected = crate::record::manifest::detect_gpus();
    let name = detected.first()?.name.to_ascii_lowercase();
    crate::model::gpus()
        .iter()
        .map(|g| g.name.to_ascii_lowercase())
        .find(|g| name.contains(g.split(['-', ' ']).next().unwrap_or(g)))
}

/// Pre-flight of the environment ([`crate::exec::preflight`]): programs
/// (with the env their spawn gets), nsys, ports; then real engines' GPU memory, a warning recorded on the
/// plan, when the GPU is known (`--gpu` or detected).
fn preflight(
    root: &Utf8Path,
    plan: &mut Plan,
    opts: &RunOptions,
    launcher: &mut dyn Launcher,
) -> Result<(), Error> {
    launcher.preflight(plan)?;
    if plan.groups.iter().any(|g| g.engine != "sim") {
        if let Some(gpu) = opts.gpu.clone().or_else(detected_gpu) {
            // A resumed plan already holds the warnings of its first start.
            for w in crate::plan::preflight::memory_warnings(plan, root, &gpu) {
                if !plan.warnings.contains(&w) {
                    plan.warnings.push(w);
                }
            }
        }
    }
    Ok(())
}

/// Open the records of a fresh or resumed run; the number of cells already
/// done. A fresh run claims its run folder; when a run started in the same
/// second took the id, the next one (`<timestamp>-2_<name>`, ...) is tried,
/// without waiting. A resume takes `--gpu` from the manifest and the
/// profile passes from its plan (see docs/RESULTS.md).
fn open(
    root: &Utf8Path,
    target: Target,
    opts: &mut RunOptions,
) -> Result<(Plan, RunLayout, Recorder, usize), Error> {
    match target {
        Target::Fresh(mut plan) => {
            let run_dir = Utf8PathBuf::from(&plan.run_dir);
            let results = run_dir
                .parent()
                .and_then(Utf8Path::parent)
                .unwrap_or(root)
                .to_owned();
            let mut manifest = Manifest::collect(ManifestInput {
                run_id: &plan.run_id,
                created_at: jiff::Timestamp::now(),
                argv: opts.argv.clone(),
                cwd: root,
                engines: engines(&plan),
                plan: &plan,
                env_vars: opts.env_vars.clone(),
                options: ManifestOptions {
                    gpu: opts.gpu.clone(),
                    ..ManifestOptions::default()
                },
            });
            let base = plan.run_id.clone();
            let schema = recorder_schema(&plan);
            let mut n = 1;
            loop {
                let layout = RunLayout::new(results.clone(), plan.run_id.clone());
                match Recorder::create(&layout, schema.clone(), &manifest) {
                    Ok(recorder) => return Ok((*plan, layout, recorder, 0)),
                    Err(RecordError::RunExists { .. }) if n < MAX_SAME_SECOND => {
                        n += 1;
                        plan.rename_run(&numbered_run_id(&base, n));
                        manifest.run_id = plan.run_id.clone();
                        manifest.plan = serde_json::to_value(&*plan).unwrap_or_default();
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Target::Resume { id, results_dir } => {
            let id = if id == "latest" {
                crate::record::latest(&results_dir)?.ok_or_else(|| Error::Io {
                    context: format!("no run to resume under {results_dir}/raw_output"),
                    source: std::io::Error::other("no runs"),
                })?
            } else {
                id
            };
            let layout = RunLayout::new(results_dir, id);
            let manifest = Manifest::read(&layout.manifest())?;
            let mut plan: Plan = serde_json::from_value(manifest.plan).map_err(|e| Error::Io {
                context: format!(
                    "the manifest of {} does not hold a plan this matrix can read",
                    layout.run_id()
                ),
                source: std::io::Error::other(e),
            })?;
            opts.gpu = manifest.options.gpu;
            // A manifest of a version whose plan did not carry its profile
            // passes: build them once, so the plan is what runs.
            if let (None, Some(names)) = (&plan.profile, &manifest.options.legacy_profile) {
                let phases: Vec<_> = names
                    .iter()
                    .filter_map(|n| profile::phases(n))
                    .flatten()
                    .collect();
                profile::apply(&mut plan, &phases)?;
            }
            let (recorder, report) = Recorder::resume(&layout, recorder_schema(&plan))?;
            Ok((plan, layout, recorder, report.done))
        }
    }
}

/// Runs started in one second under one name that can get distinct ids.
const MAX_SAME_SECOND: u32 = 1000;

/// `select_metric` must name a metric the results carry; say so before any
/// server starts rather than after the first cell.
fn check_select_metrics(plan: &Plan) -> Result<(), Error> {
    for g in plan.groups.iter().filter(|g| g.mode == "serving") {
        for c in &g.cells {
            let name = c
                .workload
                .get("select_metric")
                .and_then(|v| v.as_str())
                .unwrap_or("median_e2e_latency_ms");
            if !serving::metric_known(name) {
                return Err(crate::config::ConfigError::InvalidValue {
                    origin: crate::config::yaml::Origin { file: "workload.select_metric".into(), location: None },
                    key: "select_metric".into(),
                    expected: format!(
                        "a serving metric such as median_e2e_latency_ms, p99_ttft_ms, mean_itl_ms or output_throughput, got `{name}`"
                    ),
                }
                .into());
            }
        }
    }
    Ok(())
}

fn recorder_schema(plan: &Plan) -> CsvSchema {
    let mut modes = Vec::new();
    for g in &plan.groups {
        let m = if g.mode != "serving" {
            Mode::Latency
        } else {
            Mode::Serving
        };
        if !modes.contains(&m) {
            modes.push(m);
        }
    }
    CsvSchema::new(&modes, &plan.axes)
}

/// Each engine's version as planning probed it (`null` with the reason
/// when it was not known).
fn engines(plan: &Plan) -> Vec<EngineInfo> {
    let mut out: Vec<EngineInfo> = Vec::new();
    for g in &plan.groups {
        if !out.iter().any(|e| e.name == g.engine) {
            let (version, reason) = match plan.engine_versions.get(&g.engine) {
                Some(v) => (v.version.clone(), v.reason.clone()),
                None => (None, Some("the plan has no version probe result".into())),
            };
            out.push(EngineInfo {
                name: g.engine.clone(),
                version,
                reason,
            });
        }
    }
    out
}

impl Ctx<'_> {
    /// Record a process about to be spawned in `commands.jsonl` (exactly
    /// the argv, environment and CPUs of `spec`). Every spawn of the run
    /// goes through here first.
    pub(crate) fn executed(
        &mut self,
        group: &Group,
        cell: Option<&PlanCell>,
        role: Role,
        spec: &exec::Spec,
    ) -> Result<(), Error> {
        let text = |s: &std::ffi::OsString| s.to_string_lossy().into_owned();
        let argv: Vec<String> = spec.argv.iter().map(text).collect();
        let env = spec.env.iter().map(|(k, v)| (text(k), text(v))).collect();
        let e = Executed::now(
            &group.id,
            cell.map(|c| c.id.as_str()),
            role,
            &argv,
            &env,
            spec.cpus.as_deref(),
        );
        Ok(self.out.recorder.executed(&e)?)
    }
}

/// Default grace period between SIGTERM and SIGKILL.
pub const GRACE: Duration = Duration::from_secs(10);
