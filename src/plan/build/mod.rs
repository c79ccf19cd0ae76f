//! Building the plan: render every launch and client command, group cells,
//! check every flag. Pure: nothing is spawned or written.
//!
//! This file expands the matrix, names the run and its paths, and holds the
//! per-engine `Planner`; the nouns live next door: `groups.rs` (cells
//! bucketed into one launch each), `launch.rs` (a group's launch command,
//! server flags, readiness and admin calls), `cells.rs` (each cell's client
//! command and results file).

mod cells;
mod groups;
mod launch;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use camino::{Utf8Path, Utf8PathBuf};
use indexmap::IndexMap;
use minijinja::value::Value as Mj;
use serde_json::Value;

use crate::config::engine::EngineProfile;
use crate::config::yaml::Origin;
use crate::matrix::scope;
use crate::matrix::{Cell, Setup};
use crate::matrix::{ExpandInput, expand};
use crate::plan::PlanError;
use crate::plan::model::*;
use crate::plan::source::{self, EngineFlags, Preference};

/// What planning needs beyond the matrix.
#[derive(Debug, Clone)]
pub struct PlanInput {
    pub expand: ExpandInput,
    pub ip: Option<String>,
    pub rank: Option<u32>,
    pub run_name: Option<String>,
    /// The `matrix` executable, for templates (`{{ matrix_exe }}`).
    pub matrix_exe: String,
    /// Run id timestamp, `YYYYMMDD-HHMMSS`.
    pub timestamp: String,
    pub flags: Preference,
}

const RUN_DIR: &str = "@RUN_DIR@";

const GROUP: &str = "@GROUP@";

/// Expand, render, group and check.
pub fn build(input: &PlanInput) -> Result<Plan, PlanError> {
    let root = &input.expand.root;
    let exp = expand(&input.expand)
        .map_err(|e| crate::plan::flat::explain(e.into(), root, input.flags))?;
    let run_id = run_id(input, &exp.cells);
    let results_dir = exp.cells[0]
        .setup
        .resolved
        .sections
        .run
        .get("results_dir")
        .and_then(Value::as_str)
        .unwrap_or("results")
        .to_string();
    let run_dir = absolute(root, &results_dir)
        .join("raw_output")
        .join(&run_id);

    let mut engines: IndexMap<String, (EngineProfile, EngineFlags)> = IndexMap::new();
    for cell in &exp.cells {
        let name = &cell.setup.choices.engine;
        if !engines.contains_key(name) {
            let profile = EngineProfile::load(root, name)?;
            let flags = source::load(&profile, input.flags)?;
            engines.insert(name.clone(), (profile, flags));
        }
    }
    let mut groups = Vec::new();
    for (name, (profile, flags)) in &engines {
        let cells: Vec<&Cell> = exp
            .cells
            .iter()
            .filter(|c| &c.setup.choices.engine == name)
            .collect();
        let env = scope::environment();
        let mut planner = Planner::new(input, profile, flags, root, &env)?;
        groups.extend(planner.groups(&cells)?);
    }
    let dir = run_dir.to_string();
    for g in &mut groups {
        finish_paths(g, &dir);
    }
    Ok(Plan {
        run_id,
        run_dir: dir,
        matrix: exp.matrix.as_ref().map(|m| m.file.display.clone()),
        bsz_seq: exp.bsz_seq.clone(),
        axes: exp.axes.clone(),
        flag_tables: engines
            .iter()
            .map(|(n, (_, f))| {
                let mut s = f.server.source.clone();
                if let Some(l) = &f.latency {
                    s.push_str(&format!("; latency: {}", l.source));
                }
                (n.clone(), s)
            })
            .collect(),
        engine_versions: engines
            .iter()
            .map(|(n, (_, f))| {
                let v = if n == "sim" {
                    // Built in: the simulator is this matrix.
                    EngineVersion {
                        version: Some(format!("matrix {}", env!("CARGO_PKG_VERSION"))),
                        reason: None,
                    }
                } else {
                    f.version.clone()
                };
                (n.clone(), v)
            })
            .collect(),
        groups,
        pruned: exp.pruned,
        excluded: exp.excluded,
        warnings: Vec::new(),
        profile: None,
    })
}

fn absolute(root: &Utf8Path, p: &str) -> Utf8PathBuf {
    let p = Utf8Path::new(p);
    if p.is_absolute() {
        p.to_owned()
    } else {
        root.join(p)
    }
}

/// `20261122-153000_qwen_2l`: sorts by time and says what ran.
fn run_id(input: &PlanInput, cells: &[Cell]) -> String {
    let name = match &input.run_name {
        Some(n) => n.clone(),
        None => {
            let mut parts: Vec<String> = Vec::new();
            for c in cells {
                let p = format!("{}_{}", c.setup.choices.model, c.setup.choices.mconf);
                if !parts.contains(&p) {
                    parts.push(p);
                }
            }
            if parts.len() > 3 {
                parts.truncate(3);
                parts.push("more".into());
            }
            parts.join("+")
        }
    };
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_+.".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("{}_{clean}", input.timestamp)
}

/// Replace the placeholders once the group ids are known.
fn finish_paths(g: &mut Group, run_dir: &str) {
    let id = g.id.clone();
    let fix_id = |s: &mut String| {
        if s.contains('@') {
            *s = s.replace(RUN_DIR, run_dir).replace(GROUP, &id);
        }
    };
    g.launch.argv.iter_mut().for_each(fix_id);
    g.launch.env.values_mut().for_each(fix_id);
    fix_id(&mut g.model_dir.dir);
    if let Some(r) = &mut g.results {
        fix_id(&mut r.file);
    }
    for c in &mut g.cells {
        if let Some(cl) = &mut c.client {
            cl.argv.iter_mut().for_each(fix_id);
            cl.env.values_mut().for_each(fix_id);
        }
        if let Some(r) = &mut c.results {
            fix_id(&mut r.file);
        }
    }
}

/// Renders the groups of one engine.
struct Planner<'a> {
    input: &'a PlanInput,
    profile: &'a EngineProfile,
    flags: &'a EngineFlags,
    root: &'a Utf8Path,
    env: &'a minijinja::Environment<'a>,
    vars: BTreeMap<String, Mj>,
    /// Server flags (+ dist flags) per setup, rendered once.
    rendered: HashMap<*const Setup, Arc<Flags>>,
    /// Setups that render the same launch share a class number.
    classes: HashMap<*const Setup, usize>,
    class_ids: HashMap<String, usize>,
    /// Parsed config.json per model variant (`{{ model_config.vocab_size }}`).
    configs: HashMap<Utf8PathBuf, Mj>,
}

/// Rendered server flags and multi-node flags of a setup.
type Flags = (Vec<String>, Vec<String>);

/// (launch class, bsz_seq line, output length).
type BucketKey = (usize, Option<usize>, Option<u64>);

impl<'a> Planner<'a> {
    fn new(
        input: &'a PlanInput,
        profile: &'a EngineProfile,
        flags: &'a EngineFlags,
        root: &'a Utf8Path,
        env: &'a minijinja::Environment<'a>,
    ) -> Result<Self, PlanError> {
        let vars = render_vars(env, profile, input)?;
        Ok(Planner {
            input,
            profile,
            flags,
            root,
            env,
            vars,
            rendered: HashMap::new(),
            classes: HashMap::new(),
            class_ids: HashMap::new(),
            configs: HashMap::new(),
        })
    }
}

/// Render the profile's `vars:` in order; each may use the earlier ones,
/// `matrix_exe` and `engine`.
fn render_vars(
    env: &minijinja::Environment<'_>,
    profile: &EngineProfile,
    input: &PlanInput,
) -> Result<BTreeMap<String, Mj>, PlanError> {
    let mut vars: BTreeMap<String, Mj> = BTreeMap::new();
    vars.insert("matrix_exe".into(), Mj::from(input.matrix_exe.as_str()));
    vars.insert("engine".into(), Mj::from(profile.name.as_str()));
    // The project root, for files named relative to it (workload.dataset_path).
    vars.insert("root".into(), Mj::from(input.expand.root.as_str()));
    for (k, v) in &profile.vars {
        let origin = profile.origin(&format!("vars.{k}"));
        let rendered = render_json(env, v, &Mj::from(vars.clone()), &origin)?;
        vars.insert(k.clone(), scope::to_mj(&rendered));
    }
    Ok(vars)
}

fn render_json(
    env: &minijinja::Environment<'_>,
    v: &Value,
    ctx: &Mj,
    origin: &Origin,
) -> Result<Value, PlanError> {
    Ok(match v {
        Value::String(s) if s.contains("{{") || s.contains("{%") => {
            Value::String(env.render_str(s, ctx).map_err(|e| PlanError::Template {
                origin: origin.clone(),
                template: s.clone(),
                message: crate::matrix::jinja_message(&e, s, Some(ctx)),
            })?)
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|x| render_json(env, x, ctx, origin))
                .collect::<Result<_, _>>()?,
        ),
        other => other.clone(),
    })
}

pub(super) fn shown(root: &Utf8Path, p: &Utf8Path) -> String {
    p.strip_prefix(root)
        .map(|r| r.to_string())
        .unwrap_or_else(|_| p.to_string())
}

/// [`crate::plan::bsz_seq_lists`] of planned cells.
pub(super) fn lists<'a>(cells: impl Iterator<Item = &'a Cell>) -> (Vec<u64>, Vec<u64>) {
    crate::plan::bsz_seq_lists(cells.map(|c| (c.workload_u64("bsz"), c.workload_u64("seq"))))
}
