//! Engine profiles: `conf/engine/<name>.yaml`.
//!
//! A profile says how to launch a server or a latency process per mode, how
//! to tell the server is ready, how to run a client, where results land, and
//! which flag table validates the rendered flags. Command lines are lists of
//! minijinja templates; an item `{splice: expr}` expands a list expression
//! into several arguments. `extends: other` starts from another profile (the
//! simulator reuses SGLang's and only swaps the program).

use std::sync::Arc;

use camino::{Utf8Path, Utf8PathBuf};
use indexmap::IndexMap;
use serde::Deserialize;
use serde_yaml::Value as Yaml;

use super::ConfigError;
use super::layer::yaml_names;
use super::sections::yaml_to_json;
use super::yaml::{Origin, YamlFile};

/// A loaded engine profile.
#[derive(Debug)]
pub struct EngineProfile {
    pub name: String,
    pub spec: ProfileSpec,
    /// Template variables (`vars:`) as JSON.
    pub vars: serde_json::Map<String, serde_json::Value>,
    /// The profile's file first, then the files it extends.
    files: Vec<Arc<YamlFile>>,
    /// `conf/engine/`, where flag tables are looked up.
    pub dir: Utf8PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileSpec {
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub extends: Option<String>,
    #[serde(default)]
    pub vars: serde_yaml::Mapping,
    pub flags: FlagsSpec,
    /// Server keys `matrix` renders itself (`model_path`, `port`, ...); a
    /// layer that sets one is told to use the `run:` setting instead.
    #[serde(default)]
    pub managed: IndexMap<String, String>,
    /// Shared-layer keys (SGLang's names) mapped onto this engine's flags;
    /// see `plan::translate`.
    #[serde(default)]
    pub translate: IndexMap<String, Translation>,
    /// HTTP calls matrix makes to a running server besides the workload
    /// (cache flush between cells, profiler range); an absent call is not
    /// made.
    #[serde(default)]
    pub admin: AdminSpec,
    /// Which launch flags carry the settings the CSV restates (`tp`, `ep`,
    /// `dp`, `nnodes`) and the engine's default when none is given; the
    /// columns are read back from the rendered argv (`plan::columns`).
    #[serde(default)]
    pub columns: IndexMap<String, ColumnSpec>,
    pub modes: IndexMap<String, ModeSpec>,
}

/// The CSV columns an engine profile may declare under `columns:`.
pub const SETTING_COLUMNS: [&str; 4] = ["tp", "ep", "dp", "nnodes"];

/// How one CSV column is read from a launch argv: the value of the last of
/// `flags` (`--tp-size 4` or `--tp-size=4`), or, for a switch, the product
/// of other columns when the last of `on`/`off` is an `on` flag. No flag
/// at all: `default`, the engine's own default.
#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ColumnSpec {
    /// Flags taking the value (aliases of one argparse option).
    #[serde(default)]
    pub flags: Vec<String>,
    /// Bare flags that turn a switch on (`--enable-expert-parallel`).
    #[serde(default)]
    pub on: Vec<String>,
    /// Bare flags that turn it off (`--no-enable-expert-parallel`).
    #[serde(default)]
    pub off: Vec<String>,
    /// A switched-on column is the product of these (value-flag) columns.
    #[serde(default)]
    pub product: Vec<String>,
    /// The engine's value when none of the flags is on the command line.
    pub default: u64,
}

/// `admin:` of a profile: each call optional (`null` in a profile that
/// `extends` another removes the parent's).
#[derive(Debug, Deserialize, Clone, Default)]
#[serde(deny_unknown_fields)]
pub struct AdminSpec {
    /// Before each cell of a server group, so every cell starts cold.
    #[serde(default)]
    pub flush_cache: Option<AdminCall>,
    /// Opens the CUDA profiler range (`matrix run --profile`); the body is
    /// SGLang's `{"activities": ["CUDA_PROFILER"], ...}` for the phase.
    #[serde(default)]
    pub start_profile: Option<AdminCall>,
    /// Closes it (body `{}`).
    #[serde(default)]
    pub stop_profile: Option<AdminCall>,
}

impl AdminSpec {
    /// (name, call) of each call the profile sets.
    pub fn calls(&self) -> impl Iterator<Item = (&'static str, &AdminCall)> {
        [
            ("flush_cache", &self.flush_cache),
            ("start_profile", &self.start_profile),
            ("stop_profile", &self.stop_profile),
        ]
        .into_iter()
        .filter_map(|(n, c)| c.as_ref().map(|c| (n, c)))
    }
}

/// One admin call: an HTTP method and a path on the server.
#[derive(Debug, Deserialize, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AdminCall {
    #[serde(default)]
    pub method: HttpMethod,
    /// Absolute path on the server, e.g. `/flush_cache`.
    pub path: String,
}

#[derive(Debug, Deserialize, serde::Serialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    Get,
    #[default]
    Post,
}

impl std::fmt::Display for HttpMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
        })
    }
}

/// How one shared-layer server key becomes this engine's flag.
#[derive(Debug, Deserialize, Clone)]
#[serde(untagged)]
pub enum Translation {
    /// The same value under another name.
    Rename(String),
    /// A value computed by a minijinja expression over `value` and `server`.
    Expr { to: String, expr: String },
    /// No equivalent: the key is left out, for the reason given.
    Drop { drop: String },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlagsSpec {
    /// Flag table shipped with matrix, relative to conf/engine/.
    pub table: String,
    /// Entry of the table for the server (`launch_server`).
    pub server: String,
    /// Entry of the table for the latency process (`benchmark.one_batch`).
    #[serde(default)]
    pub latency: Option<String>,
    /// `--help` texts of clients run as programs, relative to conf/engine/,
    /// by client kind; a plain string names the `engine` client's.
    #[serde(default)]
    pub client_help: Option<ClientHelp>,
    /// Keys accepted beyond the table (the simulator's own flags).
    #[serde(default)]
    pub extra: Vec<String>,
    /// How to read the flags of an installed engine.
    #[serde(default)]
    pub installed: Option<InstalledSpec>,
}

/// `client_help:` as one file (the `engine` client) or per client kind.
#[derive(Debug, Deserialize, Clone)]
#[serde(untagged)]
pub enum ClientHelp {
    Engine(String),
    PerKind(IndexMap<String, String>),
}

impl ClientHelp {
    /// (client kind, help file) pairs.
    pub fn files(&self) -> Vec<(String, String)> {
        match self {
            ClientHelp::Engine(f) => vec![("engine".into(), f.clone())],
            ClientHelp::PerKind(m) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        }
    }
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct InstalledSpec {
    /// Prints the installed version, or fails when not installed.
    pub version: Vec<String>,
    /// Prints the server's `--help`.
    pub server_help: Vec<String>,
    /// Prints the latency process's `--help`.
    #[serde(default)]
    pub latency_help: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModeSpec {
    /// The process launched once per group.
    pub launch: CommandSpec,
    /// How to tell the server is ready (serving mode).
    #[serde(default)]
    pub ready: Option<ReadySpec>,
    /// Client command per cell, by client kind (`builtin`, `engine`).
    #[serde(default)]
    pub client: IndexMap<String, CommandSpec>,
    /// Where results land and how to read them.
    #[serde(default)]
    pub results: Option<ResultsSpec>,
}

impl ModeSpec {
    /// A mode with clients launches a server per group and runs one client
    /// per cell; a mode without launches one process per group that
    /// measures every cell itself (SGLang's one_batch). The mode's name does
    /// not decide this: vLLM's `latency` mode is a server plus
    /// `matrix bench batch`, SGLang's is one_batch.
    pub fn exec(&self) -> Exec {
        if self.client.is_empty() {
            Exec::Process
        } else {
            Exec::Server
        }
    }
}

/// How a group of cells is executed (see [`ModeSpec::exec`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Exec {
    /// One process per group measures all its cells (one_batch).
    Process,
    /// A server per group, a client per cell.
    Server,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct CommandSpec {
    pub argv: Vec<ArgItem>,
    #[serde(default)]
    pub env: IndexMap<String, String>,
}

/// One argv item: a template rendering to one argument, or a list
/// expression spliced into several.
#[derive(Debug, Deserialize, Clone)]
#[serde(untagged)]
pub enum ArgItem {
    Text(String),
    Splice { splice: String },
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct ReadySpec {
    /// HTTP path probed with GET until it answers 200.
    pub http: String,
    /// Optional log line that also means ready.
    #[serde(default)]
    pub log: Option<String>,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct ResultsSpec {
    pub file: String,
    pub format: String,
}

impl EngineProfile {
    /// Load `conf/engine/<name>.yaml`, following `extends:`.
    pub fn load(root: &Utf8Path, name: &str) -> Result<Self, ConfigError> {
        let dir = root.join("conf/engine");
        let mut files = Vec::new();
        let merged = load_chain(&dir, name, &mut files)?;
        let first = files[0].clone();
        let spec: ProfileSpec = serde_path_to_error::deserialize(merged).map_err(|e| {
            let path = e.path().to_string();
            ConfigError::Engine {
                origin: origin_in(&files, &path),
                message: format!("invalid engine profile at `{path}`: {}", e.inner()),
                hint: Some("see docs/ENGINES.md for the profile format".into()),
            }
        })?;
        let vars = yaml_to_json(&Yaml::Mapping(spec.vars.clone()))
            .ok()
            .and_then(|v| v.as_object().cloned())
            .ok_or_else(|| ConfigError::Engine {
                origin: first.origin("vars"),
                message: "`vars` must map names to plain values".into(),
                hint: None,
            })?;
        for (name, call) in spec.admin.calls() {
            if !call.path.starts_with('/') {
                let key = format!("admin.{name}.path");
                return Err(ConfigError::Engine {
                    origin: origin_in(&files, &key),
                    message: format!(
                        "`{key}` must be a path on the server starting with `/`, not `{}`",
                        call.path
                    ),
                    hint: Some(format!(
                        "write the path only, e.g. `{name}: {{method: POST, path: /{name}}}`; matrix adds http://<run.host>:<run.port>"
                    )),
                });
            }
        }
        check_columns(&spec.columns, &|k: &str| origin_in(&files, k))?;
        Ok(EngineProfile {
            name: name.to_string(),
            spec,
            vars,
            files,
            dir,
        })
    }

    /// Where a key path of the profile is written (its own file or a parent).
    pub fn origin(&self, key_path: &str) -> Origin {
        origin_in(&self.files, key_path)
    }

    /// The mode's spec, or an error listing the modes this engine has.
    pub fn mode(&self, mode: &str) -> Result<&ModeSpec, ConfigError> {
        self.spec
            .modes
            .get(mode)
            .ok_or_else(|| ConfigError::Engine {
                origin: self.origin("modes"),
                message: format!("engine `{}` has no mode `{mode}`", self.name),
                hint: Some(format!(
                    "modes of this engine: {}",
                    self.spec
                        .modes
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            })
    }

    /// The profile file as shown to users.
    pub fn display(&self) -> &str {
        &self.files[0].display
    }
}

/// `columns:` names known columns; each reads one kind of flag; a switch
/// multiplies value columns of the same profile.
fn check_columns(
    columns: &IndexMap<String, ColumnSpec>,
    origin: &dyn Fn(&str) -> Origin,
) -> Result<(), ConfigError> {
    for (name, c) in columns {
        let fail = |message: String, hint: String| ConfigError::Engine {
            origin: origin(&format!("columns.{name}")),
            message,
            hint: Some(hint),
        };
        if !SETTING_COLUMNS.contains(&name.as_str()) {
            return Err(fail(
                format!("`columns.{name}` is not a CSV column read from the launch argv"),
                format!(
                    "columns that can be declared: {}",
                    SETTING_COLUMNS.join(", ")
                ),
            ));
        }
        let switch = !c.on.is_empty();
        let bad_flag = c
            .flags
            .iter()
            .chain(&c.on)
            .chain(&c.off)
            .find(|f| !f.starts_with('-') || f.contains('='));
        if let Some(f) = bad_flag {
            return Err(fail(
                format!("`columns.{name}` lists `{f}`, which is not a flag"),
                "flags are written as on the command line, e.g. --tp-size".into(),
            ));
        }
        let (has_flags, has_product) = (!c.flags.is_empty(), !c.product.is_empty());
        let valid = if switch {
            !has_flags && has_product
        } else {
            has_flags && !has_product && c.off.is_empty()
        };
        if !valid {
            return Err(fail(
                format!("`columns.{name}` must give either `flags` or `on` (with `product`)"),
                "e.g. `tp: {flags: [--tp-size], default: 1}` or \
                 `ep: {on: [--enable-expert-parallel], product: [tp, dp], default: 1}`"
                    .into(),
            ));
        }
        if let Some(p) = c
            .product
            .iter()
            .find(|p| columns.get(*p).is_none_or(|pc| pc.flags.is_empty()))
        {
            return Err(fail(
                format!(
                    "`columns.{name}.product` names `{p}`, which is not a column read from a flag"
                ),
                "`product` multiplies columns declared with `flags` in the same profile".into(),
            ));
        }
    }
    Ok(())
}

fn origin_in(files: &[Arc<YamlFile>], key_path: &str) -> Origin {
    files
        .iter()
        .find(|f| f.locate(key_path).is_some())
        .map(|f| f.origin(key_path))
        .unwrap_or_else(|| files[0].origin(""))
}

/// Read `name` and its `extends:` ancestors; return the merged YAML value.
fn load_chain(
    dir: &Utf8Path,
    name: &str,
    files: &mut Vec<Arc<YamlFile>>,
) -> Result<Yaml, ConfigError> {
    let rel = format!("conf/engine/{name}.yaml");
    let path = dir.join(format!("{name}.yaml"));
    if name.contains('/') || !path.is_file() {
        return Err(ConfigError::UnknownLayer {
            kind: "engine",
            name: name.to_string(),
            path: rel.into(),
            available: yaml_names(dir),
        });
    }
    if files.iter().any(|f| f.path == path) {
        return Err(ConfigError::Engine {
            origin: files[0].origin("extends"),
            message: format!("`extends` forms a cycle through `{name}`"),
            hint: None,
        });
    }
    let file = Arc::new(YamlFile::read(&path, rel)?);
    files.push(file.clone());
    let parent = file
        .value
        .get("extends")
        .and_then(Yaml::as_str)
        .map(str::to_string);
    match parent {
        None => Ok(file.value.clone()),
        Some(p) => {
            let base = load_chain(dir, &p, files)?;
            Ok(merge_yaml(base, file.value.clone()))
        }
    }
}

/// Deep merge: mappings merge key by key, anything else is replaced.
fn merge_yaml(base: Yaml, over: Yaml) -> Yaml {
    match (base, over) {
        (Yaml::Mapping(mut b), Yaml::Mapping(o)) => {
            for (k, v) in o {
                let merged = match b.remove(&k) {
                    Some(bv) => merge_yaml(bv, v),
                    None => v,
                };
                b.insert(k, merged);
            }
            Yaml::Mapping(b)
        }
        (_, o) => o,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_yaml_is_deep() {
        let a: Yaml = serde_yaml::from_str("vars: {a: 1, b: 2}\nx: [1, 2]").unwrap();
        let b: Yaml = serde_yaml::from_str("vars: {b: 3}\nx: [9]").unwrap();
        let m = merge_yaml(a, b);
        assert_eq!(m["vars"]["a"], Yaml::from(1));
        assert_eq!(m["vars"]["b"], Yaml::from(3));
        assert_eq!(m["x"], serde_yaml::from_str::<Yaml>("[9]").unwrap());
    }
}
