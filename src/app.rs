//! The library's entry points, one per subcommand, taking plain request
//! types (no clap) and returning what to print.

use std::fmt::Write;

use camino::{Utf8Path, Utf8PathBuf};
use indexmap::IndexMap;
use serde_json::{Value, json};

use crate::Error;
use crate::config::layer::LayerStore;
use crate::config::overrides;
use crate::config::resolve::{LayerNames, resolve};
use crate::config::{MergeInput, Resolved, Section};
use crate::matrix::CliChoices;
use crate::matrix::axis::Choice;
use crate::matrix::expand::shown;
use crate::matrix::file::MatrixFile;
use crate::plan::{self, Plan, PlanInput};

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

/// `matrix plan`, `run` and `show-config` need a project folder: `root`
/// must hold conf/ (else: an error naming `--root` and `MATRIX_ROOT`).
pub fn require_project(root: &Utf8Path) -> Result<(), Error> {
    Ok(plan::preflight::check_project(root).map_err(plan::PlanError::from)?)
}

/// Build the plan for `matrix plan` (and `matrix run`): expand, render,
/// check flags, add the nsys passes of `profile`, then the static
/// pre-flight checks (tokenizer files, simulated GPU memory).
pub fn plan(input: &PlanInput, profile: Option<&[plan::profile::Phase]>) -> Result<Plan, Error> {
    let mut p = plan::build(input)?;
    if let Some(phases) = profile {
        plan::profile::apply(&mut p, phases)?;
    }
    plan::preflight::static_checks(&p, &input.expand.root, &input.matrix_exe)
        .map_err(plan::PlanError::from)?;
    Ok(p)
}

/// What `matrix show-config` needs.
#[derive(Debug, Clone)]
pub struct ShowConfigRequest {
    pub root: Utf8PathBuf,
    pub choices: CliChoices,
    pub matrix: Option<Utf8PathBuf>,
    pub sets: Vec<String>,
    pub env_vars: Vec<(String, String)>,
    pub json: bool,
}

/// The merged settings of one choice of layers, each key with its source.
pub fn show_config(req: &ShowConfigRequest) -> Result<String, Error> {
    let one = |c: Choice| -> Result<Option<String>, Error> {
        match req.choices.values.get(&c).map(Vec::as_slice) {
            Some([v]) => Ok(Some(v.clone())),
            Some([]) | None => Ok(c.default_value().map(str::to_string)),
            Some(_) => Err(crate::config::ConfigError::BadSet {
                arg: format!("--{}", c.name()),
                reason: "show-config shows one configuration: pass one value".into(),
            }
            .into()),
        }
    };
    let engine = one(Choice::Engine)?.unwrap_or_else(|| "sglang".into());
    let base = one(Choice::Base)?.unwrap_or_else(|| "base".into());
    let (deploy, backend, optional) = (
        one(Choice::Deploy)?,
        one(Choice::Backend)?,
        one(Choice::Optional)?,
    );
    let store = LayerStore::new(&req.root);
    let mut later = Vec::new();
    if let Some(m) = &req.matrix {
        let path = if m.is_absolute() {
            m.clone()
        } else {
            req.root.join(m)
        };
        let file = MatrixFile::read(&path, shown(&req.root, m))
            .map_err(|e| crate::plan::flat::explain(e.into(), &req.root, flags_preference(req)))?;
        later.push(MergeInput {
            source: file.file.display.clone(),
            sections: file.set.for_engine(&engine),
        });
    }
    for s in &req.sets {
        later.push(MergeInput::from_override(&overrides::parse_set(s)?));
    }
    for o in overrides::from_env(req.env_vars.iter().cloned())? {
        later.push(MergeInput::from_override(&o));
    }
    let names = LayerNames {
        base: &base,
        deploy: deploy.as_deref(),
        backend: backend.as_deref(),
        optional: optional.as_deref(),
        engine: &engine,
    };
    let resolved = resolve(&store, names, &later)
        .map_err(|e| crate::plan::flat::explain_config(e, &req.root, flags_preference(req)))?;
    let mut header = IndexMap::new();
    if let Some(model) = one(Choice::Model)? {
        let mconf = one(Choice::Mconf)?.unwrap_or_else(|| "full".into());
        let path = crate::config::model_dir::config_path(&req.root, &model, &mconf)?;
        header.insert("model", model);
        header.insert("mconf", mconf);
        header.insert("model_config", rel(&req.root, &path));
    }
    header.insert("engine", engine);
    Ok(if req.json {
        config_json(&header, &resolved)
    } else {
        config_text(&header, &resolved)
    })
}

/// `MATRIX_FLAGS` of the request's environment, as `matrix plan` reads it.
fn flags_preference(req: &ShowConfigRequest) -> crate::plan::source::Preference {
    let v = req.env_vars.iter().find(|(k, _)| k == "MATRIX_FLAGS");
    crate::plan::source::Preference::from_env_value(v.map(|(_, v)| v.as_str()))
}

fn rel(root: &Utf8Path, p: &Utf8Path) -> String {
    p.strip_prefix(root)
        .map(|r| r.to_string())
        .unwrap_or_else(|_| p.to_string())
}

fn config_json(header: &IndexMap<&str, String>, r: &Resolved) -> String {
    let mut out = serde_json::Map::new();
    for (k, v) in header {
        out.insert((*k).to_string(), json!(v));
    }
    for section in Section::ALL {
        let mut m = serde_json::Map::new();
        for (k, v) in r.sections.get(section) {
            let source = r
                .provenance
                .get(&format!("{}.{k}", section.name()))
                .cloned()
                .unwrap_or_default();
            m.insert(k.clone(), json!({"value": v, "source": source}));
        }
        out.insert(section.name().into(), Value::Object(m));
    }
    let mut text = serde_json::to_string_pretty(&Value::Object(out)).unwrap_or_default();
    text.push('\n');
    text
}

fn config_text(header: &IndexMap<&str, String>, r: &Resolved) -> String {
    let mut s = String::new();
    for (k, v) in header {
        let _ = writeln!(s, "# {k}: {v}");
    }
    for section in Section::ALL {
        let map = r.sections.get(section);
        if map.is_empty() {
            let _ = writeln!(s, "{}: {{}}", section.name());
            continue;
        }
        let _ = writeln!(s, "{}:", section.name());
        let width = map
            .iter()
            .map(|(k, v)| k.len() + yaml_scalar(v).len())
            .max()
            .unwrap_or(0)
            + 4;
        for (k, v) in map {
            let source = r
                .provenance
                .get(&format!("{}.{k}", section.name()))
                .cloned()
                .unwrap_or_default();
            let entry = format!("{k}: {}", yaml_scalar(v));
            let _ = writeln!(s, "  {entry:<width$}# {source}");
        }
    }
    s
}

/// A value in flow YAML form (one line).
fn yaml_scalar(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::String(s)
            if s.is_empty()
                || s.contains(": ")
                || s.starts_with(['{', '[', '*', '&', '!', '#']) =>
        {
            format!("{s:?}")
        }
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
