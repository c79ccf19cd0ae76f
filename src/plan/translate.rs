//! Translating shared-layer server keys into another engine's flags.
//!
//! The layers under `conf/` are written once, with SGLang's key names
//! (`tp_size`, `mem_fraction_static`, ...), because a deploy or base layer
//! describes the experiment, not one engine. An engine with other names
//! (vLLM: `tensor_parallel_size`, `gpu_memory_utilization`, ...) says in its
//! profile's `translate:` how each shared key maps onto its own flags:
//!
//! ```yaml
//! translate:
//!   tp_size: tensor_parallel_size                          # rename
//!   ep_size: {to: enable_expert_parallel, expr: "value > 1"}  # compute
//!   disable_overlap_schedule: {drop: "vLLM has no such switch"}
//! ```
//!
//! Expressions see `value` (the key's value) and `server` (every merged
//! server key, untranslated); a `none` result leaves the flag out. Keys the
//! map does not name pass through unchanged, to be checked against the
//! engine's flag table like any other: so a key only one engine knows goes
//! under `engines.<name>.server:`, and an untranslated SGLang key is an
//! error rather than a silently dropped setting. A key written under its
//! target name (`engines.vllm.server.tensor_parallel_size`) wins over a
//! translated one.

use std::collections::HashMap;

use minijinja::value::Value as Mj;
use serde_json::{Map, Value};

use crate::config::engine::{EngineProfile, Translation};
use crate::config::yaml::Origin;

use super::PlanError;
use super::render::KeyOrigin;

/// A server map in the engine's own names, and where each came from.
pub struct Translated {
    pub server: Map<String, Value>,
    /// Target key → the shared key it was translated from.
    back: HashMap<String, String>,
}

impl Translated {
    /// The shared key a rendered key came from (itself when untranslated).
    pub fn source_key<'k>(&'k self, key: &'k str) -> &'k str {
        self.back.get(key).map_or(key, String::as_str)
    }
}

/// Translate `server` with the profile's map. Managed keys are refused by
/// their shared name here (`model_path`), by their target name later.
pub fn translate(
    profile: &EngineProfile,
    env: &minijinja::Environment<'_>,
    server: &Map<String, Value>,
    origins: &dyn KeyOrigin,
) -> Result<Translated, PlanError> {
    let map = &profile.spec.translate;
    let mut out = Translated {
        server: Map::new(),
        back: HashMap::new(),
    };
    if map.is_empty() {
        out.server = server.clone();
        return Ok(out);
    }
    let scope = Mj::from_serialize(server);
    let mut native: Vec<(&String, &Value)> = Vec::new();
    for (key, value) in server {
        let Some(rule) = map.get(key) else {
            native.push((key, value));
            continue;
        };
        super::render::check_managed(key, &profile.spec.managed, origins)?;
        if value.is_null() {
            continue;
        }
        let (to, v) = match rule {
            Translation::Rename(to) => (to, value.clone()),
            Translation::Drop { .. } => continue,
            Translation::Expr { to, expr } => {
                let origin = profile.origin(&format!("translate.{key}.expr"));
                (to, eval(env, expr, value, &scope, origin)?)
            }
        };
        if !v.is_null() {
            out.back.insert(to.clone(), key.clone());
            out.server.insert(to.clone(), v);
        }
    }
    for (key, value) in native {
        out.back.remove(key);
        out.server.insert(key.clone(), value.clone());
    }
    Ok(out)
}

fn eval(
    env: &minijinja::Environment<'_>,
    expr: &str,
    value: &Value,
    server: &Mj,
    origin: Origin,
) -> Result<Value, PlanError> {
    let fail = |message: String| PlanError::Template {
        origin: origin.clone(),
        template: expr.to_string(),
        message,
    };
    let compiled = env
        .compile_expression(expr)
        .map_err(|e| fail(e.to_string()))?;
    let ctx = minijinja::context! { value => Mj::from_serialize(value), server => server.clone() };
    let result = compiled.eval(ctx).map_err(|e| fail(e.to_string()))?;
    if result.is_undefined() || result.is_none() {
        return Ok(Value::Null);
    }
    serde_json::to_value(&result).map_err(|e| fail(e.to_string()))
}

/// Key origins of a translated map: each target key reports where its
/// shared key was set.
pub struct TranslatedOrigins<'a> {
    pub inner: &'a dyn KeyOrigin,
    pub translated: &'a Translated,
}

impl KeyOrigin for TranslatedOrigins<'_> {
    fn source(&self, key: &str) -> String {
        self.inner.source(self.translated.source_key(key))
    }

    fn origin(&self, key: &str) -> Origin {
        self.inner.origin(self.translated.source_key(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct NoOrigins;
    impl KeyOrigin for NoOrigins {
        fn source(&self, key: &str) -> String {
            format!("layer of {key}")
        }
        fn origin(&self, key: &str) -> Origin {
            Origin {
                file: format!("file of {key}"),
                location: None,
            }
        }
    }

    fn profile(map: &str) -> (tempfile::TempDir, EngineProfile) {
        let tmp = tempfile::tempdir().unwrap();
        let root = camino::Utf8Path::from_path(tmp.path()).unwrap().to_owned();
        std::fs::create_dir_all(root.join("conf/engine")).unwrap();
        let text = format!(
            "flags: {{table: t.json, server: s}}\nmanaged: {{model_path: use --model}}\ntranslate:\n{map}\nmodes: {{}}\n"
        );
        std::fs::write(root.join("conf/engine/e.yaml"), text).unwrap();
        let p = EngineProfile::load(&root, "e").unwrap();
        (tmp, p)
    }

    fn run(map: &str, server: serde_json::Value) -> Result<Translated, PlanError> {
        let (_tmp, p) = profile(map);
        let env = crate::matrix::scope::environment();
        let server = server.as_object().unwrap().clone();
        translate(&p, &env, &server, &NoOrigins)
    }

    const MAP: &str = "  tp_size: tensor_parallel_size\n  ep_size: {to: enable_expert_parallel, expr: \"true if value > 1 else none\"}\n  log_level: {drop: use VLLM_LOGGING_LEVEL}\n  dp_size: {to: data_parallel_size, expr: \"value * server.tp_size\"}";

    #[test]
    fn renames_computes_and_drops() {
        let t = run(
            MAP,
            json!({"tp_size": 8, "ep_size": 8, "log_level": "info", "dp_size": 2, "dtype": "float32"}),
        )
        .unwrap();
        assert_eq!(
            serde_json::Value::Object(t.server.clone()),
            json!({"tensor_parallel_size": 8, "enable_expert_parallel": true, "data_parallel_size": 16, "dtype": "float32"})
        );
        assert_eq!(t.source_key("tensor_parallel_size"), "tp_size");
        assert_eq!(t.source_key("dtype"), "dtype");
        // A `none` result leaves the flag out.
        let t = run(MAP, json!({"ep_size": 1})).unwrap();
        assert!(t.server.is_empty());
    }

    #[test]
    fn a_key_under_its_own_name_wins() {
        let t = run(MAP, json!({"tensor_parallel_size": 2, "tp_size": 8})).unwrap();
        assert_eq!(t.server["tensor_parallel_size"], json!(2));
        assert_eq!(t.source_key("tensor_parallel_size"), "tensor_parallel_size");
    }

    #[test]
    fn managed_shared_keys_and_bad_expressions_are_errors() {
        let e = run("  model_path: model", json!({"model_path": "/m"}))
            .err()
            .unwrap();
        assert!(matches!(e, PlanError::Managed { .. }), "{e}");
        let e = run(
            "  tp_size: {to: x, expr: \"value + nope\"}",
            json!({"tp_size": 1}),
        )
        .err()
        .unwrap();
        assert!(e.to_string().contains("e.yaml"), "{e}");
        assert!(e.to_string().contains("value + nope"), "{e}");
    }

    #[test]
    fn without_a_map_nothing_changes() {
        let (_tmp, p) = profile("  {}");
        let env = crate::matrix::scope::environment();
        let server = json!({"tp_size": 8}).as_object().unwrap().clone();
        let t = translate(&p, &env, &server, &NoOrigins).unwrap();
        assert_eq!(t.server, server);
    }
}
