//! Merging layers with figment, keeping for every key the layer that set it.
//!
//! Each input (built-in defaults, a layer file, the matrix file's `set:`, one
//! `--set`, one environment variable) becomes a figment provider whose
//! metadata names it. figment merges maps deeply and replaces lists, and
//! `find_metadata` tells which provider last set a key: that is provenance.

use figment::value::{Dict, Map as FMap, Value as FValue};
use figment::{Figment, Metadata, Profile, Provider};
use indexmap::IndexMap;
use serde_json::Value;

use super::ConfigError;
use super::overrides::Override;
use super::schema;
use super::sections::{JsonMap, Section, Sections};

/// One input of a merge, in order (later wins).
#[derive(Debug, Clone)]
pub struct MergeInput {
    /// As shown in provenance: a file path, `--set tp_size=4`, `(default)`.
    pub source: String,
    pub sections: Sections,
}

impl MergeInput {
    /// The built-in defaults of the `run:` and `workload:` sections.
    pub fn defaults() -> Self {
        MergeInput {
            source: "(default)".into(),
            sections: Sections {
                run: schema::defaults(schema::RUN_KEYS),
                workload: schema::defaults(schema::WORKLOAD_KEYS),
                ..Default::default()
            },
        }
    }

    /// One override as a merge input.
    pub fn from_override(o: &Override) -> Self {
        let mut sections = Sections::default();
        sections
            .get_mut(o.section)
            .insert(o.key.clone(), o.value.clone());
        MergeInput {
            source: o.source.clone(),
            sections,
        }
    }
}

impl Provider for MergeInput {
    fn metadata(&self) -> Metadata {
        Metadata::named(self.source.clone())
    }

    fn data(&self) -> Result<FMap<Profile, Dict>, figment::Error> {
        let value = FValue::serialize(self.sections.to_value())?;
        let dict = value.into_dict().unwrap_or_default();
        Ok(Profile::Default.collect(dict))
    }
}

/// Merged sections with the source of every top-level key of each section.
#[derive(Debug, Clone, Default)]
pub struct Resolved {
    pub sections: Sections,
    /// `server.tp_size` → `conf/deploy/tp8ep8.yaml`.
    pub provenance: IndexMap<String, String>,
}

/// Merge the inputs in order; later inputs win, maps merge deeply, lists
/// replace.
pub fn merge(inputs: &[MergeInput]) -> Result<Resolved, ConfigError> {
    let figment = inputs
        .iter()
        .fold(Figment::new(), |f, input| f.merge(input.clone()));
    let mut out = Resolved::default();
    for section in Section::ALL {
        let map: JsonMap = if figment.contains(section.name()) {
            figment
                .extract_inner(section.name())
                .map_err(|e| ConfigError::Merge(e.to_string()))?
        } else {
            JsonMap::new()
        };
        for key in map.keys() {
            let path = format!("{}.{key}", section.name());
            let source = figment
                .find_metadata(&path)
                .map(|m| m.name.to_string())
                .unwrap_or_else(|| "(unknown)".into());
            out.provenance.insert(path, source);
        }
        *out.sections.get_mut(section) = sort_keys(map);
    }
    Ok(out)
}

/// figment's dictionaries are ordered by key; keep that order explicit so
/// rendered argv does not depend on the merge history.
fn sort_keys(map: JsonMap) -> JsonMap {
    let mut entries: Vec<(String, Value)> = map.into_iter().collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn input(source: &str, server: Value) -> MergeInput {
        MergeInput {
            source: source.into(),
            sections: Sections {
                server: server.as_object().unwrap().clone(),
                ..Default::default()
            },
        }
    }

    #[test]
    fn later_wins_maps_merge_lists_replace() {
        let a = input(
            "a.yaml",
            json!({"tp_size": 1, "lst": [1, 2, 3], "m": {"x": 1, "y": 2}, "keep": true}),
        );
        let b = input("b.yaml", json!({"tp_size": 8, "lst": [9], "m": {"y": 3}}));
        let r = merge(&[MergeInput::defaults(), a, b]).unwrap();
        let s = &r.sections.server;
        assert_eq!(s["tp_size"], json!(8));
        assert_eq!(s["lst"], json!([9]));
        assert_eq!(s["m"], json!({"x": 1, "y": 3}));
        assert_eq!(s["keep"], json!(true));
        assert_eq!(r.provenance["server.tp_size"], "b.yaml");
        assert_eq!(r.provenance["server.keep"], "a.yaml");
        assert_eq!(r.provenance["run.port"], "(default)");
        assert_eq!(r.sections.run["port"], json!(30000));
    }

    #[test]
    fn null_unsets_but_stays_visible() {
        let a = input("a.yaml", json!({"cuda_graph_max_bs_decode": 256}));
        let b = input("b.yaml", json!({"cuda_graph_max_bs_decode": null}));
        let r = merge(&[a, b]).unwrap();
        assert_eq!(r.sections.server["cuda_graph_max_bs_decode"], Value::Null);
        assert_eq!(r.provenance["server.cuda_graph_max_bs_decode"], "b.yaml");
    }
}
