//! Axes: what a swept name targets, and the checks on its values.

use serde_json::Value;

use crate::config::schema;
use crate::config::sections::{KeyProblem, Section, check_key, server_key};

/// A layer or run choice: defined with the layers it selects (the config
/// stage); re-exported here, where axes sweep it.
pub use crate::config::layer::Choice;

/// The modes `matrix` knows.
/// `batch` is `latency` measured against a launched server with
/// `matrix bench batch` (one_batch_server semantics).
pub const MODES: &[&str] = &["latency", "serving", "batch"];

/// What an axis name sets.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    Choice(Choice),
    Key(Section, String),
}

/// `deploy` → a layer choice; `server.x`, `run.x`, `workload.x`, `env.X` →
/// that section; a known workload key → workload; anything else → a server
/// key (checked against the engine's flags when rendered). Server keys are
/// kept under their one spelling: `tp-size` targets `tp_size`.
pub fn target(name: &str) -> Target {
    if let Some(c) = Choice::from_name(name) {
        return Target::Choice(c);
    }
    if let Some((sec, key)) = name.split_once('.') {
        if let Some(s) = Section::ALL.iter().find(|s| s.name() == sec) {
            let key = match s {
                Section::Server => server_key(key),
                _ => key.to_string(),
            };
            return Target::Key(*s, key);
        }
    }
    if schema::is_workload_key(name) {
        Target::Key(Section::Workload, name.to_string())
    } else {
        Target::Key(Section::Server, server_key(name))
    }
}

/// An axis name under its one spelling: a server key written as on the
/// command line (`tp-size`, `server.tp-size`) is named as the key it sets
/// (`tp_size`, `server.tp_size`), so `--only`, `exclude:` and `include:`
/// find it by either spelling and a second spelling is a duplicate axis.
pub fn canonical(name: &str) -> String {
    match target(name) {
        Target::Key(Section::Server, key) => match name.split_once('.') {
            Some((sec, _)) if sec == Section::Server.name() => format!("{sec}.{key}"),
            _ => key,
        },
        _ => name.to_string(),
    }
}

/// One swept dimension with its values, and where it was declared.
#[derive(Debug, Clone)]
pub struct Axis {
    pub name: String,
    pub target: Target,
    pub values: Vec<Value>,
}

/// Axes that move together (a zip), or a single axis.
#[derive(Debug, Clone)]
pub struct AxisGroup {
    pub members: Vec<Axis>,
    /// Shown in errors: `--deploy`, or the matrix file's `axes.<label>`.
    pub source: AxisSource,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AxisSource {
    Cli,
    File { path: String },
    BszSeq,
}

impl AxisGroup {
    pub fn len(&self) -> usize {
        self.members.first().map_or(0, |m| m.values.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Check one value of an axis; `Err` says what was expected.
pub fn check_value(target: &Target, value: &Value) -> Result<(), String> {
    match target {
        Target::Choice(c) => match value {
            Value::String(s) if !s.is_empty() => {
                if *c == Choice::Mode && !MODES.contains(&s.as_str()) {
                    Err(format!("a mode: one of {}", MODES.join(", ")))
                } else {
                    Ok(())
                }
            }
            Value::Null if c.optional() => Ok(()),
            _ if c.optional() => Err("a layer name, or null for none".into()),
            _ => Err(format!("a {} name", c.name())),
        },
        Target::Key(section, key) => check_key(*section, key, value).map_err(|p| match p {
            KeyProblem::Unknown { suggestion, .. } => match suggestion {
                Some(s) => format!("a known {} key (did you mean `{s}`?)", section.name()),
                None => format!("a known {} key", section.name()),
            },
            KeyProblem::Invalid { expected } => expected,
            KeyProblem::EnvValue => "a string, number or boolean".into(),
        }),
    }
}

/// Equality for filters: numbers compare by value (`1` matches `1.0`).
pub fn same(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn targets() {
        assert_eq!(target("deploy"), Target::Choice(Choice::Deploy));
        assert_eq!(
            target("request_rate"),
            Target::Key(Section::Workload, "request_rate".into())
        );
        assert_eq!(
            target("mem_fraction_static"),
            Target::Key(Section::Server, "mem_fraction_static".into())
        );
        assert_eq!(
            target("env.NCCL_ALGO"),
            Target::Key(Section::Env, "NCCL_ALGO".into())
        );
        assert_eq!(target("run.port"), Target::Key(Section::Run, "port".into()));
        assert_eq!(target("tp-size"), target("tp_size"));
        assert_eq!(
            target("server.tp-size"),
            Target::Key(Section::Server, "tp_size".into())
        );
        assert_eq!(canonical("tp-size"), "tp_size");
        assert_eq!(canonical("server.tp-size"), "server.tp_size");
        assert_eq!(canonical("env.A-B"), "env.A-B");
        assert_eq!(canonical("deploy"), "deploy");
    }

    #[test]
    fn values_are_checked() {
        assert!(check_value(&Target::Choice(Choice::Deploy), &Value::Null).is_ok());
        assert!(check_value(&Target::Choice(Choice::Model), &Value::Null).is_err());
        assert!(check_value(&Target::Choice(Choice::Mode), &json!("offline")).is_err());
        assert!(check_value(&target("request_rate"), &json!("inf")).is_ok());
        assert!(check_value(&target("bsz"), &json!(-1)).is_err());
        assert!(same(&json!(1), &json!(1.0)));
    }
}
