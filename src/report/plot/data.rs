//! The cells a plot draws: `--only` selection, a cell's value of a metric
//! (the median of its repeats, as compare and the database use), and the
//! grouping of cells into series by the columns that vary.

use std::cmp::Ordering;
use std::collections::BTreeSet;

use crate::record::db::store::median;
use crate::record::db::{CellRecord, RunRecord};

use super::error::PlotError;

/// One cell with the run it belongs to.
#[derive(Debug, Clone, Copy)]
pub struct Cell<'a> {
    pub run: &'a RunRecord,
    pub cell: &'a CellRecord,
}

impl<'a> Cell<'a> {
    /// A column's text (the key first, then the row), `None` when empty.
    pub fn column(&self, name: &str) -> Option<&'a str> {
        self.cell
            .key
            .get(name)
            .or_else(|| self.cell.row.get(name))
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// A column as a number.
    pub fn number(&self, name: &str) -> Option<f64> {
        self.column(name).and_then(|v| v.trim().parse::<f64>().ok())
    }

    /// The value of a metric: the median of the repeats that have it, else
    /// the CSV row's value. `None` when absent or not finite.
    pub fn value(&self, metric: &str) -> Option<f64> {
        let vs: Vec<f64> = self
            .cell
            .samples
            .iter()
            .filter_map(|s| s.get(metric).copied())
            .filter(|v| v.is_finite())
            .collect();
        let v = if vs.is_empty() {
            self.cell.row.get(metric)?.trim().parse::<f64>().ok()?
        } else {
            median(vs)
        };
        v.is_finite().then_some(v)
    }
}

/// The ok cells of `runs` that pass `--only` (an axis no cell has, or a
/// selection that leaves nothing, is an error naming what there is).
pub fn select<'a>(
    runs: &'a [RunRecord],
    only: &[(String, Vec<String>)],
) -> Result<Vec<Cell<'a>>, PlotError> {
    let all: Vec<Cell<'a>> = runs
        .iter()
        .flat_map(|run| run.cells.iter().map(move |cell| Cell { run, cell }))
        .filter(|c| c.cell.status == "ok")
        .collect();
    for (axis, _) in only {
        if !all.iter().any(|c| c.column(axis).is_some()) {
            let mut axes: BTreeSet<String> = BTreeSet::new();
            for c in &all {
                axes.extend(c.cell.key.keys().cloned());
            }
            return Err(PlotError::UnknownAxis {
                axis: axis.clone(),
                axes: axes.into_iter().collect(),
            });
        }
    }
    let kept: Vec<Cell<'a>> = all
        .iter()
        .copied()
        .filter(|c| {
            only.iter()
                .all(|(axis, vs)| c.column(axis).is_some_and(|v| vs.iter().any(|w| w == v)))
        })
        .collect();
    if kept.is_empty() && !all.is_empty() {
        let values = only
            .iter()
            .map(|(axis, _)| {
                let vs: BTreeSet<&str> = all.iter().filter_map(|c| c.column(axis)).collect();
                format!("{axis}={}", sorted(vs).join(","))
            })
            .collect();
        return Err(PlotError::EmptySelection {
            only: only
                .iter()
                .map(|(a, vs)| format!("{a}={}", vs.join(",")))
                .collect::<Vec<_>>()
                .join(" "),
            values,
        });
    }
    Ok(kept)
}

/// Numbers as numbers, then text.
pub fn cmp_text(a: &str, b: &str) -> Ordering {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        (Ok(_), Err(_)) => Ordering::Less,
        (Err(_), Ok(_)) => Ordering::Greater,
        _ => a.cmp(b),
    }
}

fn sorted(vs: BTreeSet<&str>) -> Vec<&str> {
    let mut v: Vec<&str> = vs.into_iter().collect();
    v.sort_by(|a, b| cmp_text(a, b));
    v
}

/// Cells grouped into series: every key column (but `exclude`) whose value
/// differs between the cells names the series (`deploy=tp8 input_len=1024`),
/// and the run id does when the cells come from several runs. Series in
/// the order of their values (numbers numerically).
pub fn group<'a>(cells: &[Cell<'a>], exclude: &[&str]) -> Vec<(String, Vec<Cell<'a>>)> {
    let mut columns: BTreeSet<&str> = BTreeSet::new();
    for c in cells {
        columns.extend(c.cell.key.keys().map(String::as_str));
    }
    let varying: Vec<&str> = columns
        .into_iter()
        .filter(|col| !exclude.contains(col))
        .filter(|col| {
            let vs: BTreeSet<Option<&str>> = cells.iter().map(|c| c.column(col)).collect();
            vs.len() > 1
        })
        .collect();
    let runs: BTreeSet<&str> = cells.iter().map(|c| c.run.run_id.as_str()).collect();
    let with_run = runs.len() > 1;
    let ident = |c: &Cell<'a>| -> Vec<String> {
        let mut v = Vec::new();
        if with_run {
            v.push(c.run.run_id.clone());
        }
        v.extend(
            varying
                .iter()
                .map(|col| c.column(col).unwrap_or("").to_string()),
        );
        v
    };
    let mut groups: Vec<(Vec<String>, Vec<Cell<'a>>)> = Vec::new();
    for c in cells {
        let id = ident(c);
        match groups.iter_mut().find(|(k, _)| *k == id) {
            Some((_, v)) => v.push(*c),
            None => groups.push((id, vec![*c])),
        }
    }
    groups.sort_by(|(a, _), (b, _)| {
        a.iter()
            .zip(b.iter())
            .map(|(x, y)| cmp_text(x, y))
            .find(|o| *o != Ordering::Equal)
            .unwrap_or(Ordering::Equal)
    });
    groups
        .into_iter()
        .map(|(id, cells)| {
            let mut parts: Vec<String> = Vec::new();
            let mut it = id.iter();
            if with_run {
                parts.push(it.next().cloned().unwrap_or_default());
            }
            for (col, v) in varying.iter().zip(it) {
                parts.push(format!("{col}={}", if v.is_empty() { "-" } else { v }));
            }
            let name = if parts.is_empty() {
                cells[0]
                    .column("model")
                    .map(str::to_string)
                    .unwrap_or_else(|| "all cells".into())
            } else {
                parts.join(" ")
            };
            (name, cells)
        })
        .collect()
}

/// The unit of a metric column, for axis labels.
pub fn unit(metric: &str) -> &'static str {
    if metric.ends_with("_ms") {
        "ms"
    } else if metric.ends_with("_s") {
        "s"
    } else if metric == "request_throughput" {
        "requests/s"
    } else if metric.contains("throughput") {
        "tokens/s"
    } else if metric.ends_with("_mfu") || metric.ends_with("_mbu") {
        "fraction of peak"
    } else {
        "value"
    }
}

/// The run ids of the cells, for titles (`a, b` or `a + 2 more`).
pub fn runs_label(cells: &[Cell<'_>]) -> String {
    let mut ids: Vec<&str> = Vec::new();
    for c in cells {
        if !ids.contains(&c.run.run_id.as_str()) {
            ids.push(&c.run.run_id);
        }
    }
    match ids.len() {
        0 => String::new(),
        1 | 2 => ids.join(", "),
        n => format!("{} + {} more", ids[0], n - 1),
    }
}

/// Should an x axis be drawn in powers of two: all positive, spanning at
/// least a factor of 4.
pub fn log2_axis(xs: impl Iterator<Item = f64>) -> bool {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for x in xs {
        if x <= 0.0 || !x.is_finite() {
            return false;
        }
        lo = lo.min(x);
        hi = hi.max(x);
    }
    lo.is_finite() && hi / lo >= 4.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::db::model::cell_key;
    use indexmap::IndexMap;

    fn cell(pairs: &[(&str, &str)]) -> CellRecord {
        let row: IndexMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        CellRecord {
            status: "ok".into(),
            key: cell_key(&row),
            row,
            ..CellRecord::default()
        }
    }

    #[test]
    fn series_are_named_by_the_columns_that_vary_numbers_in_order() {
        let run = RunRecord {
            run_id: "r".into(),
            cells: vec![
                cell(&[("deploy", "tp8"), ("bsz", "1"), ("input_len", "1024")]),
                cell(&[("deploy", "tp8"), ("bsz", "2"), ("input_len", "128")]),
                cell(&[("deploy", "tp8"), ("bsz", "1"), ("input_len", "128")]),
            ],
            ..RunRecord::default()
        };
        let runs = [run];
        let cells = select(&runs, &[]).unwrap();
        let groups = group(&cells, &["bsz"]);
        let names: Vec<&str> = groups.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["input_len=128", "input_len=1024"]);
        assert_eq!(groups[0].1.len(), 2);
    }

    #[test]
    fn value_is_the_median_of_the_repeats_else_the_row() {
        let mut c = cell(&[("bsz", "1"), ("e2e_latency_s", "9")]);
        let run = RunRecord::default();
        let at = |c: &CellRecord, m: &str| Cell { run: &run, cell: c }.value(m);
        assert_eq!(at(&c, "e2e_latency_s"), Some(9.0));
        c.samples = [3.0, 1.0, 2.0]
            .iter()
            .map(|v| [("e2e_latency_s".to_string(), *v)].into_iter().collect())
            .collect();
        assert_eq!(at(&c, "e2e_latency_s"), Some(2.0));
        assert_eq!(at(&c, "prefill_latency_s"), None);
    }

    #[test]
    fn log2_axis_needs_positive_values_spanning_a_factor_of_four() {
        assert!(log2_axis([1.0, 2.0, 4.0].into_iter()));
        assert!(!log2_axis([1.0, 2.0].into_iter()));
        assert!(!log2_axis([0.0, 8.0].into_iter()));
    }
}
