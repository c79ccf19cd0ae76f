//! Nsight Systems capture of one phase: the launch is wrapped in
//! `nsys profile` with capture limited to the CUDA profiler range, and the
//! engine is told to open that range only around the chosen phase.
//!
//! One pass per phase: prefill and decode are captured by separate
//! launches so each artifact holds exactly one phase.

use camino::{Utf8Path, Utf8PathBuf};

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
