//! The product of the axis groups: every point (one value per axis), the
//! bsz_seq.csv products as the innermost axis, and `exclude:`.

use camino::Utf8PathBuf;
use serde_json::Value;

use crate::config::overrides::Override;
use crate::config::sections::Section;
use crate::config::yaml::Origin;

use super::MatrixError;
use super::axis::{self, Axis, AxisGroup, AxisSource, Choice, Target};
use super::bsz_seq::{self, BszSeqLine};
use super::expand::{ExpandInput, abs, shown};
use super::expander::uses_bsz_seq;
use super::file::MatrixFile;

/// One assignment of axis values being turned into a cell.
pub(super) struct Point<'a> {
    pub(super) values: Vec<(&'a Axis, &'a Value)>,
    pub(super) line: Option<&'a BszSeqLine>,
    pub(super) bsz_seq: Option<(u64, u64)>,
}

/// Visit every combination of the groups (last group fastest).
pub(super) fn for_each_point<'a, F>(
    groups: &'a [AxisGroup],
    lines: &'a [BszSeqLine],
    mut f: F,
) -> Result<(), MatrixError>
where
    F: FnMut(Point<'a>) -> Result<(), MatrixError>,
{
    if groups.iter().any(|g| g.is_empty()) {
        return Ok(());
    }
    let mut idx = vec![0usize; groups.len()];
    loop {
        let mut point = Point {
            values: Vec::new(),
            line: None,
            bsz_seq: None,
        };
        for (g, &i) in groups.iter().zip(&idx) {
            for a in &g.members {
                if g.source == AxisSource::BszSeq {
                    let v = &a.values[i];
                    let li = v[0].as_u64().unwrap_or(0) as usize;
                    point.line = lines.get(li);
                    point.bsz_seq = Some((v[1].as_u64().unwrap_or(0), v[2].as_u64().unwrap_or(0)));
                } else {
                    point.values.push((a, &a.values[i]));
                }
            }
        }
        f(point)?;
        // Odometer step, last group fastest.
        let mut k = groups.len();
        loop {
            if k == 0 {
                return Ok(());
            }
            k -= 1;
            idx[k] += 1;
            if idx[k] < groups[k].len() {
                break;
            }
            idx[k] = 0;
        }
    }
}

pub(super) fn is_excluded(matrix: Option<&MatrixFile>, point: &Point<'_>) -> bool {
    let Some(m) = matrix else { return false };
    m.exclude.iter().any(|f| {
        f.entries.iter().all(|(name, vals)| {
            point_value(point, name).is_some_and(|v| vals.iter().any(|x| axis::same(x, &v)))
        })
    })
}

pub(super) fn point_value(point: &Point<'_>, name: &str) -> Option<Value> {
    let name = axis::canonical(name);
    let name = name.as_str();
    if let Some((_, v)) = point.values.iter().find(|(a, _)| a.name == name) {
        return Some((*v).clone());
    }
    match (name, point.bsz_seq) {
        ("bsz", Some((b, _))) => Some(Value::from(b)),
        ("seq", Some((_, s))) => Some(Value::from(s)),
        _ => None,
    }
}

/// In latency mode the bsz_seq products are the innermost axis, unless
/// `bsz` or `seq` is swept or set explicitly. `--bsz-seq` always applies.
pub(super) fn bsz_seq_lines(
    input: &ExpandInput,
    matrix: Option<&MatrixFile>,
    groups: &[AxisGroup],
    overrides: &[Override],
) -> Result<Option<(String, Vec<BszSeqLine>)>, MatrixError> {
    let explicit = input
        .bsz_seq
        .clone()
        .or_else(|| matrix.and_then(|m| m.bsz_seq.clone()));
    let modes = mode_values(input, groups);
    if !modes.iter().any(|m| uses_bsz_seq(m)) {
        return match explicit {
            Some(_) => Err(MatrixError::Invalid {
                origin: Origin {
                    file: "--bsz-seq".into(),
                    location: None,
                },
                message: "a bsz_seq file applies to latency mode only".into(),
                hint: Some(
                    "serving cells take `seq` and `output_len` as axes or workload keys".into(),
                ),
            }),
            None => Ok(None),
        };
    }
    let given = |k: &str| {
        groups.iter().any(|g| {
            g.members
                .iter()
                .any(|a| a.target == Target::Key(Section::Workload, k.into()))
        }) || overrides
            .iter()
            .any(|o| o.section == Section::Workload && o.key == k)
            || matrix.is_some_and(|m| m.set.common.workload.contains_key(k))
    };
    let path = match explicit {
        Some(p) => p,
        None if given("bsz") || given("seq") => return Ok(None),
        None => Utf8PathBuf::from("matrices/bsz_seq.csv"),
    };
    let shown_path = shown(&input.root, &path);
    let lines = bsz_seq::read(&abs(&input.root, &path), &shown_path)?;
    Ok(Some((shown_path, lines)))
}

pub(super) fn mode_values(input: &ExpandInput, groups: &[AxisGroup]) -> Vec<String> {
    for g in groups {
        for a in &g.members {
            if a.target == Target::Choice(Choice::Mode) {
                return a
                    .values
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect();
            }
        }
    }
    let _ = input;
    vec![
        Choice::Mode
            .default_value()
            .unwrap_or("latency")
            .to_string(),
    ]
}

/// The bsz_seq products as one axis of (line, bsz, seq) entries.
pub(super) fn bsz_seq_group(lines: &[BszSeqLine]) -> AxisGroup {
    let mut values = Vec::new();
    for (li, l) in lines.iter().enumerate() {
        for b in &l.bszs {
            for s in &l.seqs {
                values.push(serde_json::json!([li, b, s]));
            }
        }
    }
    AxisGroup {
        members: vec![Axis {
            name: "bsz_seq".into(),
            target: Target::Key(Section::Workload, "bsz_seq".into()),
            values,
        }],
        source: AxisSource::BszSeq,
    }
}

pub(super) fn is_first_product(point: &Point<'_>) -> bool {
    match (point.line, point.bsz_seq) {
        (Some(l), Some((b, s))) => {
            l.line == 0 || (Some(&b) == l.bszs.first() && Some(&s) == l.seqs.first())
        }
        _ => true,
    }
}
