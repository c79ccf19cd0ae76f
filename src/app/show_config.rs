//! `matrix show-config`: the merged settings of one choice of layers, each
//! key with the file that set it. The merge is the one expansion does
//! ([`crate::config::resolve::resolve`]), so `matrix plan` cannot disagree.

use std::fmt::Write;

use camino::{Utf8Path, Utf8PathBuf};
use indexmap::IndexMap;
use serde_json::{Value, json};

use crate::Error;
use crate::config::layer::LayerStore;
use crate::config::overrides;
use crate::config::resolve::{Later, LayerNames, resolve};
use crate::config::{Choice, Resolved, Section};
use crate::matrix::CliChoices;
use crate::matrix::file::MatrixFile;
use crate::matrix::shown;

use super::{Layers, write_stdout};

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

impl ShowConfigRequest {
    /// The request for `layers`, with this process's environment.
    pub fn new(root: Utf8PathBuf, layers: Layers, json: bool) -> Self {
        ShowConfigRequest {
            root,
            choices: layers.choices(),
            matrix: layers.matrix,
            sets: layers.set,
            env_vars: std::env::vars().collect(),
            json,
        }
    }
}

/// `matrix show-config`: the text (or JSON) on stdout.
pub fn run(req: &ShowConfigRequest) -> Result<i32, Error> {
    let text = show_config(req)?;
    write_stdout(|out| out.write_all(text.as_bytes()))?;
    Ok(0)
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
    let file = match &req.matrix {
        Some(m) => {
            let path = if m.is_absolute() {
                m.clone()
            } else {
                req.root.join(m)
            };
            Some(MatrixFile::read(&path, shown(&req.root, m)).map_err(|e| {
                crate::plan::flat::explain(e.into(), &req.root, flags_preference(req))
            })?)
        }
        None => None,
    };
    let mut overrides = Vec::new();
    for s in &req.sets {
        overrides.push(overrides::parse_set(s)?);
    }
    overrides.extend(overrides::from_env(req.env_vars.iter().cloned())?);
    let names = LayerNames {
        base: &base,
        deploy: deploy.as_deref(),
        backend: backend.as_deref(),
        optional: optional.as_deref(),
        engine: &engine,
    };
    let later = Later {
        file: file.as_ref().map(|f| (f.file.display.as_str(), &f.set)),
        overrides: &overrides,
    };
    let resolved = resolve(&store, names, later)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::{ExpandInput, expand};

    /// show-config and expansion merge alike: for one choice of layers,
    /// show-config prints every section with the values and sources of the
    /// expanded cells' settings (no server axis, so a cell's setup is the
    /// merge itself), with a matrix file's `set:` and its engine block,
    /// `--set` and `MATRIX_*` all in play.
    #[test]
    fn show_config_agrees_with_expansion() {
        let root = Utf8PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let dir = tempfile::tempdir().unwrap();
        let m = Utf8PathBuf::from_path_buf(dir.path().join("m.yaml")).unwrap();
        std::fs::write(
            &m,
            "axes:\n  request_rate: [1, 2]\nset:\n  server:\n    mem_fraction_static: 0.7\n  \
             workload:\n    seq: 128\n    output_len: 16\n    num_prompts: 4\n  \
             engines:\n    sim:\n      server:\n        sim_gpu: h200\n",
        )
        .unwrap();
        let mut choices = CliChoices::default();
        for (c, v) in [
            (Choice::Mode, "serving"),
            (Choice::Model, "qwen"),
            (Choice::Mconf, "2l"),
            (Choice::Deploy, "tp8"),
            (Choice::Engine, "sim"),
        ] {
            choices.values.insert(c, vec![v.to_string()]);
        }
        let sets = vec!["chunked_prefill_size=1024".to_string()];
        let env_vars = vec![(
            "MATRIX_SERVER__MAX_RUNNING_REQUESTS".to_string(),
            "32".to_string(),
        )];
        let req = ShowConfigRequest {
            root: root.clone(),
            choices: choices.clone(),
            matrix: Some(m.clone()),
            sets: sets.clone(),
            env_vars: env_vars.clone(),
            json: true,
        };
        let shown: Value = serde_json::from_str(&show_config(&req).unwrap()).unwrap();
        let exp = expand(&ExpandInput {
            root,
            choices,
            matrix: Some(m),
            sets,
            env_vars,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(exp.cells.len(), 2);
        for cell in &exp.cells {
            let r = &cell.setup.resolved;
            for section in Section::ALL {
                let want: serde_json::Map<String, Value> = r
                    .sections
                    .get(section)
                    .iter()
                    .map(|(k, v)| {
                        let source = &r.provenance[&format!("{}.{k}", section.name())];
                        (k.clone(), json!({"value": v, "source": source}))
                    })
                    .collect();
                assert_eq!(shown[section.name()], Value::Object(want), "{section:?}");
            }
        }
        // Each later source reached the merge, so the comparison covers it.
        let server = &shown["server"];
        assert_eq!(server["mem_fraction_static"]["value"], json!(0.7));
        assert_eq!(server["sim_gpu"]["value"], json!("h200"));
        assert_eq!(server["chunked_prefill_size"]["value"], json!(1024));
        assert_eq!(server["max_running_requests"]["value"], json!(32));
    }
}
