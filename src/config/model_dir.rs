//! `model_conf/<model>/config_<mconf>.json`: finding a model variant.

use camino::{Utf8Path, Utf8PathBuf};

use super::ConfigError;

/// The config.json of one model variant, checked to exist.
pub fn config_path(root: &Utf8Path, model: &str, mconf: &str) -> Result<Utf8PathBuf, ConfigError> {
    let rel_dir = Utf8PathBuf::from("model_conf").join(model);
    let dir = root.join(&rel_dir);
    if model.is_empty() || model.contains('/') || !dir.is_dir() {
        return Err(ConfigError::UnknownModel {
            name: model.to_string(),
            available: list_dirs(&root.join("model_conf")),
            dir: rel_dir,
        });
    }
    let file = format!("config_{mconf}.json");
    let path = dir.join(&file);
    if mconf.contains('/') || !path.is_file() {
        return Err(ConfigError::UnknownMconf {
            model: model.to_string(),
            mconf: mconf.to_string(),
            available: mconfs(&dir),
            path: rel_dir.join(file),
        });
    }
    Ok(path)
}

/// The mconf names present in a model folder (`config_<mconf>.json`), sorted.
pub fn mconfs(dir: &Utf8Path) -> Vec<String> {
    let mut out: Vec<String> = read_names(dir)
        .into_iter()
        .filter_map(|n| {
            n.strip_prefix("config_")
                .and_then(|s| s.strip_suffix(".json"))
                .map(str::to_string)
        })
        .collect();
    out.sort();
    out
}

fn list_dirs(dir: &Utf8Path) -> Vec<String> {
    let mut out: Vec<String> = read_names(dir)
        .into_iter()
        .filter(|n| dir.join(n).is_dir())
        .collect();
    out.sort();
    out
}

fn read_names(dir: &Utf8Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default()
}
