//! Axis groups: the layer choices of the command line and the matrix
//! file's axes (and `include:` entries) as the groups whose product is
//! expanded, with their values checked and no axis declared twice.

use std::collections::HashMap;

use indexmap::IndexMap;
use serde_json::Value;

use crate::config::yaml::Origin;

use super::MatrixError;
use super::axis::{self, Axis, AxisGroup, AxisSource, Choice, Target};
use super::file::{MatrixFile, invalid};

/// Layer choices from the command line; an empty list means "not given".
#[derive(Debug, Clone, Default)]
pub struct CliChoices {
    pub values: IndexMap<Choice, Vec<String>>,
}

/// Command-line choices, then the matrix file's axes (a CLI value replaces
/// the file's values of the same choice, keeping the file's position).
pub(super) fn axis_groups(
    cli: &CliChoices,
    matrix: Option<&MatrixFile>,
) -> Result<Vec<AxisGroup>, MatrixError> {
    let in_file = |c: Choice| {
        matrix.is_some_and(|m| {
            m.axes
                .iter()
                .any(|d| d.members.iter().any(|(n, _)| n == c.name()))
        })
    };
    let mut groups = Vec::new();
    for (choice, vals) in &cli.values {
        if vals.is_empty() || in_file(*choice) {
            continue;
        }
        groups.push(cli_group(*choice, vals)?);
    }
    let Some(m) = matrix else { return Ok(groups) };
    for decl in &m.axes {
        let mut members = Vec::new();
        for (name, vals) in &decl.members {
            let target = axis::target(name);
            let vals = match &target {
                Target::Choice(c) if cli.values.get(c).is_some_and(|v| !v.is_empty()) => {
                    if decl.members.len() > 1 {
                        return Err(invalid(
                            &m.file,
                            &decl.path,
                            format!("--{} cannot replace `{name}`, a member of a zip", c.name()),
                            Some(
                                "drop the command-line flag or move the axis out of the zip".into(),
                            ),
                        ));
                    }
                    return_cli_values(&cli.values[c])
                }
                _ => vals.clone(),
            };
            for (i, v) in vals.iter().enumerate() {
                axis::check_value(&target, v).map_err(|expected| MatrixError::Invalid {
                    origin: m.file.origin(&value_path(decl, name, i)),
                    message: format!("invalid value {v} for axis `{name}`: expected {expected}"),
                    hint: None,
                })?;
            }
            members.push(Axis {
                name: axis::canonical(name),
                target,
                values: vals,
            });
        }
        groups.push(AxisGroup {
            members,
            source: AxisSource::File {
                path: decl.path.clone(),
            },
        });
    }
    Ok(groups)
}

pub(super) fn return_cli_values(vals: &[String]) -> Vec<Value> {
    vals.iter().map(|s| Value::String(s.clone())).collect()
}

pub(super) fn value_path(decl: &super::file::AxisDecl, name: &str, i: usize) -> String {
    if decl.members.len() == 1 {
        format!("{}.{i}", decl.path)
    } else {
        format!("{}.zip.{name}.{i}", decl.path)
    }
}

pub(super) fn cli_group(choice: Choice, vals: &[String]) -> Result<AxisGroup, MatrixError> {
    let target = Target::Choice(choice);
    let values = return_cli_values(vals);
    for v in &values {
        axis::check_value(&target, v).map_err(|expected| MatrixError::Invalid {
            origin: Origin {
                file: format!("--{}", choice.name()),
                location: None,
            },
            message: format!("invalid value {v}: expected {expected}"),
            hint: None,
        })?;
    }
    Ok(AxisGroup {
        members: vec![Axis {
            name: choice.name().into(),
            target,
            values,
        }],
        source: AxisSource::Cli,
    })
}

pub(super) fn check_duplicates(
    groups: &[AxisGroup],
    matrix: Option<&MatrixFile>,
) -> Result<(), MatrixError> {
    let mut seen: HashMap<&str, &AxisSource> = HashMap::new();
    for g in groups {
        for a in &g.members {
            if seen.insert(a.name.as_str(), &g.source).is_some() {
                let origin = match (&g.source, matrix) {
                    (AxisSource::File { path }, Some(m)) => m.file.origin(path),
                    _ => Origin {
                        file: "command line".into(),
                        location: None,
                    },
                };
                return Err(MatrixError::Invalid {
                    origin,
                    message: format!("axis `{}` is declared twice", a.name),
                    hint: Some("each axis name may appear once, inside or outside a zip".into()),
                });
            }
        }
    }
    Ok(())
}

/// An include entry: its named axes take the entry's values; other axes keep
/// all their values. Names that are not axes become extra one-value axes.
pub(super) fn include_groups(
    groups: &[AxisGroup],
    filter: &super::file::Filter,
    m: &MatrixFile,
) -> Result<Vec<AxisGroup>, MatrixError> {
    let mut out: Vec<AxisGroup> = groups.to_vec();
    for (name, vals) in &filter.entries {
        let target = axis::target(name);
        for (i, v) in vals.iter().enumerate() {
            axis::check_value(&target, v).map_err(|expected| MatrixError::Invalid {
                origin: m.file.origin(&format!("{}.{name}.{i}", filter.path)),
                message: format!("invalid value {v} for `{name}`: expected {expected}"),
                hint: None,
            })?;
        }
        let canonical = axis::canonical(name);
        let existing = out
            .iter_mut()
            .find(|g| g.members.iter().any(|a| a.name == canonical));
        match existing {
            Some(g) if g.members.len() == 1 => g.members[0].values = vals.clone(),
            Some(_) => {
                return Err(invalid(
                    &m.file,
                    &filter.path,
                    format!("include names `{name}`, a member of a zip"),
                    Some(
                        "include whole zips by their other axes, or move the axis out of the zip"
                            .into(),
                    ),
                ));
            }
            None => out.push(AxisGroup {
                members: vec![Axis {
                    name: canonical,
                    target,
                    values: vals.clone(),
                }],
                source: AxisSource::File {
                    path: filter.path.clone(),
                },
            }),
        }
    }
    Ok(out)
}
