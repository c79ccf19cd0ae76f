//! Layer files: `conf/<base>.yaml`, `conf/deploy/<name>.yaml`,
//! `conf/backend/<name>.yaml`, `conf/optional/<name>.yaml`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use camino::{Utf8Path, Utf8PathBuf};

use super::ConfigError;
use super::sections::{self, ScopedSections};
use super::yaml::YamlFile;

/// The four kinds of layer, in merge order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LayerKind {
    Base,
    Deploy,
    Backend,
    Optional,
}

impl LayerKind {
    pub const ALL: [LayerKind; 4] = [
        LayerKind::Base,
        LayerKind::Deploy,
        LayerKind::Backend,
        LayerKind::Optional,
    ];

    /// The axis / CLI flag name (`--deploy`).
    pub fn name(self) -> &'static str {
        match self {
            LayerKind::Base => "base",
            LayerKind::Deploy => "deploy",
            LayerKind::Backend => "backend",
            LayerKind::Optional => "optional",
        }
    }

    /// Folder of this kind's files, relative to the project root.
    pub fn dir(self) -> &'static str {
        match self {
            LayerKind::Base => "conf",
            LayerKind::Deploy => "conf/deploy",
            LayerKind::Backend => "conf/backend",
            LayerKind::Optional => "conf/optional",
        }
    }

    pub fn from_name(name: &str) -> Option<LayerKind> {
        LayerKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// A loaded layer file.
#[derive(Debug)]
pub struct Layer {
    pub kind: LayerKind,
    pub name: String,
    pub file: YamlFile,
    pub sections: ScopedSections,
}

/// Loads layer files once and hands out shared copies.
#[derive(Debug, Default)]
pub struct LayerStore {
    root: Utf8PathBuf,
    cache: Mutex<HashMap<(LayerKind, String), Arc<Layer>>>,
}

impl LayerStore {
    pub fn new(root: &Utf8Path) -> Self {
        LayerStore {
            root: root.to_owned(),
            cache: Mutex::default(),
        }
    }

    pub fn root(&self) -> &Utf8Path {
        &self.root
    }

    /// Load (or fetch from cache) the layer `name` of `kind`.
    pub fn get(&self, kind: LayerKind, name: &str) -> Result<Arc<Layer>, ConfigError> {
        let key = (kind, name.to_string());
        if let Some(l) = self.cache.lock().expect("layer cache poisoned").get(&key) {
            return Ok(l.clone());
        }
        let layer = Arc::new(self.load(kind, name)?);
        self.cache
            .lock()
            .expect("layer cache poisoned")
            .insert(key, layer.clone());
        Ok(layer)
    }

    fn load(&self, kind: LayerKind, name: &str) -> Result<Layer, ConfigError> {
        let rel = format!("{}/{name}.yaml", kind.dir());
        let path = self.root.join(&rel);
        if !valid_name(name) || !path.is_file() {
            return Err(ConfigError::UnknownLayer {
                kind: kind.name(),
                name: name.to_string(),
                path: Utf8PathBuf::from(rel),
                available: self.available(kind),
            });
        }
        let file = YamlFile::read(&path, rel)?;
        let sections = sections::parse(&file, &file.value, "", &["description"])?;
        Ok(Layer {
            kind,
            name: name.to_string(),
            file,
            sections,
        })
    }

    /// Names of the layers of `kind` present on disk, sorted.
    pub fn available(&self, kind: LayerKind) -> Vec<String> {
        yaml_names(&self.root.join(kind.dir()))
    }
}

/// Names of `*.yaml` files in a folder, without the extension, sorted.
pub fn yaml_names(dir: &Utf8Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| e.path().is_file())
                .filter_map(|e| e.file_name().into_string().ok())
                .filter_map(|n| n.strip_suffix(".yaml").map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Layer names are plain file stems: no path separators, no dots first.
fn valid_name(name: &str) -> bool {
    !name.is_empty() && !name.contains('/') && !name.contains('\\') && !name.starts_with('.')
}
