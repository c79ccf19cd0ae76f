//! `manifest.json`: what a run was — matrix version, command line, host,
//! git commit, GPUs, engine, the whole plan and the relevant environment
//! (secrets masked). Written once at the start, atomically; read on resume.

use std::process::Command;

use camino::Utf8Path;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::RecordError;
use super::recorder::atomic_write;

/// The git state of the working directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitInfo {
    pub commit: String,
    /// Uncommitted changes to tracked or untracked-but-not-ignored files.
    pub dirty: bool,
}

/// One accelerator as the vendor tool names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GpuInfo {
    pub name: String,
    /// As printed (`81559 MiB`); absent when the tool does not say.
    #[serde(default)]
    pub memory: Option<String>,
}

/// The engine that ran the cells.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineInfo {
    pub name: String,
    /// What the engine's version probe printed (planning runs it); `null`
    /// when it was not known, and then `reason` says why. Never a guess.
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Run options that change what a run measures, so a resume keeps them
/// (see docs/RESULTS.md, "Resuming").
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestOptions {
    /// `--gpu`: the accelerator of the MFU/MBU columns.
    #[serde(default)]
    pub gpu: Option<String>,
    /// `--profile` as manifests of older versions recorded it (before the
    /// plan carried its phases and passes): read to resume those runs,
    /// never written. The plan (`plan.profile`, `cells[].profile`) is the
    /// one source of what a run profiles.
    #[serde(default, rename = "profile", skip_serializing)]
    pub legacy_profile: Option<Vec<String>>,
}

/// Everything needed to know what a run was and to resume it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub matrix_version: String,
    pub run_id: String,
    /// RFC 3339.
    pub created_at: String,
    pub argv: Vec<String>,
    pub cwd: String,
    pub host: String,
    pub git: Option<GitInfo>,
    pub gpus: Vec<GpuInfo>,
    pub engines: Vec<EngineInfo>,
    /// `crate::plan::Plan` as `matrix plan --json` prints it.
    pub plan: Value,
    /// Relevant environment, secrets replaced by `***`.
    pub env: IndexMap<String, String>,
    /// Options a resume keeps (absent in manifests of older versions).
    #[serde(default)]
    pub options: ManifestOptions,
    /// `MATRIX_SIM_TIME_SCALE` the simulator groups run at (default 1; the
    /// first sim group's launch env wins over the run's environment); absent
    /// without sim groups or when the value does not parse (the simulator
    /// then refuses to start). Clients report in simulated time whatever it
    /// is (docs/SIM.md, "Time scale").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sim_time_scale: Option<f64>,
}

/// What the caller knows; [`Manifest::collect`] adds what it can find out.
#[derive(Debug, Clone)]
pub struct ManifestInput<'a> {
    pub run_id: &'a str,
    pub created_at: jiff::Timestamp,
    pub argv: Vec<String>,
    pub cwd: &'a Utf8Path,
    pub engines: Vec<EngineInfo>,
    pub plan: &'a crate::plan::Plan,
    /// The process environment (all of it; filtered here).
    pub env_vars: Vec<(String, String)>,
    pub options: ManifestOptions,
}

/// Environment variable prefixes that can change what a run measures.
pub const ENV_PREFIXES: [&str; 12] = [
    "MATRIX_", "SGLANG_", "CUDA_", "NCCL_", "NVIDIA_", "TORCH_", "PYTORCH_", "HF_", "HIP_",
    "ROCM_", "HSA_", "VLLM_",
];

impl Manifest {
    /// Build the manifest, asking git and nvidia-smi / rocm-smi (when
    /// present; their absence is never an error).
    pub fn collect(input: ManifestInput<'_>) -> Manifest {
        let extra: Vec<&str> = input
            .plan
            .groups
            .iter()
            .flat_map(|g| g.launch.env.keys().map(String::as_str))
            .collect();
        Manifest {
            matrix_version: env!("CARGO_PKG_VERSION").to_string(),
            run_id: input.run_id.to_string(),
            created_at: input.created_at.to_string(),
            argv: input.argv,
            cwd: input.cwd.to_string(),
            host: gethostname::gethostname().to_string_lossy().into_owned(),
            git: git_info(input.cwd),
            gpus: detect_gpus(),
            engines: input.engines,
            plan: serde_json::to_value(input.plan).unwrap_or(Value::Null),
            env: relevant_env(&input.env_vars, &extra),
            options: input.options,
            sim_time_scale: sim_time_scale(input.plan, &input.env_vars),
        }
    }

    /// Write as pretty JSON via a temporary file and a rename.
    pub fn write(&self, path: &Utf8Path) -> Result<(), RecordError> {
        let mut text = serde_json::to_string_pretty(self).map_err(|e| RecordError::Manifest {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        text.push('\n');
        atomic_write(path, text.as_bytes())
    }

    pub fn read(path: &Utf8Path) -> Result<Manifest, RecordError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| RecordError::io(format!("cannot read {path}"), e))?;
        serde_json::from_str(&text).map_err(|e| RecordError::Manifest {
            path: path.to_owned(),
            reason: e.to_string(),
        })
    }
}

/// The time scale of the plan's first sim group: its launch env, else the
/// run's environment, else 1.
fn sim_time_scale(plan: &crate::plan::Plan, vars: &[(String, String)]) -> Option<f64> {
    const VAR: &str = "MATRIX_SIM_TIME_SCALE";
    let g = plan.groups.iter().find(|g| g.engine == "sim")?;
    let raw = g
        .launch
        .env
        .get(VAR)
        .or_else(|| vars.iter().find(|(k, _)| k == VAR).map(|(_, v)| v));
    match raw {
        None => Some(1.0),
        Some(v) => v
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s >= 0.0),
    }
}

/// Is this variable name a secret (contains TOKEN, KEY, SECRET or PASSWORD,
/// any case)?
pub fn is_secret(name: &str) -> bool {
    let up = name.to_ascii_uppercase();
    ["TOKEN", "KEY", "SECRET", "PASSWORD"]
        .iter()
        .any(|s| up.contains(s))
}

/// The variables whose name starts with one of [`ENV_PREFIXES`] or is in
/// `extra` (the plan's launch environment), sorted, secrets masked.
pub fn relevant_env(vars: &[(String, String)], extra: &[&str]) -> IndexMap<String, String> {
    let mut out: Vec<(String, String)> = vars
        .iter()
        .filter(|(k, _)| {
            ENV_PREFIXES.iter().any(|p| k.starts_with(p)) || extra.contains(&k.as_str())
        })
        .map(|(k, v)| {
            let v = if is_secret(k) {
                "***".to_string()
            } else {
                v.clone()
            };
            (k.clone(), v)
        })
        .collect();
    out.sort();
    out.dedup_by(|a, b| a.0 == b.0);
    out.into_iter().collect()
}

/// `git rev-parse HEAD` and `git status --porcelain` in `dir`; `None` when
/// git is missing or `dir` is not in a repository.
pub fn git_info(dir: &Utf8Path) -> Option<GitInfo> {
    let run = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
    };
    let commit = run(&["rev-parse", "HEAD"])?.trim().to_string();
    if commit.is_empty() {
        return None;
    }
    let dirty = run(&["status", "--porcelain"]).is_some_and(|s| !s.trim().is_empty());
    Some(GitInfo { commit, dirty })
}

/// GPUs from `nvidia-smi`, else `rocm-smi`; empty when neither works.
pub fn detect_gpus() -> Vec<GpuInfo> {
    let out = |prog: &str, args: &[&str]| {
        Command::new(prog)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
    };
    if let Some(text) = out(
        "nvidia-smi",
        &["--query-gpu=name,memory.total", "--format=csv,noheader"],
    ) {
        return parse_nvidia_smi(&text);
    }
    out("rocm-smi", &["--showproductname"])
        .map(|t| parse_rocm_smi(&t))
        .unwrap_or_default()
}

/// `NVIDIA H100 80GB HBM3, 81559 MiB` per line.
pub fn parse_nvidia_smi(text: &str) -> Vec<GpuInfo> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| match l.rsplit_once(',') {
            Some((name, mem)) => GpuInfo {
                name: name.trim().to_string(),
                memory: Some(mem.trim().to_string()).filter(|m| !m.is_empty()),
            },
            None => GpuInfo {
                name: l.to_string(),
                memory: None,
            },
        })
        .collect()
}

/// `GPU[0] : Card Series: AMD Instinct MI300X` (or `Card series:`) per GPU.
pub fn parse_rocm_smi(text: &str) -> Vec<GpuInfo> {
    text.lines()
        .filter_map(|l| {
            let lower = l.to_ascii_lowercase();
            let at = lower.find("card series:")?;
            let name = l[at + "card series:".len()..].trim();
            (!name.is_empty()).then(|| GpuInfo {
                name: name.to_string(),
                memory: None,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_is_filtered_and_secrets_masked() {
        let vars: Vec<(String, String)> = [
            ("HF_TOKEN", "hf_abc"),
            ("MATRIX_ROOT", "/x"),
            ("SGLANG_api_key", "k"),
            ("NCCL_DEBUG", "INFO"),
            ("HOME", "/root"),
            ("MY_PASSWORD", "p"),
            ("LAUNCH_X", "1"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let env = relevant_env(&vars, &["LAUNCH_X"]);
        assert_eq!(env.get("HF_TOKEN").map(String::as_str), Some("***"));
        assert_eq!(env.get("SGLANG_api_key").map(String::as_str), Some("***"));
        assert_eq!(env.get("NCCL_DEBUG").map(String::as_str), Some("INFO"));
        assert_eq!(env.get("LAUNCH_X").map(String::as_str), Some("1"));
        assert!(!env.contains_key("HOME") && !env.contains_key("MY_PASSWORD"));
        assert_eq!(env.keys().next().map(String::as_str), Some("HF_TOKEN"));
    }

    #[test]
    fn gpu_tool_outputs_parse() {
        let n = parse_nvidia_smi(
            "NVIDIA H100 80GB HBM3, 81559 MiB\nNVIDIA H100 80GB HBM3, 81559 MiB\n",
        );
        assert_eq!(n.len(), 2);
        assert_eq!(n[0].name, "NVIDIA H100 80GB HBM3");
        assert_eq!(n[0].memory.as_deref(), Some("81559 MiB"));
        let r = parse_rocm_smi(
            "============ Product Info ============\n\
             GPU[0]\t\t: Card Series: \t\tAMD Instinct MI300X OAM\n\
             GPU[0]\t\t: Card Vendor: \t\tAdvanced Micro Devices, Inc.\n",
        );
        assert_eq!(
            r,
            [GpuInfo {
                name: "AMD Instinct MI300X OAM".into(),
                memory: None
            }]
        );
    }

    #[test]
    fn git_info_is_none_outside_a_repository() {
        let dir = tempfile::tempdir().unwrap();
        let p = Utf8Path::from_path(dir.path()).unwrap();
        assert_eq!(git_info(p), None);
    }
}
