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

use std::collections::HashMap;

use super::PlanError;
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

/// Why a cell of a profiled plan is recorded as failed when it holds no
/// passes (a plan edited by hand, or the phases and passes disagree).
pub const NO_PASSES: &str = "the plan profiles (--profile) but this cell has no profile passes; plan the run again with --profile";

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

/// `<dir>/<phase>_bsz<b>_seq<s>_<deploy>_<backend>_<cell>` (nsys adds
/// extensions). The cell id keeps apart cells that differ only by what the
/// readable part does not name (mconf, optional layer, output length, a
/// swept server key): nsys `--force-overwrite` would replace one with the
/// other.
pub fn artifact_base(
    dir: &Utf8Path,
    phase: Phase,
    bsz: u64,
    seq: u64,
    deploy: &str,
    backend: &str,
    cell: &str,
) -> Utf8PathBuf {
    dir.join(format!(
        "{}_bsz{bsz}_seq{seq}_{deploy}_{backend}_{cell}",
        phase.name()
    ))
}

/// Where the artifacts of a run go: `<results>/<model>_profile/<run_id>`
/// (`results` is two levels above the plan's run folder, as
/// `record::RunLayout::profile_dir` has it).
pub fn profile_dir(plan: &Plan, model: &str) -> Utf8PathBuf {
    profile_dir_of(&plan.run_dir, &plan.run_id, model)
}

/// [`profile_dir`] of the run folder `run_dir` with id `run_id`.
pub fn profile_dir_of(run_dir: &str, run_id: &str, model: &str) -> Utf8PathBuf {
    let run_dir = Utf8Path::new(run_dir);
    let results = run_dir
        .parent()
        .and_then(Utf8Path::parent)
        .unwrap_or(run_dir);
    results.join(format!("{model}_profile")).join(run_id)
}

/// Give every cell of the plan its profile passes (one per phase, in
/// order) and record the phases on the plan. A one_batch cell runs alone
/// (`--batch-size b --input-len s`) with one_batch's profiler switches; a
/// server cell relaunches the server under nsys for each phase.
///
/// Two passes writing the same artifact (nsys would silently overwrite
/// the first) are refused.
pub fn apply(plan: &mut Plan, phases: &[Phase]) -> Result<(), PlanError> {
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
    let mut seen: HashMap<String, String> = HashMap::new();
    for cell in plan.groups.iter().flat_map(|g| &g.cells) {
        for pass in &cell.profile {
            let Some(out) = output_of(&pass.argv) else {
                continue;
            };
            if let Some(first) = seen.insert(out.to_string(), cell.id.clone()) {
                return Err(PlanError::DuplicateProfileArtifact {
                    path: out.to_string(),
                    first,
                    second: cell.id.clone(),
                });
            }
        }
    }
    Ok(())
}

/// The artifact base of a pass: the argument after nsys's `-o`.
pub fn output_of(argv: &[String]) -> Option<&str> {
    argv.iter()
        .position(|a| a == "-o")
        .and_then(|i| argv.get(i + 1))
        .map(String::as_str)
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
            let base = artifact_base(dir, phase, b, s, deploy, backend, &cell.id);
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

    const RUN: &str = "20260101-000000_t";

    /// A plan with a latency group (two cells that differ only by output
    /// length) and a serving group, both naming the run folder.
    fn plan(latency_ids: [&str; 2]) -> Plan {
        let raw = format!("results/raw_output/{RUN}");
        let cell = |id: &str, ol: u64| serde_json::json!({"id": id, "axes": {}, "workload": {"bsz": 1, "seq": 16, "output_len": ol}});
        let group = |id: &str, exec: &str, argv: Vec<String>, cells: Vec<serde_json::Value>| {
            serde_json::json!({
                "id": id, "engine": "sim", "mode": "m", "exec": exec, "model": "qwen", "mconf": "2l",
                "layers": {"base": "b", "deploy": "tp1"}, "launch": {"argv": argv, "env": {}},
                "model_dir": {"source": "s", "dir": format!("{raw}/{id}/model")},
                "server": {}, "provenance": {}, "run": {}, "cells": cells,
            })
        };
        let one_batch = [
            "one_batch",
            "--batch-size",
            "1",
            "--input-len",
            "16",
            "--result-filename",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([format!("{raw}/g1/result.jsonl")])
        .collect();
        let server = vec![
            "server".to_string(),
            "--log".into(),
            format!("{raw}/g2/server.log"),
        ];
        serde_json::from_value(serde_json::json!({
            "run_id": RUN, "run_dir": raw, "axes": [], "flag_tables": {}, "pruned": [],
            "excluded": 0, "warnings": [],
            "groups": [
                group("g1", "process", one_batch, vec![cell(latency_ids[0], 4), cell(latency_ids[1], 8)]),
                group("g2", "server", server, vec![cell("c3", 4)]),
            ],
        }))
        .unwrap()
    }

    fn outputs(plan: &Plan) -> Vec<String> {
        let passes = plan
            .groups
            .iter()
            .flat_map(|g| &g.cells)
            .flat_map(|c| &c.profile);
        passes
            .map(|p| output_of(&p.argv).unwrap().to_string())
            .collect()
    }

    #[test]
    fn latency_artifacts_carry_the_cell_id() {
        let mut p = plan(["c1", "c2"]);
        apply(&mut p, &[Phase::Prefill, Phase::Decode]).unwrap();
        let dir = format!("results/qwen_profile/{RUN}");
        assert_eq!(
            outputs(&p),
            [
                format!("{dir}/prefill_bsz1_seq16_tp1_none_c1"),
                format!("{dir}/decode_bsz1_seq16_tp1_none_c1"),
                format!("{dir}/prefill_bsz1_seq16_tp1_none_c2"),
                format!("{dir}/decode_bsz1_seq16_tp1_none_c2"),
                format!("{dir}/prefill_c3_tp1_none"),
                format!("{dir}/decode_c3_tp1_none"),
            ]
        );
    }

    #[test]
    fn two_passes_writing_one_artifact_are_refused() {
        let mut p = plan(["c1", "c1"]);
        let e = apply(&mut p, &[Phase::Decode]).unwrap_err();
        insta::assert_snapshot!(format!("{e}\nhint: {}", e.hint().unwrap()));
    }

    #[test]
    fn rename_run_renames_the_profile_passes() {
        let mut p = plan(["c1", "c2"]);
        apply(&mut p, &[Phase::Prefill, Phase::Decode]).unwrap();
        let new = "20260101-000000-2_t";
        p.rename_run(new);
        let mut passes = 0;
        for c in p.groups.iter().flat_map(|g| &g.cells) {
            for pass in &c.profile {
                passes += 1;
                assert!(
                    !pass.argv.iter().any(|a| a.contains(RUN)),
                    "{:?}",
                    pass.argv
                );
                let out = output_of(&pass.argv).unwrap();
                assert!(
                    out.starts_with(&format!("results/qwen_profile/{new}/")),
                    "{out}"
                );
            }
        }
        assert_eq!(passes, 6);
        // The one_batch passes write results into the new run folder.
        let argv = &p.groups[0].cells[0].profile[0].argv;
        assert!(
            argv.contains(&format!("results/raw_output/{new}/g1/result.jsonl")),
            "{argv:?}"
        );
        // The same passes as planning under the new id would build.
        let mut fresh = plan(["c1", "c2"]);
        fresh.rename_run(new);
        apply(&mut fresh, &[Phase::Prefill, Phase::Decode]).unwrap();
        assert_eq!(outputs(&p), outputs(&fresh));
    }

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
