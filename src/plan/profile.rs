//! Nsight Systems capture of one phase: the launch is wrapped in
//! `nsys profile` with capture limited to the CUDA profiler range, and the
//! engine is told to open that range only around the chosen phase.
//!
//! One pass per phase: prefill and decode are captured by separate
//! launches so each artifact holds exactly one phase.
//!
//! The plan builds every pass's exact argv ([`apply`]): `matrix plan
//! --profile` prints them, the manifest (which embeds the plan) records
//! them, and `matrix run --profile` executes them as planned.

use camino::{Utf8Path, Utf8PathBuf};
use serde::{Deserialize, Serialize};

use crate::config::engine::Exec;

use super::model::{Plan, PlanCell};

/// A phase to capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Prefill,
    Decode,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Prefill => "prefill",
            Phase::Decode => "decode",
        }
    }
}

/// One capture of one cell: the phase and the exact command (nsys wrapping
/// the launch). Artifacts are `<argv after -o>.nsys-rep` and `.sqlite`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ProfilePass {
    pub phase: String,
    pub argv: Vec<String>,
}

impl ProfilePass {
    /// The phase as an enum (`None` for a name this build does not know).
    pub fn phase(&self) -> Option<Phase> {
        match self.phase.as_str() {
            "prefill" => Some(Phase::Prefill),
            "decode" => Some(Phase::Decode),
            _ => None,
        }
    }
}

/// `prefill`, `decode` or `both` → the phases to capture, in order.
pub fn phases(arg: &str) -> Option<Vec<Phase>> {
    match arg {
        "prefill" => Some(vec![Phase::Prefill]),
        "decode" => Some(vec![Phase::Decode]),
        "both" => Some(vec![Phase::Prefill, Phase::Decode]),
        _ => None,
    }
}

/// The `nsys profile ...` prefix writing `<base>.nsys-rep` and `<base>.sqlite`.
pub fn nsys_prefix(base: &Utf8Path) -> Vec<String> {
    [
        "nsys",
        "profile",
        "-t",
        "cuda,nvtx",
        "--trace-fork-before-exec=true",
        "--cuda-graph-trace=node",
        "--capture-range=cudaProfilerApi",
        "--capture-range-end=stop",
        "--export",
        "sqlite",
        "--force-overwrite",
        "true",
        "-o",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain(std::iter::once(base.to_string()))
    .collect()
}

/// one_batch's own switches that open the profiler range around `phase`.
pub fn one_batch_switches(phase: Phase) -> Vec<String> {
    [
        "--profile",
        "--profile-activities",
        "CUDA_PROFILER",
        "--profile-stage",
        phase.name(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// The body of `POST /start_profile` for a server capturing `phase`.
pub fn start_profile_body(phase: Phase) -> String {
    serde_json::json!({
        "activities": ["CUDA_PROFILER"],
        "profile_by_stage": true,
        "profile_stages": [phase.name()],
    })
    .to_string()
}

/// `<dir>/<phase>_bsz<b>_seq<s>_<deploy>_<backend>` (nsys adds extensions).
pub fn artifact_base(
    dir: &Utf8Path,
    phase: Phase,
    bsz: u64,
    seq: u64,
    deploy: &str,
    backend: &str,
) -> Utf8PathBuf {
    dir.join(format!(
        "{}_bsz{bsz}_seq{seq}_{deploy}_{backend}",
        phase.name()
    ))
}

/// Where the artifacts of a run go: `<results>/<model>_profile/<run_id>`
/// (`results` is two levels above the plan's run folder, as
/// `record::RunLayout::profile_dir` has it).
pub fn profile_dir(plan: &Plan, model: &str) -> Utf8PathBuf {
    let run_dir = Utf8Path::new(&plan.run_dir);
    let results = run_dir
        .parent()
        .and_then(Utf8Path::parent)
        .unwrap_or(run_dir);
    results.join(format!("{model}_profile")).join(&plan.run_id)
}

/// Give every cell of the plan its profile passes (one per phase, in
/// order) and record the phases on the plan. A one_batch cell runs alone
/// (`--batch-size b --input-len s`) with one_batch's profiler switches; a
/// server cell relaunches the server under nsys for each phase.
pub fn apply(plan: &mut Plan, phases: &[Phase]) {
    plan.profile = Some(phases.iter().map(|p| p.name().to_string()).collect());
    let dirs: Vec<Utf8PathBuf> = plan
        .groups
        .iter()
        .map(|g| profile_dir(plan, &g.model))
        .collect();
    for (g, dir) in plan.groups.iter_mut().zip(dirs) {
        let deploy = g.layers.deploy.clone().unwrap_or_else(|| "none".into());
        let backend = g.layers.backend.clone().unwrap_or_else(|| "none".into());
        let (exec, launch) = (g.exec, g.launch.argv.clone());
        for cell in &mut g.cells {
            cell.profile = phases
                .iter()
                .map(|&phase| ProfilePass {
                    phase: phase.name().to_string(),
                    argv: pass_argv(exec, &launch, cell, phase, &dir, &deploy, &backend),
                })
                .collect();
        }
    }
}

fn pass_argv(
    exec: Exec,
    launch: &[String],
    cell: &PlanCell,
    phase: Phase,
    dir: &Utf8Path,
    deploy: &str,
    backend: &str,
) -> Vec<String> {
    match exec {
        Exec::Process => {
            let get = |k: &str| cell.workload.get(k).and_then(|v| v.as_u64()).unwrap_or(0);
            let (b, s) = (get("bsz"), get("seq"));
            let base = artifact_base(dir, phase, b, s, deploy, backend);
            let mut argv = nsys_prefix(&base);
            argv.extend(replace_lists(launch, &[b], &[s]));
            argv.extend(one_batch_switches(phase));
            argv
        }
        Exec::Server => {
            let base = dir.join(format!("{}_{}_{deploy}_{backend}", phase.name(), cell.id));
            let mut argv = nsys_prefix(&base);
            argv.extend(launch.iter().cloned());
            argv
        }
    }
}

/// one_batch's argv with the `--batch-size` and `--input-len` lists
/// replaced by `bszs` and `seqs`.
pub fn replace_lists(argv: &[String], bszs: &[u64], seqs: &[u64]) -> Vec<String> {
    let mut out = Vec::with_capacity(argv.len());
    let mut i = 0;
    while i < argv.len() {
        let values = match argv[i].as_str() {
            "--batch-size" => Some(bszs),
            "--input-len" => Some(seqs),
            _ => None,
        };
        out.push(argv[i].clone());
        i += 1;
        if let Some(vs) = values {
            out.extend(vs.iter().map(u64::to_string));
            while i < argv.len() && !argv[i].starts_with("--") {
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nsys_prefix_ends_with_output() {
        let p = nsys_prefix(Utf8Path::new("/r/decode_bsz1_seq128_tp8_none"));
        assert_eq!(p[0], "nsys");
        assert!(p.contains(&"--capture-range=cudaProfilerApi".to_string()));
        assert_eq!(p.last().unwrap(), "/r/decode_bsz1_seq128_tp8_none");
        assert_eq!(phases("both").unwrap().len(), 2);
        assert!(phases("all").is_none());
    }
}
