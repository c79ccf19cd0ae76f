//! The plan: groups of cells with their exact command lines.

use std::sync::Arc;

use indexmap::IndexMap;
use serde::Serialize;
use serde_json::Value;

use crate::config::JsonMap;
use crate::matrix::Pruned;

/// Everything `matrix plan` prints and `matrix run` executes.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Plan {
    pub run_id: String,
    pub run_dir: String,
    pub matrix: Option<String>,
    pub bsz_seq: Option<String>,
    pub axes: Vec<String>,
    /// Where each engine's flags were checked against.
    pub flag_tables: IndexMap<String, String>,
    /// Each engine's version as its probe reported it while planning
    /// (absent in plans of older versions).
    #[serde(default)]
    pub engine_versions: IndexMap<String, EngineVersion>,
    pub groups: Vec<Group>,
    pub pruned: Vec<Pruned>,
    pub excluded: usize,
    pub warnings: Vec<String>,
    /// Phases captured with Nsight Systems (`--profile`); each cell then
    /// holds its passes' exact nsys command lines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<Vec<String>>,
}

impl Plan {
    pub fn cell_count(&self) -> usize {
        self.groups.iter().map(|g| g.cells.len()).sum()
    }

    /// The axes whose value differs between cells of the plan, in the
    /// plan's axis order: the names cells are labelled by. A value absent
    /// from a cell counts as a value of its own.
    pub fn varying_axes(&self) -> Vec<String> {
        // The `bsz_seq` axis (bsz_seq.csv) gives each cell two values.
        let names: Vec<&str> = self
            .axes
            .iter()
            .flat_map(|a| match a.as_str() {
                "bsz_seq" => vec!["bsz", "seq"],
                other => vec![other],
            })
            .collect();
        let mut cells = self.groups.iter().flat_map(|g| g.cells.iter());
        let Some(first) = cells.next() else {
            return Vec::new();
        };
        let mut differs = vec![false; names.len()];
        for c in cells {
            for (i, a) in names.iter().enumerate() {
                if !differs[i] && c.axes.get(*a) != first.axes.get(*a) {
                    differs[i] = true;
                }
            }
        }
        names
            .into_iter()
            .zip(differs)
            .filter(|(_, d)| *d)
            .map(|(a, _)| a.to_string())
            .collect()
    }

    /// Give the plan another run id (a run started in the same second took
    /// this one): the run folder becomes `<same parent>/<run_id>` in every
    /// path and command line that named it, the profile passes' included
    /// (`raw_output/<id>` and `<model>_profile/<id>`).
    pub fn rename_run(&mut self, run_id: &str) {
        use super::profile::profile_dir_of;
        let old = self.run_dir.clone();
        let new = match old.rsplit_once('/') {
            Some((parent, _)) => format!("{parent}/{run_id}"),
            None => run_id.to_string(),
        };
        let fix = |s: &mut String| {
            if s.contains(old.as_str()) {
                *s = s.replace(old.as_str(), &new);
            }
        };
        for g in &mut self.groups {
            let old_prof = profile_dir_of(&old, &self.run_id, &g.model).to_string();
            let new_prof = profile_dir_of(&new, run_id, &g.model).to_string();
            let fix_pass = |s: &mut String| {
                fix(s);
                if s.contains(old_prof.as_str()) {
                    *s = s.replace(old_prof.as_str(), &new_prof);
                }
            };
            for c in &mut g.cells {
                for pass in &mut c.profile {
                    pass.argv.iter_mut().for_each(fix_pass);
                }
            }
            g.launch.argv.iter_mut().for_each(fix);
            g.launch.env.values_mut().for_each(fix);
            fix(&mut g.model_dir.dir);
            if let Some(r) = &mut g.results {
                fix(&mut r.file);
            }
            for c in &mut g.cells {
                if let Some(cl) = &mut c.client {
                    cl.argv.iter_mut().for_each(fix);
                    cl.env.values_mut().for_each(fix);
                }
                if let Some(r) = &mut c.results {
                    fix(&mut r.file);
                }
            }
        }
        self.run_id = run_id.to_string();
        self.run_dir = new;
    }
}

/// An engine's version: what its probe printed, or `null` and why not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct EngineVersion {
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Cells that share one launch.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Group {
    pub id: String,
    pub engine: String,
    pub mode: String,
    /// One process measuring every cell, or a server with a client per cell.
    pub exec: crate::config::engine::Exec,
    pub model: String,
    pub mconf: String,
    pub layers: Layers,
    /// bsz_seq.csv line (latency mode).
    pub line: Option<usize>,
    pub launch: Command,
    pub ready: Option<Ready>,
    /// The engine profile's admin calls against this group's server (none
    /// for a group that runs no server).
    #[serde(default)]
    pub admin: Admin,
    pub results: Option<Results>,
    pub model_dir: ModelStage,
    /// Parallel sizes read back from `launch.argv` (the engine profile's
    /// `columns:`; the last occurrence of a flag wins, as in argparse).
    /// `None`: unreadable value, or a profile that does not declare it.
    pub tp: Option<u64>,
    pub ep: Option<u64>,
    pub dp: Option<u64>,
    pub nnodes: Option<u64>,
    /// Merged server settings (before rendering) with their sources.
    pub server: JsonMap,
    pub provenance: IndexMap<String, String>,
    pub run: JsonMap,
    pub cells: Vec<PlanCell>,
}

impl Group {
    /// The values of the `varying` axes that all cells of the group share
    /// (the group's own part of its cells' labels).
    pub fn shared_axes(&self, varying: &[String]) -> IndexMap<String, Value> {
        let mut cells = self.cells.iter();
        let Some(first) = cells.next() else {
            return IndexMap::new();
        };
        let mut out = first.axes_of(varying);
        for c in cells {
            out.retain(|k, v| c.axes.get(k) == Some(v));
        }
        out
    }

    /// GPUs the launch spreads the model over, from the sizes read back from
    /// its argv: tensor parallel × data-parallel replicas, except under
    /// SGLang's DP attention (`--enable-dp-attention`, `--attn-dp-size N`
    /// with N > 1 on the command line), where the dp attention replicas share
    /// the tp GPUs. A tp spanning several nodes already counts them all.
    /// `None` when a size could not be read: no MFU/MBU then, not a guess.
    pub fn gpu_count(&self) -> Option<u64> {
        let (tp, dp) = (self.tp?.max(1), self.dp?.max(1));
        Some(if self.dp_attention() { tp } else { tp * dp })
    }

    /// Does the launch run SGLang's DP attention (`--enable-dp-attention`,
    /// or `--attn-dp-size N` with N > 1, the last occurrence winning)?
    pub fn dp_attention(&self) -> bool {
        let argv = &self.launch.argv;
        let attn_dp_size = argv
            .iter()
            .rposition(|a| a == "--attn-dp-size")
            .and_then(|i| argv.get(i + 1))
            .and_then(|v| v.parse::<u64>().ok());
        argv.iter().any(|a| a == "--enable-dp-attention") || attn_dp_size.is_some_and(|n| n > 1)
    }
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Layers {
    pub base: String,
    pub deploy: Option<String>,
    pub backend: Option<String>,
    pub optional: Option<String>,
}

/// A process to start: argv (never a shell string), extra environment, and
/// the CPUs it may run on (`run.server_cpus` / `run.client_cpus`; absent:
/// wherever the kernel puts it).
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct Command {
    pub argv: Vec<String>,
    pub env: IndexMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<Vec<usize>>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Ready {
    pub url: String,
    pub log: Option<String>,
    pub timeout_s: f64,
}

/// The admin calls a server group may make (`admin:` of the engine
/// profile), with full URLs; an absent call is never made.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, PartialEq)]
pub struct Admin {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flush_cache: Option<AdminCall>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_profile: Option<AdminCall>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_profile: Option<AdminCall>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct AdminCall {
    pub method: crate::config::engine::HttpMethod,
    pub url: String,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Results {
    pub file: String,
    pub format: String,
}

/// The staged model folder: `config_<mconf>.json` presented as config.json.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct ModelStage {
    pub source: String,
    pub dir: String,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct PlanCell {
    pub id: String,
    pub axes: Arc<IndexMap<String, Value>>,
    pub workload: Arc<JsonMap>,
    pub client: Option<Command>,
    pub results: Option<Results>,
    /// `--profile`: one nsys-wrapped launch per phase.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub profile: Vec<super::profile::ProfilePass>,
}

impl PlanCell {
    /// The cell's values of the `varying` axes (those it has), in that order.
    pub fn axes_of(&self, varying: &[String]) -> IndexMap<String, Value> {
        varying
            .iter()
            .filter_map(|a| Some((a.clone(), self.axes.get(a)?.clone())))
            .collect()
    }

    /// `bsz=64 seq=1024`: the cell's values of the `varying` axes as a
    /// person reads them (strings unquoted), in that order; "" when no
    /// axis varies.
    pub fn label(&self, varying: &[String]) -> String {
        label_of(&self.axes_of(varying))
    }
}

/// `k=v k=v` of axis values: the one formatting of a cell's label.
pub fn label_of(axes: &IndexMap<String, Value>) -> String {
    let mut out = String::new();
    for (k, v) in axes {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(k);
        out.push('=');
        match v {
            Value::String(s) => out.push_str(s),
            other => out.push_str(&other.to_string()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(axes: Value) -> PlanCell {
        let Value::Object(m) = axes else {
            unreachable!()
        };
        PlanCell {
            id: "c".into(),
            axes: Arc::new(m.into_iter().collect()),
            workload: Arc::new(JsonMap::new()),
            client: None,
            results: None,
            profile: Vec::new(),
        }
    }

    #[test]
    fn label_names_only_the_varying_axes_in_their_order() {
        let c =
            cell(serde_json::json!({"model": "qwen", "bsz": 64, "seq": 1024, "backend": "fa3"}));
        let varying = [
            "seq".to_string(),
            "bsz".into(),
            "backend".into(),
            "absent".into(),
        ];
        assert_eq!(c.label(&varying), "seq=1024 bsz=64 backend=fa3");
        assert_eq!(c.label(&[]), "");
        let rate = cell(serde_json::json!({"request_rate": 8.5}));
        assert_eq!(rate.label(&["request_rate".into()]), "request_rate=8.5");
    }
}
