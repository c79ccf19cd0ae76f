//! Compare every (cell, metric) pair of a report: the per-pair test, variance
//! moderation within a family, Benjamini-Hochberg across the report, verdicts.

use std::collections::HashMap;

use statrs::distribution::{ContinuousCDF, StudentsT};

use super::history::{self, median};
use super::moderate::{Prior, fit_prior};
use super::{Better, Comparison, MIN_HISTORY, MIN_REPEATS, Method, Verdict, benjamini_hochberg};

/// What makes a change a verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct Thresholds {
    /// Smallest change (percent) reported as a regression or improvement.
    pub min_effect_pct: f64,
    /// False-discovery rate (Benjamini-Hochberg across the report) and
    /// `1 − alpha` is the level of the confidence intervals.
    pub alpha: f64,
    /// Seed of any resampling (the current methods do not resample; kept so
    /// results stay reproducible if one does).
    pub seed: u64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            min_effect_pct: 3.0,
            alpha: 0.05,
            seed: 0,
        }
    }
}

/// One metric of one matched cell: every repeat of each side, and the cell's
/// history (earlier runs' values, oldest first; may be empty).
#[derive(Debug, Clone, PartialEq)]
pub struct Pair {
    pub base: Vec<f64>,
    pub new: Vec<f64>,
    pub history: Vec<f64>,
    pub better: Better,
    /// Pooling group, e.g. the metric name: cells of one family share a
    /// prior for their noise.
    pub family: String,
}

/// Per-pair numbers before the verdict.
struct Prepared {
    base_med: f64,
    new_med: f64,
    base_n: usize,
    new_n: usize,
    /// Logs usable (every value finite and > 0).
    logs: Option<LogStats>,
}

struct LogStats {
    mean_b: f64,
    mean_n: f64,
    /// Pooled within-cell variance of the logs and its df (n_b + n_n − 2).
    s_sq: f64,
    d: f64,
}

fn log_stats(base: &[f64], new: &[f64]) -> Option<LogStats> {
    let ok = |v: &[f64]| v.iter().all(|x| x.is_finite() && *x > 0.0);
    if base.is_empty() || new.is_empty() || !ok(base) || !ok(new) {
        return None;
    }
    let lb: Vec<f64> = base.iter().map(|x| x.ln()).collect();
    let ln: Vec<f64> = new.iter().map(|x| x.ln()).collect();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (mb, mn) = (mean(&lb), mean(&ln));
    let ss = lb.iter().map(|x| (x - mb).powi(2)).sum::<f64>()
        + ln.iter().map(|x| (x - mn).powi(2)).sum::<f64>();
    let d = (lb.len() + ln.len()) as f64 - 2.0;
    Some(LogStats {
        mean_b: mb,
        mean_n: mn,
        s_sq: if d > 0.0 { ss / d } else { 0.0 },
        d,
    })
}

fn pct(log_ratio: f64) -> f64 {
    (log_ratio.exp() - 1.0) * 100.0
}

/// Compare every pair of a report at once: per-pair test, variance moderation
/// within a family, Benjamini-Hochberg across the whole report, verdicts.
/// Same order as input. Deterministic (no resampling).
pub fn compare_all(pairs: &[Pair], t: &Thresholds) -> Vec<Comparison> {
    let prepared: Vec<Prepared> = pairs
        .iter()
        .map(|p| Prepared {
            base_med: median(&p.base),
            new_med: median(&p.new),
            base_n: p.base.len(),
            new_n: p.new.len(),
            logs: log_stats(&p.base, &p.new),
        })
        .collect();
    let has_repeats =
        |p: &Prepared| p.base_n >= MIN_REPEATS && p.new_n >= MIN_REPEATS && p.logs.is_some();

    // Family priors from the cells that have repeats on both sides.
    let mut fam_vars: HashMap<&str, Vec<(f64, f64)>> = HashMap::new();
    for (pair, prep) in pairs.iter().zip(&prepared) {
        if has_repeats(prep) {
            let l = prep.logs.as_ref().expect("checked");
            fam_vars
                .entry(&pair.family)
                .or_default()
                .push((l.s_sq, l.d));
        }
    }
    let priors: HashMap<&str, Prior> = fam_vars
        .into_iter()
        .map(|(f, v)| (f, fit_prior(&v)))
        .collect();

    // Tests: (p, ci of the log ratio, the log ratio estimate, method, note).
    struct Tested {
        p: Option<f64>,
        ci_log: Option<(f64, f64)>,
        est_log: Option<f64>,
        method: Method,
        note: Option<String>,
    }
    let conf = 1.0 - t.alpha / 2.0;
    // df repeat across a family (same n, same prior): the t quantile is slow
    // to invert, so compute it once per df
    let mut crit_cache: HashMap<u64, f64> = HashMap::new();
    let tested: Vec<Tested> = pairs
        .iter()
        .zip(&prepared)
        .map(|(pair, prep)| {
            let Some(l) = prep.logs.as_ref() else {
                return Tested {
                    p: None,
                    ci_log: None,
                    est_log: None,
                    method: Method::None,
                    note: Some(if prep.base_n == 0 || prep.new_n == 0 {
                        format!("n={} vs {}: a side has no sample", prep.base_n, prep.new_n)
                    } else {
                        "a value is zero, negative or not finite: no ratio".to_string()
                    }),
                };
            };
            let est = l.mean_n - l.mean_b;
            if has_repeats(prep) {
                let prior = priors
                    .get(pair.family.as_str())
                    .copied()
                    .unwrap_or(Prior::NONE);
                let s_mod = prior.moderate(l.s_sq, l.d);
                let df = l.d + prior.d0;
                let se = (s_mod * (1.0 / prep.base_n as f64 + 1.0 / prep.new_n as f64)).sqrt();
                let dist = StudentsT::new(0.0, 1.0, df).expect("df > 0");
                let p = if se > 0.0 {
                    2.0 * (1.0 - dist.cdf((est / se).abs()))
                } else if est == 0.0 {
                    1.0
                } else {
                    0.0
                };
                let crit = *crit_cache
                    .entry(df.to_bits())
                    .or_insert_with(|| dist.inverse_cdf(conf));
                return Tested {
                    p: Some(p.clamp(0.0, 1.0)),
                    ci_log: Some((est - crit * se, est + crit * se)),
                    est_log: Some(est),
                    method: Method::Repeats,
                    note: Some(format!(
                        "geometric means {:+.2} %, moderated t on {:.0} df (prior {:.0} df)",
                        pct(est),
                        df,
                        prior.d0
                    )),
                };
            }
            let short = format!(
                "n={} vs {}: need ≥{MIN_REPEATS} repeats per side",
                prep.base_n, prep.new_n
            );
            if pair.history.len() >= MIN_HISTORY {
                if let Some(h) = history::test(
                    l.mean_b,
                    prep.base_n,
                    l.mean_n,
                    prep.new_n,
                    &pair.history,
                    t.alpha,
                ) {
                    return Tested {
                        p: Some(h.p),
                        ci_log: Some(h.ci_log),
                        est_log: Some(est),
                        method: Method::History,
                        note: Some(format!(
                            "{} earlier runs, run-to-run cv {:.1} %",
                            h.points,
                            h.sigma * 100.0
                        )),
                    };
                }
            }
            Tested {
                p: None,
                ci_log: None,
                est_log: Some(est),
                method: Method::None,
                note: Some(format!(
                    "{short}; history has {} runs, need ≥{MIN_HISTORY}",
                    pair.history.len()
                )),
            }
        })
        .collect();

    let q = benjamini_hochberg(&tested.iter().map(|x| x.p).collect::<Vec<_>>());
    let min_log = (1.0 + t.min_effect_pct / 100.0).ln();

    pairs
        .iter()
        .zip(prepared)
        .zip(tested)
        .zip(q)
        .map(|(((pair, prep), ts), q)| {
            let verdict = match (q, ts.est_log, ts.ci_log) {
                (Some(q), Some(est), Some((lo, hi))) => {
                    if q < t.alpha && est.abs() >= min_log {
                        // worse = the metric moved in its bad direction
                        let worse = match pair.better {
                            Better::Lower => est > 0.0,
                            Better::Higher => est < 0.0,
                        };
                        if worse {
                            Verdict::Regression
                        } else {
                            Verdict::Improvement
                        }
                    } else if q < t.alpha || (lo > -min_log && hi < min_log) {
                        Verdict::Unchanged
                    } else {
                        Verdict::Inconclusive
                    }
                }
                _ => Verdict::Inconclusive,
            };
            let mut note = ts.note;
            if verdict == Verdict::Inconclusive && ts.method != Method::None {
                if let Some((lo, hi)) = ts.ci_log {
                    note = Some(format!(
                        "{}; CI [{:+.1}, {:+.1}] % cannot rule out a change ≥ {} %",
                        note.unwrap_or_default(),
                        pct(lo),
                        pct(hi),
                        t.min_effect_pct
                    ));
                }
            }
            Comparison {
                better: pair.better,
                base: prep.base_med,
                new: prep.new_med,
                base_n: prep.base_n,
                new_n: prep.new_n,
                change_pct: (prep.new_med / prep.base_med - 1.0) * 100.0,
                ci_pct: ts.ci_log.map(|(lo, hi)| (pct(lo), pct(hi))),
                p: ts.p,
                q,
                verdict,
                method: ts.method,
                note,
            }
        })
        .collect()
}
