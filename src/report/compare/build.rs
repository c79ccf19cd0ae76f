//! Building a [`CompareReport`] from two runs held in memory: cells matched
//! by their key, one [`MetricInput`] per (matched ok cell, judged metric),
//! the verdicts from a judge (`stats::compare_all`), rows sorted.

use std::collections::{BTreeMap, BTreeSet};

use indexmap::IndexMap;

use crate::record::db::model::{better, key_text};
use crate::record::db::{Better, CellKey, CellRecord, RunRecord};
use crate::report::compare::manifest_diff::manifest_diffs;
use crate::report::compare::model::{CompareOptions, CompareReport, HistorySource, Row, Side};
use crate::report::error::ReportError;
use crate::report::stats::{Comparison, MIN_REPEATS, Verdict};

/// One metric of one matched cell, as the statistics compare it: the
/// fields of `stats::Pair`, so a judge converts it field by field.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricInput {
    /// Every repeat of each side.
    pub base: Vec<f64>,
    pub new: Vec<f64>,
    /// The cell's value in earlier runs, oldest first (may be empty).
    pub history: Vec<f64>,
    pub better: Better,
    /// Pooling group: the metric name.
    pub family: String,
}

/// `--only axis=v,..`: keep the cells whose key has one of the values.
pub type OnlyFilter = Vec<(String, Vec<String>)>;

/// Parse `--only` arguments (`bsz=1,64`), repeated or comma-joined per axis.
pub fn parse_only(args: &[String]) -> Result<OnlyFilter, ReportError> {
    let mut out: OnlyFilter = Vec::new();
    for arg in args {
        let (axis, values) = arg
            .split_once('=')
            .ok_or_else(|| ReportError::OnlySyntax { arg: arg.clone() })?;
        let axis = axis.trim();
        let values: Vec<String> = values
            .split(',')
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect();
        if axis.is_empty() || values.is_empty() {
            return Err(ReportError::OnlySyntax { arg: arg.clone() });
        }
        out.push((axis.to_string(), values));
    }
    Ok(out)
}

fn side(selector: &str, run: &RunRecord) -> Side {
    Side {
        selector: selector.to_string(),
        run_id: run.run_id.clone(),
        started_at: run.started_at.clone(),
        engine: run.engine.clone(),
        engine_version: run.engine_version.clone(),
        image: run.image.clone(),
        git_sha: run.git_sha.clone(),
        host: run.host.clone(),
        gpu: run.gpu.clone(),
        extras: run.extras.clone(),
    }
}

/// The values of `metric` of a cell: every repeat's sample, or the CSV row's
/// value when the source kept no samples.
pub fn samples_of(cell: &CellRecord, metric: &str) -> Vec<f64> {
    let from_samples: Vec<f64> = cell
        .samples
        .iter()
        .filter_map(|s| s.get(metric).copied())
        .filter(|v| v.is_finite())
        .collect();
    if !from_samples.is_empty() {
        return from_samples;
    }
    cell.row
        .get(metric)
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|v| v.is_finite())
        .into_iter()
        .collect()
}

/// Judged metrics a cell has a value for, in first-seen order.
fn metrics_of(cell: &CellRecord, out: &mut IndexMap<String, Better>) {
    let names = cell
        .samples
        .iter()
        .flat_map(|s| s.keys())
        .chain(cell.row.keys());
    for m in names {
        if let Some(b) = better(m) {
            if !out.contains_key(m) && !samples_of(cell, m).is_empty() {
                out.insert(m.clone(), b);
            }
        }
    }
}

/// The part of a key that varies between cells, as a person reads it
/// (`deploy=tp8 bsz=64`); the whole key when nothing varies.
pub struct Labeler {
    varying: BTreeSet<String>,
}

impl Labeler {
    pub fn new<'a>(keys: impl IntoIterator<Item = &'a CellKey>) -> Labeler {
        let mut values: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        let mut count = 0usize;
        let mut present: BTreeMap<&str, usize> = BTreeMap::new();
        for key in keys {
            count += 1;
            for (k, v) in key {
                values.entry(k).or_default().insert(v);
                *present.entry(k).or_default() += 1;
            }
        }
        let varying = values
            .iter()
            .filter(|(k, vs)| vs.len() > 1 || present[*k] != count)
            .map(|(k, _)| k.to_string())
            .collect();
        Labeler { varying }
    }

    pub fn label(&self, key: &CellKey) -> String {
        let parts: Vec<String> = key
            .iter()
            .filter(|(k, _)| self.varying.contains(*k))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        if parts.is_empty() {
            key_text(key).replace(';', " ")
        } else {
            parts.join(" ")
        }
    }
}

fn rank(v: Verdict) -> u8 {
    match v {
        Verdict::Regression => 0,
        Verdict::Improvement => 1,
        Verdict::Inconclusive => 2,
        Verdict::Unchanged => 3,
    }
}

/// Compare two runs. `judge` gets every metric input at once (one call:
/// the false discovery rate is controlled across the whole report) and
/// returns one comparison per input, same order.
#[allow(clippy::too_many_arguments)]
pub fn build(
    base_selector: &str,
    base: &RunRecord,
    new_selector: &str,
    new: &RunRecord,
    opts: &CompareOptions,
    only: &OnlyFilter,
    history: &dyn HistorySource,
    judge: impl FnOnce(&[MetricInput]) -> Vec<Comparison>,
) -> Result<CompareReport, ReportError> {
    // Validate --only axes and --metric names against both runs.
    let axes: BTreeSet<&String> = base
        .cells
        .iter()
        .chain(&new.cells)
        .flat_map(|c| c.key.keys())
        .collect();
    for (axis, _) in only {
        if !axes.contains(axis) {
            return Err(ReportError::CompareUnknownAxis {
                axis: axis.clone(),
                axes: axes.iter().map(|a| a.to_string()).collect(),
            });
        }
    }
    let keep = |c: &CellRecord| {
        only.iter().all(|(axis, values)| {
            c.key
                .get(axis)
                .is_some_and(|v| values.iter().any(|w| w == v))
        })
    };
    let base_cells: Vec<&CellRecord> = base.cells.iter().filter(|c| keep(c)).collect();
    let new_cells: Vec<&CellRecord> = new.cells.iter().filter(|c| keep(c)).collect();

    let mut known: IndexMap<String, Better> = IndexMap::new();
    for c in base.cells.iter().chain(&new.cells) {
        metrics_of(c, &mut known);
    }
    if let Some(wanted) = &opts.metrics {
        for m in wanted {
            if !known.contains_key(m) {
                let mut metrics: Vec<String> = known.keys().cloned().collect();
                metrics.sort();
                return Err(ReportError::UnknownMetric {
                    metric: m.clone(),
                    metrics,
                });
            }
        }
    }

    let labeler = Labeler::new(base_cells.iter().chain(&new_cells).map(|c| &c.key));
    let index = |cells: &[&CellRecord]| -> BTreeMap<String, usize> {
        // Last cell of a key wins (a resumed run records the retry last).
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| (key_text(&c.key), i))
            .collect()
    };
    let base_by_key = index(&base_cells);
    let new_by_key = index(&new_cells);

    let mut only_base = Vec::new();
    let mut only_new = Vec::new();
    let mut failed = Vec::new();
    let mut inputs = Vec::new();
    let mut meta: Vec<(CellKey, String, String)> = Vec::new();
    for (kt, &bi) in &base_by_key {
        let b = base_cells[bi];
        let Some(&ni) = new_by_key.get(kt) else {
            only_base.push(labeler.label(&b.key));
            continue;
        };
        let n = new_cells[ni];
        let label = labeler.label(&b.key);
        if b.status != "ok" || n.status != "ok" {
            let which = match (b.status == "ok", n.status == "ok") {
                (false, false) => format!("{label} (base: {}, new: {})", b.status, n.status),
                (false, true) => format!("{label} (base: {})", b.status),
                _ => format!("{label} (new: {})", n.status),
            };
            failed.push(which);
            continue;
        }
        let mut metrics = IndexMap::new();
        metrics_of(b, &mut metrics);
        for (metric, dir) in metrics {
            if let Some(wanted) = &opts.metrics {
                if !wanted.contains(&metric) {
                    continue;
                }
            }
            let bs = samples_of(b, &metric);
            let ns = samples_of(n, &metric);
            if bs.is_empty() || ns.is_empty() {
                continue;
            }
            // The history is only used when a side has too few repeats to
            // test on: do not query it otherwise (one query per pair was
            // most of a 10,000-cell comparison's time).
            let few = bs.len() < MIN_REPEATS || ns.len() < MIN_REPEATS;
            inputs.push(MetricInput {
                history: if few {
                    history.history(&b.key, &metric)
                } else {
                    Vec::new()
                },
                base: bs,
                new: ns,
                better: dir,
                family: metric.clone(),
            });
            meta.push((b.key.clone(), label.clone(), metric));
        }
    }
    for (kt, &ni) in &new_by_key {
        if !base_by_key.contains_key(kt) {
            only_new.push(labeler.label(&new_cells[ni].key));
        }
    }

    let comparisons = if inputs.is_empty() {
        Vec::new()
    } else {
        judge(&inputs)
    };
    debug_assert_eq!(comparisons.len(), inputs.len());
    let mut rows: Vec<Row> = meta
        .into_iter()
        .zip(comparisons)
        .map(|((key, label, metric), comparison)| Row {
            key,
            label,
            metric,
            comparison,
        })
        .collect();
    rows.sort_by(|a, b| {
        rank(a.comparison.verdict)
            .cmp(&rank(b.comparison.verdict))
            .then_with(|| a.label.cmp(&b.label))
            .then_with(|| a.metric.cmp(&b.metric))
    });
    only_base.sort();
    only_new.sort();
    failed.sort();

    Ok(CompareReport {
        base: side(base_selector, base),
        new: side(new_selector, new),
        manifest_diffs: manifest_diffs(base, new),
        min_effect_pct: opts.min_effect_pct,
        alpha: opts.alpha,
        rows,
        only_base,
        only_new,
        failed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(pairs: &[(&str, &str)]) -> CellKey {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn label_shows_only_varying_axes() {
        let a = key(&[("engine", "sim"), ("bsz", "1")]);
        let b = key(&[("engine", "sim"), ("bsz", "64")]);
        let l = Labeler::new([&a, &b]);
        assert_eq!(l.label(&a), "bsz=1");
        let one = Labeler::new([&a]);
        assert_eq!(one.label(&a), "bsz=1 engine=sim");
    }

    #[test]
    fn only_syntax() {
        let f = parse_only(&["bsz=1,64".into()]).unwrap();
        assert_eq!(f, vec![("bsz".to_string(), vec!["1".into(), "64".into()])]);
        assert!(parse_only(&["bsz".into()]).is_err());
        assert!(parse_only(&["bsz=".into()]).is_err());
    }
}
