//! The sections of a layer: `server:` (engine flags), `env:` (server
//! environment), `run:` (matrix's own settings), `workload:` (what is
//! measured), and `engines.<name>:` for settings only one engine understands.

use std::collections::HashMap;

use indexmap::IndexMap;
use serde_json::{Map, Value};

use super::ConfigError;
use super::error::{FlatFix, FlatKey, FlatStyle};
use super::schema::{self, KeySpec};
use super::yaml::YamlFile;

pub type JsonMap = Map<String, Value>;

/// One of the four mergeable sections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Section {
    Server,
    Env,
    Run,
    Workload,
}

impl Section {
    pub const ALL: [Section; 4] = [
        Section::Server,
        Section::Env,
        Section::Run,
        Section::Workload,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Section::Server => "server",
            Section::Env => "env",
            Section::Run => "run",
            Section::Workload => "workload",
        }
    }

    /// The known keys, for sections that `matrix` owns.
    pub fn keys(self) -> Option<&'static [KeySpec]> {
        match self {
            Section::Run => Some(schema::RUN_KEYS),
            Section::Workload => Some(schema::WORKLOAD_KEYS),
            Section::Server | Section::Env => None,
        }
    }
}

/// The four sections of one layer (or of one engine-scoped block).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sections {
    pub server: JsonMap,
    pub env: JsonMap,
    pub run: JsonMap,
    pub workload: JsonMap,
}

impl Sections {
    pub fn get(&self, s: Section) -> &JsonMap {
        match s {
            Section::Server => &self.server,
            Section::Env => &self.env,
            Section::Run => &self.run,
            Section::Workload => &self.workload,
        }
    }

    pub fn get_mut(&mut self, s: Section) -> &mut JsonMap {
        match s {
            Section::Server => &mut self.server,
            Section::Env => &mut self.env,
            Section::Run => &mut self.run,
            Section::Workload => &mut self.workload,
        }
    }

    pub fn is_empty(&self) -> bool {
        Section::ALL.iter().all(|s| self.get(*s).is_empty())
    }

    /// As one JSON object `{server: .., env: .., run: .., workload: ..}`,
    /// leaving out empty sections.
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        for s in Section::ALL {
            if !self.get(s).is_empty() {
                m.insert(s.name().into(), Value::Object(self.get(s).clone()));
            }
        }
        Value::Object(m)
    }
}

/// A layer's sections: the common ones and the engine-scoped ones.
#[derive(Debug, Clone, Default)]
pub struct ScopedSections {
    pub common: Sections,
    pub engines: IndexMap<String, Sections>,
}

impl ScopedSections {
    /// The common sections merged with the block of `engine` (engine wins).
    pub fn for_engine(&self, engine: &str) -> Sections {
        let mut out = self.common.clone();
        if let Some(scoped) = self.engines.get(engine) {
            for s in Section::ALL {
                for (k, v) in scoped.get(s) {
                    out.get_mut(s).insert(k.clone(), v.clone());
                }
            }
        }
        out
    }
}

/// The one spelling of a server key: `tp-size` (as on the command line) and
/// `tp_size` are the same key, kept as `tp_size`. Only server keys are
/// normalised: `env:` names are environment variables, kept as written.
pub fn server_key(key: &str) -> String {
    key.replace('-', "_")
}

/// Parse the sections found under `prefix` of a YAML file (`""` for a layer
/// file, `"set"` for a matrix file's overrides). `extra` names other
/// top-level keys the caller handles itself (they are skipped here).
pub fn parse(
    file: &YamlFile,
    value: &serde_yaml::Value,
    prefix: &str,
    extra: &[&str],
) -> Result<ScopedSections, ConfigError> {
    let map = as_mapping(file, value, prefix)?;
    let mut out = ScopedSections::default();
    let mut known: Vec<&str> = Section::ALL.iter().map(|s| s.name()).collect();
    known.push("engines");
    known.extend_from_slice(extra);
    let mut flat = Vec::new();
    for (k, v) in map {
        let key = key_str(file, k, prefix)?;
        let path = join(prefix, &key);
        if extra.contains(&key.as_str()) {
            continue;
        }
        if key == "engines" {
            for (ek, ev) in as_mapping(file, v, &path)? {
                let engine = key_str(file, ek, &path)?;
                let epath = join(&path, &engine);
                let sections = parse_plain(file, ev, &epath).map_err(|mut e| {
                    if let Some(f) = e.flat_mut() {
                        f.engine = Some(engine.clone());
                    }
                    e
                })?;
                out.engines.insert(engine, sections);
            }
            continue;
        }
        let Some(section) = Section::ALL.iter().find(|s| s.name() == key) else {
            unknown_top(file, &key, v, &path, &known, &mut flat)?;
            continue;
        };
        *out.common.get_mut(*section) = parse_section(file, *section, v, &path)?;
    }
    flat_error(file, prefix, flat)?;
    Ok(out)
}

/// Sections without an `engines:` block (inside `engines.<name>:`).
fn parse_plain(
    file: &YamlFile,
    value: &serde_yaml::Value,
    prefix: &str,
) -> Result<Sections, ConfigError> {
    let mut out = Sections::default();
    let known: Vec<&str> = Section::ALL.iter().map(|s| s.name()).collect();
    let mut flat = Vec::new();
    for (k, v) in as_mapping(file, value, prefix)? {
        let key = key_str(file, k, prefix)?;
        let path = join(prefix, &key);
        let Some(section) = Section::ALL.iter().find(|s| s.name() == key) else {
            unknown_top(file, &key, v, &path, &known, &mut flat)?;
            continue;
        };
        *out.get_mut(*section) = parse_section(file, *section, v, &path)?;
    }
    flat_error(file, prefix, flat)?;
    Ok(out)
}

/// A key that is not a section: a misspelt section (a mapping, or nothing,
/// under a name close to a section's) is an unknown key with a did-you-mean;
/// anything else is taken for an engine flag written at the top level, as in
/// ltp-sglang's flat `conf/*.yaml`, and collected for one error that lists
/// them all.
fn unknown_top(
    file: &YamlFile,
    key: &str,
    value: &serde_yaml::Value,
    path: &str,
    known: &[&str],
    flat: &mut Vec<(String, String)>,
) -> Result<(), ConfigError> {
    let close = crate::suggest::did_you_mean(key, known.iter().copied());
    let section_like = value.is_mapping() || value.is_null();
    if close.as_deref() == Some("description") || (close.is_some() && section_like) {
        return Err(unknown_top_key(file, key, path, known));
    }
    flat.push((key.to_string(), path.to_string()));
    Ok(())
}

/// The error for the top-level keys [`unknown_top`] took for engine flags.
/// `run:` and `workload:` keys are told apart here; engine flags are checked
/// by the plan stage, which knows the flag table.
fn flat_error(
    file: &YamlFile,
    prefix: &str,
    flat: Vec<(String, String)>,
) -> Result<(), ConfigError> {
    let Some((_, first)) = flat.first() else {
        return Ok(());
    };
    let origin = file.origin(first);
    let keys = flat
        .iter()
        .map(|(key, path)| {
            let norm = server_key(key);
            let fix = if schema::find(schema::RUN_KEYS, &norm).is_some() {
                FlatFix::Run
            } else if schema::is_workload_key(&norm) {
                FlatFix::Workload
            } else {
                FlatFix::Unchecked
            };
            FlatKey {
                key: key.clone(),
                line: file.locate(path).map(|l| l.line),
                fix,
            }
        })
        .collect();
    Err(ConfigError::FlatLayer {
        origin,
        flat: FlatStyle {
            prefix: prefix.to_string(),
            engine: None,
            checked_against: None,
            keys,
        },
    })
}

fn parse_section(
    file: &YamlFile,
    section: Section,
    value: &serde_yaml::Value,
    path: &str,
) -> Result<JsonMap, ConfigError> {
    let mut out = JsonMap::new();
    if value.is_null() {
        return Ok(out);
    }
    // Server keys as written, by their one spelling: two spellings of one
    // key in one section would otherwise both reach the command line.
    let mut written: HashMap<String, String> = HashMap::new();
    for (k, v) in as_mapping(file, value, path)? {
        let raw = key_str(file, k, path)?;
        let kpath = join(path, &raw);
        let json = to_json(file, v, &kpath)?;
        let key = if section == Section::Server {
            let key = server_key(&raw);
            if let Some(first) = written.insert(key.clone(), raw.clone()) {
                return Err(ConfigError::DuplicateKey {
                    origin: file.origin(&kpath),
                    first_line: file.locate(&join(path, &first)).map(|l| l.line),
                    second_line: file.locate(&kpath).map(|l| l.line),
                    key,
                    first,
                    second: raw,
                });
            }
            key
        } else {
            raw
        };
        check_key(section, &key, &json).map_err(|e| e.at(file, &kpath))?;
        out.insert(key, json);
    }
    Ok(out)
}

/// A key problem not yet tied to a file (the caller adds the place).
#[derive(Debug)]
pub enum KeyProblem {
    Unknown {
        suggestion: Option<String>,
        known: Vec<&'static str>,
    },
    Invalid {
        expected: String,
    },
    EnvValue,
}

impl KeyProblem {
    /// Tie the problem to a key of a file.
    pub fn at(self, file: &YamlFile, key_path: &str) -> ConfigError {
        self.at_origin(file.origin(key_path), key_path)
    }

    pub fn at_origin(self, origin: super::yaml::Origin, key_path: &str) -> ConfigError {
        match self {
            KeyProblem::Unknown { suggestion, known } => ConfigError::UnknownKey {
                origin,
                key: key_path.to_string(),
                suggestion,
                known: known.join(", "),
            },
            KeyProblem::Invalid { expected } => ConfigError::InvalidValue {
                origin,
                key: key_path.to_string(),
                expected,
            },
            KeyProblem::EnvValue => ConfigError::InvalidValue {
                origin,
                key: key_path.to_string(),
                expected: "a string, number or boolean (environment values are text)".into(),
            },
        }
    }
}

/// Check one key of a section; server keys are checked later, by the engine.
pub fn check_key(section: Section, key: &str, value: &Value) -> Result<(), KeyProblem> {
    if section == Section::Env {
        return match value {
            Value::String(_) | Value::Number(_) | Value::Bool(_) => Ok(()),
            _ => Err(KeyProblem::EnvValue),
        };
    }
    let Some(keys) = section.keys() else {
        return Ok(());
    };
    let Some(spec) = schema::find(keys, key) else {
        return Err(KeyProblem::Unknown {
            suggestion: crate::suggest::did_you_mean(key, keys.iter().map(|k| k.name)),
            known: keys.iter().map(|k| k.name).collect(),
        });
    };
    schema::check(spec, value).map_err(|expected| KeyProblem::Invalid {
        expected: format!("{expected}, got {value}"),
    })
}

fn unknown_top_key(file: &YamlFile, key: &str, path: &str, known: &[&str]) -> ConfigError {
    ConfigError::UnknownKey {
        origin: file.origin(path),
        key: path.to_string(),
        suggestion: crate::suggest::did_you_mean(key, known.iter().copied()),
        known: known.join(", "),
    }
}

pub(crate) fn as_mapping<'a>(
    file: &YamlFile,
    value: &'a serde_yaml::Value,
    path: &str,
) -> Result<&'a serde_yaml::Mapping, ConfigError> {
    static EMPTY: std::sync::OnceLock<serde_yaml::Mapping> = std::sync::OnceLock::new();
    match value {
        serde_yaml::Value::Mapping(m) => Ok(m),
        serde_yaml::Value::Null => Ok(EMPTY.get_or_init(serde_yaml::Mapping::new)),
        _ => Err(ConfigError::InvalidValue {
            origin: file.origin(path),
            key: if path.is_empty() {
                "(top level)".into()
            } else {
                path.to_string()
            },
            expected: "a mapping of keys to values".into(),
        }),
    }
}

pub(crate) fn key_str(
    file: &YamlFile,
    key: &serde_yaml::Value,
    path: &str,
) -> Result<String, ConfigError> {
    match key {
        serde_yaml::Value::String(s) => Ok(s.clone()),
        other => Err(ConfigError::InvalidValue {
            origin: file.origin(path),
            key: format!(
                "{path} key {}",
                serde_yaml::to_string(other).unwrap_or_default().trim()
            ),
            expected: "a string key".into(),
        }),
    }
}

/// serde_yaml value → JSON value (the form every later stage works with).
/// YAML's `.inf` has no JSON form; it becomes the string `"inf"`, which is
/// how request rates spell infinity everywhere in `matrix`.
pub(crate) fn to_json(
    file: &YamlFile,
    value: &serde_yaml::Value,
    path: &str,
) -> Result<Value, ConfigError> {
    yaml_to_json(value).map_err(|expected| ConfigError::InvalidValue {
        origin: file.origin(path),
        key: path.to_string(),
        expected,
    })
}

/// The conversion behind [`to_json`]; `Err` says what was expected.
pub fn yaml_to_json(value: &serde_yaml::Value) -> Result<Value, String> {
    use serde_yaml::Value as Y;
    Ok(match value {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(*b),
        Y::Number(n) => {
            if let Some(u) = n.as_u64() {
                Value::from(u)
            } else if let Some(i) = n.as_i64() {
                Value::from(i)
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                match serde_json::Number::from_f64(f) {
                    Some(num) => Value::Number(num),
                    None if f.is_infinite() && f > 0.0 => Value::String("inf".into()),
                    None => return Err("a finite number or `inf`".into()),
                }
            }
        }
        Y::String(s) => Value::String(s.clone()),
        Y::Sequence(items) => {
            Value::Array(items.iter().map(yaml_to_json).collect::<Result<_, _>>()?)
        }
        Y::Mapping(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                let Y::String(k) = k else {
                    return Err("string keys in mappings".into());
                };
                out.insert(k.clone(), yaml_to_json(v)?);
            }
            Value::Object(out)
        }
        Y::Tagged(t) => yaml_to_json(&t.value)?,
    })
}

pub(crate) fn join(prefix: &str, seg: &str) -> String {
    if prefix.is_empty() {
        seg.to_string()
    } else {
        format!("{prefix}.{seg}")
    }
}
