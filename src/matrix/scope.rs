//! Variables of templates and expressions, without copying per cell.
//!
//! A setup's variables (choices, server keys, `tp`, `gpus`, ...) are built
//! once per setup; a cell adds its workload on top through a small overlay
//! object, so evaluating 100 000 cells does not rebuild 100 000 contexts.

use std::collections::BTreeMap;
use std::sync::Arc;

use minijinja::value::{Enumerator, Object, Value as Mj};
use serde_json::Value;

use crate::config::{JsonMap, Resolved};

use super::cell::Choices;

/// Variables that stack: look in `top`, then in `below`.
#[derive(Debug)]
pub struct Overlay {
    pub top: BTreeMap<String, Mj>,
    pub below: Mj,
}

impl Object for Overlay {
    fn get_value(self: &Arc<Self>, key: &Mj) -> Option<Mj> {
        let k = key.as_str()?;
        match self.top.get(k) {
            Some(v) => Some(v.clone()),
            None => self.below.get_attr(k).ok().filter(|v| !v.is_undefined()),
        }
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let mut keys: Vec<Mj> = self.top.keys().map(|k| Mj::from(k.as_str())).collect();
        if let Ok(iter) = self.below.try_iter() {
            keys.extend(iter);
        }
        Enumerator::Values(keys)
    }
}

/// Stack `top` over `below`.
pub fn overlay(top: BTreeMap<String, Mj>, below: Mj) -> Mj {
    Mj::from_object(Overlay { top, below })
}

/// JSON → template value; the rate `"inf"` becomes a float infinity so
/// `300 * request_rate` works.
pub fn to_mj(v: &Value) -> Mj {
    match v {
        Value::String(s) if s == "inf" => Mj::from(f64::INFINITY),
        other => Mj::from_serialize(other),
    }
}

/// The variables of a setup: choices, every server key, the sections as
/// maps, and the always-defined `tp`, `ep`, `dp`, `nnodes`, `gpus`.
pub fn setup_vars(choices: &Choices, resolved: &Resolved) -> Mj {
    let s = &resolved.sections;
    let mut m: BTreeMap<String, Mj> = BTreeMap::new();
    for (k, v) in &s.server {
        m.insert(k.clone(), to_mj(v));
    }
    let size = |k: &str| s.server.get(k).and_then(Value::as_u64).unwrap_or(1);
    let nnodes = size("nnodes");
    let gpus_per_node = s
        .run
        .get("gpus_per_node")
        .and_then(Value::as_u64)
        .unwrap_or(8);
    m.insert("tp".into(), Mj::from(size("tp_size")));
    m.insert("ep".into(), Mj::from(size("ep_size")));
    m.insert("dp".into(), Mj::from(size("dp_size")));
    m.insert("nnodes".into(), Mj::from(nnodes));
    m.insert("gpus".into(), Mj::from(gpus_per_node * nnodes));
    m.insert("server".into(), map(&s.server));
    m.insert("env".into(), map(&s.env));
    m.insert("run".into(), map(&s.run));
    let opt = |o: &Option<String>| o.as_deref().map_or(Mj::from(()), Mj::from);
    m.insert("mode".into(), Mj::from(choices.mode.as_str()));
    m.insert("model".into(), Mj::from(choices.model.as_str()));
    m.insert("mconf".into(), Mj::from(choices.mconf.as_str()));
    m.insert("base".into(), Mj::from(choices.base.as_str()));
    m.insert("deploy".into(), opt(&choices.deploy));
    m.insert("backend".into(), opt(&choices.backend));
    m.insert("optional".into(), opt(&choices.optional));
    m.insert("engine".into(), Mj::from(choices.engine.as_str()));
    Mj::from(m)
}

/// A cell's variables: its workload keys (top level and as `workload`) over
/// its setup's variables.
pub fn cell_vars(workload: &JsonMap, setup_vars: &Mj) -> Mj {
    let mut top: BTreeMap<String, Mj> = workload
        .iter()
        .map(|(k, v)| (k.clone(), to_mj(v)))
        .collect();
    top.insert("workload".into(), map(workload));
    overlay(top, setup_vars.clone())
}

fn map(m: &JsonMap) -> Mj {
    Mj::from(
        m.iter()
            .map(|(k, v)| (k.clone(), to_mj(v)))
            .collect::<BTreeMap<String, Mj>>(),
    )
}

/// A template or expression environment with strict undefined behaviour.
pub fn environment() -> minijinja::Environment<'static> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env
}

/// A rendered template string → JSON (read as a YAML scalar, so `"2400"`
/// becomes the number 2400 and `"inf"` stays the string `inf`).
pub fn parse_rendered(text: &str) -> Value {
    match crate::config::overrides::parse_value(text.trim()) {
        Ok(v @ (Value::Number(_) | Value::Bool(_) | Value::String(_) | Value::Null)) => v,
        _ => Value::String(text.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn overlay_looks_through() {
        let below = Mj::from(BTreeMap::from([
            ("a".to_string(), Mj::from(1)),
            ("b".to_string(), Mj::from(2)),
        ]));
        let v = overlay(BTreeMap::from([("b".to_string(), Mj::from(3))]), below);
        let env = environment();
        assert_eq!(env.render_str("{{ a }} {{ b }}", &v).unwrap(), "1 3");
        assert!(env.render_str("{{ nope }}", &v).is_err());
    }

    #[test]
    fn derive_style_expression() {
        let env = environment();
        let wl = json!({"request_rate": 16}).as_object().unwrap().clone();
        let v = cell_vars(&wl, &Mj::from(BTreeMap::<String, Mj>::new()));
        let out = env
            .render_str("{{ [300 * request_rate, 2400] | min }}", &v)
            .unwrap();
        assert_eq!(parse_rendered(&out), json!(2400));
        let wl = json!({"request_rate": "inf"}).as_object().unwrap().clone();
        let v = cell_vars(&wl, &Mj::from(BTreeMap::<String, Mj>::new()));
        let out = env
            .render_str("{{ [300 * request_rate, 2400] | min }}", &v)
            .unwrap();
        assert_eq!(parse_rendered(&out), json!(2400));
    }
}
