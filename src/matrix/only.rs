//! `--only AXIS=V1,V2`: run a slice of a matrix without editing it.
//!
//! A shipped matrix (the SGLang-vs-vLLM reproduction) is sized for a GPU
//! cluster; CI and a first try on a laptop want a few of its cells. `--set`
//! cannot do that: setting a swept key is refused, so a sweep is never
//! flattened by accident. `--only` says it on purpose: it keeps the rows of
//! an axis (or of a zip, by any of its members) whose value is listed, and
//! refuses a name that is not swept or a value the axis does not have, so
//! a typo never silently runs the whole matrix or nothing.

use serde_json::Value;

use super::MatrixError;
use super::axis::{self, AxisGroup};
use crate::config::yaml::Origin;

/// One parsed `--only NAME=V1,V2`.
#[derive(Debug, Clone)]
pub struct Only {
    pub name: String,
    pub values: Vec<Value>,
    /// The argument as given, for messages.
    pub arg: String,
}

/// Parse `NAME=V1,V2` (values read as YAML scalars, like `--set`).
pub fn parse(arg: &str) -> Result<Only, MatrixError> {
    let bad = |message: String| MatrixError::Invalid {
        origin: origin(arg),
        message,
        hint: Some("write --only AXIS=VALUE[,VALUE...], e.g. --only request_rate=inf,4".into()),
    };
    let (name, list) = arg
        .split_once('=')
        .ok_or_else(|| bad("expected AXIS=VALUES".into()))?;
    let name = name.trim();
    if name.is_empty() || list.trim().is_empty() {
        return Err(bad(
            "both the axis name and at least one value are needed".into()
        ));
    }
    let values = list
        .split(',')
        .map(|v| {
            serde_yaml::from_str::<Value>(v.trim())
                .map_err(|e| bad(format!("cannot read value `{v}`: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Only {
        name: name.to_string(),
        values,
        arg: arg.to_string(),
    })
}

fn origin(arg: &str) -> Origin {
    Origin {
        file: format!("--only {arg}"),
        location: None,
    }
}

/// Keep the rows of the named axes whose value is listed. Every name must be
/// swept and every value one of its values.
pub fn restrict(groups: &mut [AxisGroup], only: &[Only]) -> Result<(), MatrixError> {
    for o in only {
        let Some((g, m)) = find(groups, &o.name) else {
            let swept: Vec<String> = groups
                .iter()
                .flat_map(|g| g.members.iter().map(|m| m.name.clone()))
                .collect();
            return Err(MatrixError::Invalid {
                origin: origin(&o.arg),
                message: format!("`{}` is not an axis of this sweep", o.name),
                hint: Some(format!("axes: {}", swept.join(", "))),
            });
        };
        let have = &groups[g].members[m].values;
        if let Some(v) = o
            .values
            .iter()
            .find(|v| !have.iter().any(|h| axis::same(h, v)))
        {
            return Err(MatrixError::Invalid {
                origin: origin(&o.arg),
                message: format!("axis `{}` has no value {v}", o.name),
                hint: Some(format!("its values: {}", show(have))),
            });
        }
        keep_rows(&mut groups[g], m, &o.values);
    }
    Ok(())
}

/// Like [`restrict`] for an `include:` entry's groups: rows are filtered,
/// names or values the entry does not sweep are left alone. Returns false
/// when nothing of the entry is left.
pub fn restrict_lenient(groups: &mut [AxisGroup], only: &[Only]) -> bool {
    for o in only {
        if let Some((g, m)) = find(groups, &o.name) {
            keep_rows(&mut groups[g], m, &o.values);
            if groups[g].is_empty() {
                return false;
            }
        }
    }
    true
}

/// The group and member of axis `name` (a server key by either spelling).
fn find(groups: &[AxisGroup], name: &str) -> Option<(usize, usize)> {
    let name = axis::canonical(name);
    let name = name.as_str();
    groups.iter().enumerate().find_map(|(g, group)| {
        group
            .members
            .iter()
            .position(|m| m.name == name)
            .map(|m| (g, m))
    })
}

/// Keep row `i` of every member of a (zip) group when member `m`'s value at
/// `i` is listed.
fn keep_rows(group: &mut AxisGroup, m: usize, values: &[Value]) {
    let keep: Vec<bool> = group.members[m]
        .values
        .iter()
        .map(|v| values.iter().any(|x| axis::same(x, v)))
        .collect();
    for member in &mut group.members {
        let mut i = 0;
        member.values.retain(|_| {
            i += 1;
            keep[i - 1]
        });
    }
}

fn show(values: &[Value]) -> String {
    values
        .iter()
        .map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::axis::{Axis, AxisSource};
    use serde_json::json;

    fn zip() -> Vec<AxisGroup> {
        let member = |name: &str, values: Vec<Value>| Axis {
            name: name.into(),
            target: axis::target(name),
            values,
        };
        vec![
            AxisGroup {
                members: vec![
                    member("seq", vec![json!(1024), json!(4096)]),
                    member("output_len", vec![json!(512), json!(1024)]),
                ],
                source: AxisSource::File {
                    path: "axes.shape".into(),
                },
            },
            AxisGroup {
                members: vec![member(
                    "request_rate",
                    vec![json!("inf"), json!(1), json!(2)],
                )],
                source: AxisSource::File {
                    path: "axes.request_rate".into(),
                },
            },
        ]
    }

    #[test]
    fn keeps_listed_rows_of_zips_and_axes() {
        let mut g = zip();
        let only = [
            parse("seq=4096").unwrap(),
            parse("request_rate=inf,2").unwrap(),
        ];
        restrict(&mut g, &only).unwrap();
        assert_eq!(g[0].members[0].values, vec![json!(4096)]);
        assert_eq!(g[0].members[1].values, vec![json!(1024)]);
        assert_eq!(g[1].members[0].values, vec![json!("inf"), json!(2)]);
    }

    #[test]
    fn unknown_axis_or_value_is_an_error() {
        let e = restrict(&mut zip(), &[parse("bsz=1").unwrap()]).unwrap_err();
        assert!(e.to_string().contains("`bsz` is not an axis"), "{e}");
        let e = restrict(&mut zip(), &[parse("seq=2048").unwrap()]).unwrap_err();
        assert!(e.to_string().contains("has no value 2048"), "{e}");
        assert!(e.hint().unwrap().contains("1024, 4096"));
        assert!(parse("seq").is_err());
        assert!(parse("seq=").is_err());
    }

    #[test]
    fn lenient_filter_drops_an_emptied_include() {
        let mut g = zip();
        assert!(!restrict_lenient(&mut g, &[parse("seq=8").unwrap()]));
        let mut g = zip();
        assert!(restrict_lenient(&mut g, &[parse("mode=latency").unwrap()]));
    }
}
