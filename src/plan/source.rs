//! Which flag table checks an engine: the installed engine's own `--help`
//! when it is installed, else the table shipped in conf/engine/flags/.
//!
//! `MATRIX_FLAGS=table` forces the shipped table (fast, reproducible);
//! `MATRIX_FLAGS=installed` fails when the engine is not installed.
//! Parsed help texts are cached under `~/.cache/matrix/flags/` by engine
//! version, so only the first plan after an upgrade pays for `--help`.

use std::time::Duration;

use camino::Utf8PathBuf;
use indexmap::IndexMap;

use crate::config::engine::{EngineProfile, InstalledSpec};

use super::flags::FlagTable;
use super::{EngineVersion, PlanError};

/// The flag tables of one engine profile.
#[derive(Debug, Clone)]
pub struct EngineFlags {
    pub server: FlagTable,
    pub latency: Option<FlagTable>,
    /// Flag tables of clients run as programs, by client kind.
    pub client: IndexMap<String, FlagTable>,
    /// Keys accepted beyond the tables (the simulator's own flags).
    pub extra: Vec<String>,
    /// The installed engine's version, or why it is not known.
    pub version: EngineVersion,
}

/// How to pick the tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preference {
    Auto,
    Table,
    Installed,
}

impl Preference {
    /// From `MATRIX_FLAGS` (`auto` when unset).
    pub fn from_env_value(v: Option<&str>) -> Preference {
        match v {
            Some("table") => Preference::Table,
            Some("installed") => Preference::Installed,
            _ => Preference::Auto,
        }
    }
}

/// Load the tables of `profile`.
pub fn load(profile: &EngineProfile, pref: Preference) -> Result<EngineFlags, PlanError> {
    let spec = &profile.spec.flags;
    let installed = match (&spec.installed, pref) {
        (Some(inst), Preference::Auto | Preference::Installed) => installed_tables(profile, inst)?,
        _ => None,
    };
    if installed.is_none() && pref == Preference::Installed {
        return Err(PlanError::FlagTable {
            file: profile.display().to_string(),
            message:
                "MATRIX_FLAGS=installed, but the engine's version probe failed (not installed?)"
                    .into(),
        });
    }
    let (server, latency, version) = match installed {
        Some((server, latency, v)) => (
            server,
            latency,
            EngineVersion {
                version: Some(v),
                reason: None,
            },
        ),
        None => {
            let (server, latency) = shipped_tables(profile)?;
            let why = match (&spec.installed, pref) {
                (None, _) => format!(
                    "no version probe (flags.installed) in {}",
                    profile.display()
                ),
                (Some(_), Preference::Table) => "not probed (MATRIX_FLAGS=table)".to_string(),
                (Some(inst), _) => {
                    format!("not installed (`{}` failed)", inst.version.join(" "))
                }
            };
            let reason = format!("{why}: flags from conf/engine/{}", spec.table);
            (
                server,
                latency,
                EngineVersion {
                    version: None,
                    reason: Some(reason),
                },
            )
        }
    };
    let mut client = IndexMap::new();
    for (kind, rel) in spec.client_help.iter().flat_map(|h| h.files()) {
        let path = profile.dir.join(&rel);
        let text = std::fs::read_to_string(&path).map_err(|e| PlanError::FlagTable {
            file: path.to_string(),
            message: e.to_string(),
        })?;
        client.insert(
            kind,
            FlagTable::from_help(&text, format!("conf/engine/{rel}")),
        );
    }
    Ok(EngineFlags {
        server,
        latency,
        client,
        extra: spec.extra.clone(),
        version,
    })
}

fn shipped_tables(profile: &EngineProfile) -> Result<(FlagTable, Option<FlagTable>), PlanError> {
    let spec = &profile.spec.flags;
    let path = profile.dir.join(&spec.table);
    let shown = format!("conf/engine/{}", spec.table);
    let text = std::fs::read_to_string(&path).map_err(|e| PlanError::FlagTable {
        file: shown.clone(),
        message: e.to_string(),
    })?;
    let table = |entry: &str| {
        FlagTable::from_json(&text, entry, format!("{shown} ({entry})")).map_err(|message| {
            PlanError::FlagTable {
                file: shown.clone(),
                message,
            }
        })
    };
    let server = table(&spec.server)?;
    let latency = spec.latency.as_deref().map(table).transpose()?;
    Ok((server, latency))
}

/// Tables from the installed engine's `--help` and its version, or `None`
/// when the version probe fails (not installed).
fn installed_tables(
    profile: &EngineProfile,
    inst: &InstalledSpec,
) -> Result<Option<(FlagTable, Option<FlagTable>, String)>, PlanError> {
    let Some(version) = run_capture(&inst.version) else {
        return Ok(None);
    };
    let version = version.trim().to_string();
    let label = |what: &str| format!("installed {} {version} ({what} --help)", profile.name);
    let help = |argv: &Vec<String>, what: &str| -> Result<FlagTable, PlanError> {
        let text = cached_help(&profile.name, &version, what, argv).ok_or_else(|| {
            PlanError::FlagTable {
                file: argv.join(" "),
                message: format!(
                    "{} {version} is installed but `{}` failed",
                    profile.name,
                    argv.join(" ")
                ),
            }
        })?;
        Ok(FlagTable::from_help(&text, label(what)))
    };
    let server = help(&inst.server_help, "server")?;
    let latency = inst
        .latency_help
        .as_ref()
        .map(|a| help(a, "latency"))
        .transpose()?;
    Ok(Some((server, latency, version)))
}

fn cache_dir() -> Option<Utf8PathBuf> {
    let home = std::env::var("XDG_CACHE_HOME")
        .map(Utf8PathBuf::from)
        .or_else(|_| std::env::var("HOME").map(|h| Utf8PathBuf::from(h).join(".cache")))
        .ok()?;
    Some(home.join("matrix/flags"))
}

fn cached_help(engine: &str, version: &str, what: &str, argv: &[String]) -> Option<String> {
    let file = cache_dir().map(|d| d.join(format!("{engine}-{version}-{what}.help.txt")));
    if let Some(text) = file.as_ref().and_then(|f| std::fs::read_to_string(f).ok()) {
        return Some(text);
    }
    let text = run_capture(argv)?;
    if let Some(f) = file {
        if let Some(dir) = f.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        // Write then rename, so a concurrent plan never reads half a file.
        let tmp = f.with_extension(format!("tmp{}", std::process::id()));
        if std::fs::write(&tmp, &text).is_ok() {
            let _ = std::fs::rename(&tmp, &f);
        }
    }
    Some(text)
}

/// Run a short probe command; its stdout when it succeeds in time.
fn run_capture(argv: &[String]) -> Option<String> {
    let (prog, args) = argv.split_first()?;
    let handle = duct::cmd(prog, args)
        .stdout_capture()
        .stderr_null()
        .unchecked()
        .start()
        .ok()?;
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        match handle.try_wait() {
            Ok(Some(out)) => {
                return out
                    .status
                    .success()
                    .then(|| String::from_utf8_lossy(&out.stdout).into_owned());
            }
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5))
            }
            _ => {
                let _ = handle.kill();
                return None;
            }
        }
    }
}
