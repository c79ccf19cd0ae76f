//! Matrix files (`--matrix FILE`): axes, zips, derived values, overrides,
//! exclusions, inclusions and constraints.
//!
//! ```yaml
//! description: GROK online, request-rate sweep
//! axes:
//!   model: grok                 # a scalar is a one-value axis
//!   mode: serving
//!   request_rate: [1, 2, 4, 8, 16]
//!   shape:                      # a zip: these axes move together
//!     zip: {seq: [1024, 4096], output_len: [512, 1024]}
//! derive:
//!   num_prompts: "{{ [300 * request_rate, 2400] | min }}"
//! set:                          # the matrix-file layer: server/env/run/workload
//!   workload: {repeats: 3}
//! exclude: [{deploy: tp8, request_rate: 16}]
//! include: [{deploy: tp16ep16, request_rate: [1, 2]}]
//! constraints:
//!   - require: "tp * dp <= gpus"
//!     else: prune               # or reject
//! ```

use camino::{Utf8Path, Utf8PathBuf};
use serde_json::Value;
use serde_yaml::Value as Yaml;

use crate::config::sections::{self, ScopedSections, as_mapping, join, key_str, to_json};
use crate::config::yaml::YamlFile;

use super::MatrixError;

const TOP_KEYS: &[&str] = &[
    "description",
    "axes",
    "derive",
    "set",
    "exclude",
    "include",
    "constraints",
    "bsz_seq",
];

/// One entry of `axes:`: a plain axis (one member) or a zip (several).
#[derive(Debug, Clone)]
pub struct AxisDecl {
    pub label: String,
    pub members: Vec<(String, Vec<Value>)>,
    /// Key path in the file, for locating errors.
    pub path: String,
}

/// An `exclude:` or `include:` entry: axis name → accepted values.
#[derive(Debug, Clone)]
pub struct Filter {
    pub entries: Vec<(String, Vec<Value>)>,
    pub path: String,
}

/// What happens to a cell that fails a constraint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFail {
    Prune,
    Reject,
}

#[derive(Debug, Clone)]
pub struct Constraint {
    pub expr: String,
    pub on_fail: OnFail,
    pub message: Option<String>,
    pub path: String,
}

#[derive(Debug, Clone)]
pub struct Derive {
    pub name: String,
    pub template: String,
    pub path: String,
}

/// A parsed matrix file.
#[derive(Debug)]
pub struct MatrixFile {
    pub file: YamlFile,
    pub description: String,
    pub axes: Vec<AxisDecl>,
    pub derive: Vec<Derive>,
    pub set: ScopedSections,
    pub exclude: Vec<Filter>,
    pub include: Vec<Filter>,
    pub constraints: Vec<Constraint>,
    /// `bsz_seq:` resolved against the matrix file's folder.
    pub bsz_seq: Option<Utf8PathBuf>,
}

impl MatrixFile {
    /// Read and check a matrix file; `display` is its path as shown.
    pub fn read(path: &Utf8Path, display: String) -> Result<Self, MatrixError> {
        let file = YamlFile::read(path, display)?;
        let top = as_mapping(&file, &file.value, "")?;
        for (k, _) in top {
            let key = key_str(&file, k, "")?;
            if !TOP_KEYS.contains(&key.as_str()) {
                return Err(invalid(
                    &file,
                    &key,
                    format!("unknown key `{key}`"),
                    Some(hint_known(&key, TOP_KEYS)),
                ));
            }
        }
        let v = &file.value;
        let description = v
            .get("description")
            .and_then(Yaml::as_str)
            .unwrap_or_default()
            .to_string();
        let axes = parse_axes(&file, v.get("axes"))?;
        let derive = parse_derive(&file, v.get("derive"))?;
        let set = match v.get("set") {
            Some(s) => sections::parse(&file, s, "set", &[])?,
            None => ScopedSections::default(),
        };
        let exclude = parse_filters(&file, v.get("exclude"), "exclude")?;
        let include = parse_filters(&file, v.get("include"), "include")?;
        let constraints = parse_constraints(&file, v.get("constraints"))?;
        let bsz_seq = match v.get("bsz_seq") {
            None | Some(Yaml::Null) => None,
            Some(Yaml::String(s)) => Some(path.parent().unwrap_or(Utf8Path::new(".")).join(s)),
            Some(_) => {
                return Err(invalid(
                    &file,
                    "bsz_seq",
                    "`bsz_seq` must be a file path".into(),
                    None,
                ));
            }
        };
        Ok(MatrixFile {
            file,
            description,
            axes,
            derive,
            set,
            exclude,
            include,
            constraints,
            bsz_seq,
        })
    }
}

fn parse_axes(file: &YamlFile, v: Option<&Yaml>) -> Result<Vec<AxisDecl>, MatrixError> {
    let Some(v) = v else { return Ok(Vec::new()) };
    let mut out = Vec::new();
    for (k, val) in as_mapping(file, v, "axes")? {
        let label = key_str(file, k, "axes")?;
        let path = join("axes", &label);
        let members = match val.get("zip") {
            Some(z) if val.as_mapping().is_some_and(|m| m.len() == 1) => {
                parse_zip(file, z, &join(&path, "zip"))?
            }
            _ => vec![(label.clone(), values(file, val, &path)?)],
        };
        out.push(AxisDecl {
            label,
            members,
            path,
        });
    }
    Ok(out)
}

fn parse_zip(
    file: &YamlFile,
    z: &Yaml,
    path: &str,
) -> Result<Vec<(String, Vec<Value>)>, MatrixError> {
    let mut members = Vec::new();
    for (k, val) in as_mapping(file, z, path)? {
        let name = key_str(file, k, path)?;
        let p = join(path, &name);
        let vals = values(file, val, &p)?;
        if let Some((first, fv)) = members.first() {
            let fv: &Vec<Value> = fv;
            if fv.len() != vals.len() {
                return Err(invalid(
                    file,
                    &p,
                    format!(
                        "zip member `{name}` has {} values but `{first}` has {}",
                        vals.len(),
                        fv.len()
                    ),
                    Some(
                        "axes in a zip move together, so they need the same number of values"
                            .into(),
                    ),
                ));
            }
        }
        members.push((name, vals));
    }
    if members.is_empty() {
        return Err(invalid(
            file,
            path,
            "a zip needs at least one axis".into(),
            None,
        ));
    }
    Ok(members)
}

/// A scalar is one value; a list is many; an empty list is an error.
fn values(file: &YamlFile, v: &Yaml, path: &str) -> Result<Vec<Value>, MatrixError> {
    let vals: Vec<Value> = match v {
        Yaml::Sequence(items) => items
            .iter()
            .enumerate()
            .map(|(i, it)| to_json(file, it, &join(path, &i.to_string())))
            .collect::<Result<_, _>>()?,
        other => vec![to_json(file, other, path)?],
    };
    if vals.is_empty() {
        return Err(invalid(
            file,
            path,
            "an axis needs at least one value".into(),
            None,
        ));
    }
    Ok(vals)
}

fn parse_derive(file: &YamlFile, v: Option<&Yaml>) -> Result<Vec<Derive>, MatrixError> {
    let Some(v) = v else { return Ok(Vec::new()) };
    let mut out = Vec::new();
    for (k, val) in as_mapping(file, v, "derive")? {
        let name = key_str(file, k, "derive")?;
        let path = join("derive", &name);
        let template = match val {
            Yaml::String(s) => s.clone(),
            _ => {
                return Err(invalid(
                    file,
                    &path,
                    "a derived value is a template string".into(),
                    Some("e.g. num_prompts: \"{{ [300 * request_rate, 2400] | min }}\"".into()),
                ));
            }
        };
        out.push(Derive {
            name,
            template,
            path,
        });
    }
    Ok(out)
}

fn parse_filters(
    file: &YamlFile,
    v: Option<&Yaml>,
    what: &str,
) -> Result<Vec<Filter>, MatrixError> {
    let Some(v) = v else { return Ok(Vec::new()) };
    let Yaml::Sequence(items) = v else {
        return Err(invalid(
            file,
            what,
            format!("`{what}` is a list of axis → value(s) maps"),
            None,
        ));
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let path = join(what, &i.to_string());
        let mut entries = Vec::new();
        for (k, val) in as_mapping(file, item, &path)? {
            let name = key_str(file, k, &path)?;
            let p = join(&path, &name);
            entries.push((name, values(file, val, &p)?));
        }
        if entries.is_empty() {
            return Err(invalid(
                file,
                &path,
                format!("an empty `{what}` entry matches everything"),
                None,
            ));
        }
        out.push(Filter { entries, path });
    }
    Ok(out)
}

fn parse_constraints(file: &YamlFile, v: Option<&Yaml>) -> Result<Vec<Constraint>, MatrixError> {
    let Some(v) = v else { return Ok(Vec::new()) };
    let Yaml::Sequence(items) = v else {
        return Err(invalid(
            file,
            "constraints",
            "`constraints` is a list".into(),
            None,
        ));
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let path = join("constraints", &i.to_string());
        let get = |k: &str| item.get(k).and_then(Yaml::as_str).map(str::to_string);
        for (k, _) in as_mapping(file, item, &path)? {
            let key = key_str(file, k, &path)?;
            if !["require", "else", "message"].contains(&key.as_str()) {
                return Err(invalid(
                    file,
                    &join(&path, &key),
                    format!("unknown key `{key}` in a constraint"),
                    Some(hint_known(&key, &["require", "else", "message"])),
                ));
            }
        }
        let expr = get("require").ok_or_else(|| {
            invalid(
                file,
                &path,
                "a constraint needs `require: <expression>`".into(),
                None,
            )
        })?;
        let on_fail =
            match get("else").as_deref() {
                None | Some("prune") => OnFail::Prune,
                Some("reject") => OnFail::Reject,
                Some(other) => return Err(invalid(
                    file,
                    &join(&path, "else"),
                    format!("`else: {other}` is not an action"),
                    Some(
                        "use `else: prune` (drop the cell) or `else: reject` (stop with an error)"
                            .into(),
                    ),
                )),
            };
        out.push(Constraint {
            expr,
            on_fail,
            message: get("message"),
            path,
        });
    }
    Ok(out)
}

pub(crate) fn invalid(
    file: &YamlFile,
    path: &str,
    message: String,
    hint: Option<String>,
) -> MatrixError {
    MatrixError::Invalid {
        origin: file.origin(path),
        message,
        hint,
    }
}

fn hint_known(key: &str, known: &[&str]) -> String {
    match crate::suggest::did_you_mean(key, known.iter().copied()) {
        Some(s) => format!("did you mean `{s}`? known keys here: {}", known.join(", ")),
        None => format!("known keys here: {}", known.join(", ")),
    }
}
