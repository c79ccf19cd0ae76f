//! `sglang.benchmark.one_batch`'s own flags (`BenchArgs`), with its defaults.

use super::args::{self, RawArgs};
use super::error::SimError;

/// Flags one-batch reads on top of the server flags.
pub const KNOWN: &[&str] = &[
    "--run-name",
    "--batch-size",
    "--input-len",
    "--output-len",
    "--result-filename",
    "--log-decode-step",
    "--profile",
    "--profile-activities",
    "--profile-stage",
    "--profile-prefix",
    "--profile-filename-prefix",
    "--profile-start-step",
    "--profile-steps",
];

const ACTIVITIES: &[&str] = &["CPU", "GPU", "CUDA_PROFILER", "XPU"];
const STAGES: &[&str] = &["all", "prefill", "decode"];

#[derive(Debug, Clone)]
pub struct BenchArgs {
    pub run_name: String,
    pub batch_size: Vec<u64>,
    pub input_len: Vec<u64>,
    pub output_len: Vec<u64>,
    /// Empty means: write no result file (SGLang skips it too).
    pub result_filename: String,
    pub log_decode_step: u64,
    pub profile: bool,
    pub profile_activities: Vec<String>,
    pub profile_stage: String,
    pub profile_start_step: Option<u64>,
    pub profile_steps: Option<u64>,
}

impl BenchArgs {
    pub fn from_raw(raw: &RawArgs) -> Result<Self, SimError> {
        Ok(BenchArgs {
            run_name: raw.str(&["--run-name"])?.unwrap_or("default").to_string(),
            batch_size: raw
                .list(&["--batch-size"], args::positive)?
                .unwrap_or(vec![1]),
            input_len: raw
                .list(&["--input-len"], args::positive)?
                .unwrap_or(vec![1024]),
            output_len: raw
                .list(&["--output-len"], args::positive)?
                .unwrap_or(vec![16]),
            result_filename: raw
                .str(&["--result-filename"])?
                .unwrap_or("result.jsonl")
                .to_string(),
            log_decode_step: raw
                .parsed(&["--log-decode-step"], args::non_negative)?
                .unwrap_or(0),
            profile: raw.has(&["--profile"]),
            profile_activities: raw
                .list(&["--profile-activities"], choice(ACTIVITIES))?
                .unwrap_or_else(|| vec!["CPU".into(), "GPU".into()]),
            profile_stage: raw
                .parsed(&["--profile-stage"], choice(STAGES))?
                .unwrap_or_else(|| "all".into()),
            profile_start_step: raw.parsed(&["--profile-start-step"], args::non_negative)?,
            profile_steps: raw.parsed(&["--profile-steps"], args::non_negative)?,
        })
    }

    /// Whether the CUDA profiler API (the nsys capture range) is in use.
    pub fn cuda_profiler(&self) -> bool {
        self.profile_activities.iter().any(|a| a == "CUDA_PROFILER")
    }
}

fn choice(allowed: &'static [&'static str]) -> impl Fn(&str) -> Result<String, String> {
    move |raw| {
        if allowed.contains(&raw) {
            Ok(raw.to_string())
        } else {
            Err(format!(
                "invalid choice (choose from {})",
                allowed.join(", ")
            ))
        }
    }
}
