//! What differs between the two runs' set-ups: engine, image, git sha,
//! host, GPU, driver, the resolved server flags and the environment.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::record::db::RunRecord;
use crate::report::compare::model::ManifestDiff;

fn push(out: &mut Vec<ManifestDiff>, what: &str, base: Option<String>, new: Option<String>) {
    if base != new {
        out.push(ManifestDiff {
            what: what.to_string(),
            base,
            new,
        });
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A driver version wherever a manifest records one (`driver`,
/// `driver_version`, at the top or in `gpus[]`).
fn driver(manifest: Option<&Value>) -> Option<String> {
    let m = manifest?;
    for k in ["driver", "driver_version"] {
        if let Some(v) = m.get(k).filter(|v| !v.is_null()) {
            return Some(text(v));
        }
    }
    let gpus = m.get("gpus")?.as_array()?;
    gpus.iter().find_map(|g| {
        ["driver", "driver_version"]
            .iter()
            .find_map(|k| g.get(*k).filter(|v| !v.is_null()).map(text))
    })
}

/// The resolved server flags of every group (`plan.groups[].server`): flag
/// → the values it takes across groups (`a, b` when groups differ).
fn server_flags(manifest: Option<&Value>) -> BTreeMap<String, String> {
    let mut flags: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let groups = manifest
        .and_then(|m| m.get("plan"))
        .and_then(|p| p.get("groups"))
        .and_then(Value::as_array);
    for g in groups.into_iter().flatten() {
        if let Some(server) = g.get("server").and_then(Value::as_object) {
            for (k, v) in server {
                let vs = flags.entry(k.clone()).or_default();
                let t = text(v);
                if !vs.contains(&t) {
                    vs.push(t);
                }
            }
        }
    }
    flags.into_iter().map(|(k, v)| (k, v.join(", "))).collect()
}

fn env(manifest: Option<&Value>) -> BTreeMap<String, String> {
    manifest
        .and_then(|m| m.get("env"))
        .and_then(Value::as_object)
        .map(|o| o.iter().map(|(k, v)| (k.clone(), text(v))).collect())
        .unwrap_or_default()
}

fn union_diff(
    out: &mut Vec<ManifestDiff>,
    prefix: &str,
    a: &BTreeMap<String, String>,
    b: &BTreeMap<String, String>,
) {
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    for k in keys {
        push(
            out,
            &format!("{prefix}{k}"),
            a.get(k).cloned(),
            b.get(k).cloned(),
        );
    }
}

/// Every difference, in a fixed order: identity fields first, then server
/// flags, then environment variables.
pub fn manifest_diffs(base: &RunRecord, new: &RunRecord) -> Vec<ManifestDiff> {
    let mut out = Vec::new();
    push(&mut out, "engine", base.engine.clone(), new.engine.clone());
    push(
        &mut out,
        "engine version",
        base.engine_version.clone(),
        new.engine_version.clone(),
    );
    push(&mut out, "image", base.image.clone(), new.image.clone());
    push(
        &mut out,
        "git sha",
        base.git_sha.clone(),
        new.git_sha.clone(),
    );
    push(&mut out, "host", base.host.clone(), new.host.clone());
    push(&mut out, "gpu", base.gpu.clone(), new.gpu.clone());
    push(
        &mut out,
        "driver",
        driver(base.manifest.as_ref()),
        driver(new.manifest.as_ref()),
    );
    union_diff(
        &mut out,
        "flag ",
        &server_flags(base.manifest.as_ref()),
        &server_flags(new.manifest.as_ref()),
    );
    union_diff(
        &mut out,
        "env ",
        &env(base.manifest.as_ref()),
        &env(new.manifest.as_ref()),
    );
    out
}
