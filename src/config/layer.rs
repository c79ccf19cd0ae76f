//! Layer files: `conf/<base>.yaml`, `conf/deploy/<name>.yaml`,
//! `conf/backend/<name>.yaml`, `conf/optional/<name>.yaml`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use camino::{Utf8Path, Utf8PathBuf};

use super::ConfigError;
use super::sections::{self, ScopedSections};
use super::yaml::YamlFile;

/// A layer or run choice: which files a cell's settings come from. Swept
/// like any axis (`--deploy a,b`, or `deploy:` under a matrix file's
/// `axes:`) but resolved into files. The four layer-file kinds
/// ([`Choice::LAYERS`]) are merged in that order; the others pick the
/// mode, the model directory and config, and the engine profile.
///
/// The one type for a layer choice: the config stage loads layers by it,
/// the matrix stage sweeps it, the command line fills it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Choice {
    Mode,
    Model,
    Mconf,
    Base,
    Deploy,
    Backend,
    Optional,
    Engine,
}

impl Choice {
    /// In expansion order (outermost first) when given on the command line.
    pub const ALL: [Choice; 8] = [
        Choice::Mode,
        Choice::Model,
        Choice::Mconf,
        Choice::Base,
        Choice::Deploy,
        Choice::Backend,
        Choice::Optional,
        Choice::Engine,
    ];

    /// The layer-file kinds, in merge order.
    pub const LAYERS: [Choice; 4] = [
        Choice::Base,
        Choice::Deploy,
        Choice::Backend,
        Choice::Optional,
    ];

    /// The axis / CLI flag name (`--deploy`).
    pub fn name(self) -> &'static str {
        match self {
            Choice::Mode => "mode",
            Choice::Model => "model",
            Choice::Mconf => "mconf",
            Choice::Base => "base",
            Choice::Deploy => "deploy",
            Choice::Backend => "backend",
            Choice::Optional => "optional",
            Choice::Engine => "engine",
        }
    }

    pub fn from_name(name: &str) -> Option<Choice> {
        Choice::ALL.into_iter().find(|c| c.name() == name)
    }

    /// The value used when neither the command line nor the matrix names one.
    pub fn default_value(self) -> Option<&'static str> {
        match self {
            Choice::Mode => Some("latency"),
            Choice::Mconf => Some("full"),
            Choice::Base => Some("base"),
            Choice::Optional => Some("default"),
            Choice::Engine => Some("sglang"),
            Choice::Model | Choice::Deploy | Choice::Backend => None,
        }
    }

    /// May be left out (`null`): no file of that kind is merged.
    pub fn optional(self) -> bool {
        matches!(self, Choice::Deploy | Choice::Backend | Choice::Optional)
    }

    /// Folder of a layer-file kind's files, relative to the project root;
    /// `None` for the choices that are not layer files.
    pub fn layer_dir(self) -> Option<&'static str> {
        match self {
            Choice::Base => Some("conf"),
            Choice::Deploy => Some("conf/deploy"),
            Choice::Backend => Some("conf/backend"),
            Choice::Optional => Some("conf/optional"),
            Choice::Mode | Choice::Model | Choice::Mconf | Choice::Engine => None,
        }
    }
}

/// A loaded layer file.
#[derive(Debug)]
pub struct Layer {
    pub kind: Choice,
    pub name: String,
    pub file: YamlFile,
    pub sections: ScopedSections,
}

/// Loads layer files once and hands out shared copies.
#[derive(Debug, Default)]
pub struct LayerStore {
    root: Utf8PathBuf,
    cache: Mutex<HashMap<(Choice, String), Arc<Layer>>>,
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

    /// Load (or fetch from cache) the layer `name` of `kind` (one of
    /// [`Choice::LAYERS`]).
    pub fn get(&self, kind: Choice, name: &str) -> Result<Arc<Layer>, ConfigError> {
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

    fn load(&self, kind: Choice, name: &str) -> Result<Layer, ConfigError> {
        let rel = format!("{}/{name}.yaml", kind.layer_dir().unwrap_or_default());
        let path = self.root.join(&rel);
        if kind.layer_dir().is_none() || !valid_name(name) || !path.is_file() {
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

    /// Names of the layers of `kind` present on disk, sorted (none for a
    /// choice that is not a layer file).
    pub fn available(&self, kind: Choice) -> Vec<String> {
        match kind.layer_dir() {
            Some(dir) => yaml_names(&self.root.join(dir)),
            None => Vec::new(),
        }
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
