//! Errors of the config stage: each names the file, and the line and column
//! where they are known.

use camino::Utf8PathBuf;
use thiserror::Error;

use super::yaml::Origin;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read {file}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{origin}: YAML syntax error: {message}")]
    Syntax { origin: Origin, message: String },
    #[error("{origin}: unknown key `{key}`")]
    UnknownKey {
        origin: Origin,
        key: String,
        suggestion: Option<String>,
        known: String,
    },
    #[error("{origin}: invalid value for `{key}`: expected {expected}")]
    InvalidValue {
        origin: Origin,
        key: String,
        expected: String,
    },
    #[error("unknown {kind} layer `{name}` (no file {path})")]
    UnknownLayer {
        kind: &'static str,
        name: String,
        path: Utf8PathBuf,
        available: Vec<String>,
    },
    #[error("unknown model `{name}` (no folder {dir})")]
    UnknownModel {
        name: String,
        dir: Utf8PathBuf,
        available: Vec<String>,
    },
    #[error("model `{model}` has no mconf `{mconf}` (no file {path})")]
    UnknownMconf {
        model: String,
        mconf: String,
        path: Utf8PathBuf,
        available: Vec<String>,
    },
    #[error("--set {arg}: {reason}")]
    BadSet { arg: String, reason: String },
    #[error(
        "{source_name}: `{key}` is an axis of this matrix; an override would flatten the sweep"
    )]
    OverrideConflict { source_name: String, key: String },
    #[error("environment variable {name}: {reason}")]
    BadEnv { name: String, reason: String },
    #[error("{origin}: {message}")]
    Engine {
        origin: Origin,
        message: String,
        hint: Option<String>,
    },
    #[error("merging layers: {0}")]
    Merge(String),
    #[error(
        "{origin}: server key `{key}` is given twice, as `{first}` ({}) and as `{second}` ({})",
        line_text(*.first_line),
        line_text(*.second_line)
    )]
    DuplicateKey {
        /// Where the second spelling stands.
        origin: Origin,
        /// The one key both spellings name (`tp_size`).
        key: String,
        first: String,
        first_line: Option<usize>,
        second: String,
        second_line: Option<usize>,
    },
    #[error("{origin}: engine flags belong under `{}:`, not {}", flat.under("server"), flat.place())]
    FlatLayer { origin: Origin, flat: FlatStyle },
}

/// The top-level keys of a file written in the flat style of ltp-sglang's
/// `conf/*.yaml` (engine flags with no `server:` section), and where each
/// belongs. The config stage sorts out `run:` and `workload:` keys; the plan
/// stage, which knows the engine's flag table, sorts out the rest
/// ([`FlatStyle::checked_against`] says which table did).
#[derive(Debug, Clone, PartialEq)]
pub struct FlatStyle {
    /// Where the keys stand (`""` for a layer, `set` for a matrix file's
    /// overrides, `engines.sim` for an engine's block).
    pub prefix: String,
    /// The engine whose layers were being merged, where known (a matrix
    /// file's `set:` is read before any engine is chosen).
    pub engine: Option<String>,
    /// The flag table the keys were checked against, once they were.
    pub checked_against: Option<String>,
    pub keys: Vec<FlatKey>,
}

/// One top-level key of a flat-style file.
#[derive(Debug, Clone, PartialEq)]
pub struct FlatKey {
    /// As written (`tp-size`).
    pub key: String,
    pub line: Option<usize>,
    pub fix: FlatFix,
}

/// Where a top-level key of a flat-style file belongs.
#[derive(Debug, Clone, PartialEq)]
pub enum FlatFix {
    /// Not checked against a flag table (none could be loaded).
    Unchecked,
    /// A known engine flag: `server.<key>`.
    Flag,
    /// A `run:` key of matrix itself.
    Run,
    /// A `workload:` key.
    Workload,
    /// A flag matrix renders itself; the text says what controls it.
    Managed(String),
    /// Not a flag of the engine; the closest flag, if any is close.
    Unknown { suggestion: Option<String> },
}

impl FlatStyle {
    /// A key path under the keys' prefix: `server` → `set.server`.
    fn under(&self, path: &str) -> String {
        if self.prefix.is_empty() {
            path.to_string()
        } else {
            format!("{}.{path}", self.prefix)
        }
    }

    /// Where the keys were found, for the message.
    fn place(&self) -> String {
        if self.prefix.is_empty() {
            "at the top level of the file".into()
        } else {
            format!("directly under `{}:`", self.prefix)
        }
    }

    /// One line per key: where it belongs.
    fn advice(&self) -> String {
        let engine = self.engine.as_deref().unwrap_or("sglang");
        let at = |section: &str| self.under(section);
        let mut out = format!(
            "engine flags go under `{}:` (snake_case or kebab-case); each key here belongs at:",
            at("server")
        );
        for k in &self.keys {
            let norm = crate::config::sections::server_key(&k.key);
            let line = match k.line {
                Some(l) => format!("line {l}: "),
                None => String::new(),
            };
            let fix = match &k.fix {
                FlatFix::Unchecked => {
                    format!(
                        "`{}` if it is an engine flag",
                        at(&format!("server.{norm}"))
                    )
                }
                FlatFix::Flag => format!("`{}`", at(&format!("server.{norm}"))),
                FlatFix::Run => format!(
                    "`{}` (a setting of matrix, not a flag)",
                    at(&format!("run.{norm}"))
                ),
                FlatFix::Workload => format!(
                    "`{}` (what each cell measures)",
                    at(&format!("workload.{norm}"))
                ),
                FlatFix::Managed(how) => format!("nowhere: matrix renders it itself ({how})"),
                FlatFix::Unknown {
                    suggestion: Some(s),
                } => {
                    format!(
                        "not a {engine} flag; did you mean `{}`?",
                        at(&format!("server.{s}"))
                    )
                }
                FlatFix::Unknown { suggestion: None } => format!("not a {engine} flag"),
            };
            out.push_str(&format!("\n    {line}`{}` → {fix}", k.key));
        }
        if let Some(t) = &self.checked_against {
            out.push_str(&format!("\n    (flags checked against {t})"));
        }
        out
    }
}

fn line_text(line: Option<usize>) -> String {
    match line {
        Some(l) => format!("line {l}"),
        None => "line unknown".into(),
    }
}

impl ConfigError {
    /// The keys of a flat-style file, for the stage that knows the flags.
    pub fn flat_mut(&mut self) -> Option<&mut FlatStyle> {
        match self {
            ConfigError::FlatLayer { flat, .. } => Some(flat),
            _ => None,
        }
    }

    pub fn hint(&self) -> Option<String> {
        match self {
            ConfigError::UnknownKey {
                suggestion, known, ..
            } => Some(match suggestion {
                Some(s) => format!("did you mean `{s}`? known keys here: {known}"),
                None => format!("known keys here: {known}"),
            }),
            ConfigError::UnknownLayer {
                kind,
                name,
                available,
                ..
            } => Some(list_hint(&format!("{kind} layers"), name, available)),
            ConfigError::UnknownModel {
                name, available, ..
            } => Some(list_hint("models", name, available)),
            ConfigError::UnknownMconf {
                mconf, available, ..
            } => Some(list_hint("mconfs", mconf, available)),
            ConfigError::BadSet { .. } => Some(
                "use `--set key=value` for a server key, or `--set run.key=value`, \
                 `--set workload.key=value`, `--set env.NAME=value`"
                    .into(),
            ),
            ConfigError::BadEnv { .. } => Some(
                "MATRIX_SERVER__KEY, MATRIX_RUN__KEY and MATRIX_WORKLOAD__KEY set one key; \
                 values are parsed as YAML scalars"
                    .into(),
            ),
            ConfigError::Engine { hint, .. } => hint.clone(),
            ConfigError::OverrideConflict { .. } => {
                Some("drop the override, or narrow the axis's values in the matrix file".into())
            }
            ConfigError::DuplicateKey { first, second, .. } => Some(format!(
                "`{first}` and `{second}` are one key (server keys are written snake_case or \
                 kebab-case, as on the command line); keep one of the two lines"
            )),
            ConfigError::FlatLayer { flat, .. } => Some(flat.advice()),
            ConfigError::Syntax { .. } => {
                Some("check indentation, colons and closing brackets near that line".into())
            }
            _ => None,
        }
    }
}

/// "did you mean X? available: a, b, c"
pub(crate) fn list_hint(what: &str, input: &str, available: &[String]) -> String {
    let mut hint = String::new();
    if let Some(m) = crate::suggest::did_you_mean(input, available.iter().map(String::as_str)) {
        hint.push_str(&format!("did you mean `{m}`? "));
    }
    if available.is_empty() {
        hint.push_str(&format!("no {what} are available"));
    } else {
        hint.push_str(&format!("available {what}: {}", available.join(", ")));
    }
    hint
}
