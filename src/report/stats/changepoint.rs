//! Change points of a series by binary segmentation with a two-sample t-test
//! at each split (the Otava/Hunter idea, made deterministic): in a segment,
//! the split maximising |t| between the points before and after it is a step
//! when its p-value times the number of split positions tried (Bonferroni) is
//! below `alpha` and the level moves by at least `min_effect_pct`; both halves
//! are then searched again. Values are compared on the log scale (noise is
//! multiplicative).

use statrs::distribution::{ContinuousCDF, StudentsT};

use super::{Better, ChangePoint, ChangePointOptions, Verdict};

/// One step of a series, classified.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub change: ChangePoint,
    /// `Regression` or `Improvement`, by `better`.
    pub direction: Verdict,
    /// Not undone by a later step.
    pub open: bool,
}

struct Split {
    index: usize,
    p_adj: f64,
}

/// Best split of `logs[a..b]` (indices absolute), or None when the segment
/// is too short.
/// `p_adj` is p times the split positions tried, or `global` positions when
/// more (a step inside a sub-segment is still one of the whole series' positions).
fn best_split(logs: &[f64], a: usize, b: usize, min_seg: usize, global: usize) -> Option<Split> {
    let n = b - a;
    if n < 2 * min_seg || n < 3 {
        return None;
    }
    // prefix sums for O(n) scan of all splits
    let mut s = vec![0.0; n + 1];
    let mut s2 = vec![0.0; n + 1];
    for i in 0..n {
        s[i + 1] = s[i] + logs[a + i];
        s2[i + 1] = s2[i] + logs[a + i] * logs[a + i];
    }
    let mut best: Option<(usize, f64)> = None;
    let mut tried = 0usize;
    for k in min_seg..=(n - min_seg) {
        tried += 1;
        let (n1, n2) = (k as f64, (n - k) as f64);
        let m1 = s[k] / n1;
        let m2 = (s[n] - s[k]) / n2;
        let ss1 = (s2[k] - n1 * m1 * m1).max(0.0);
        let ss2 = ((s2[n] - s2[k]) - n2 * m2 * m2).max(0.0);
        let var = (ss1 + ss2) / (n as f64 - 2.0);
        let se = (var * (1.0 / n1 + 1.0 / n2)).sqrt();
        let tstat = if se > 0.0 {
            ((m2 - m1) / se).abs()
        } else if m1 == m2 {
            0.0
        } else {
            f64::INFINITY
        };
        if best.is_none_or(|(_, bt)| tstat > bt) {
            best = Some((a + k, tstat));
        }
    }
    let (index, tstat) = best?;
    let dist = StudentsT::new(0.0, 1.0, n as f64 - 2.0).ok()?;
    let p = if tstat.is_infinite() {
        0.0
    } else {
        2.0 * (1.0 - dist.cdf(tstat))
    };
    Some(Split {
        index,
        p_adj: (p * tried.max(global) as f64).min(1.0),
    })
}

/// Best "bump" of `logs[a..b]` (circular binary segmentation, Olshen et al.
/// 2004): the interval `[i, j)` whose points differ most from the rest, for a
/// level that steps away and back inside the segment, which no single split
/// of it can see. Bonferroni over the intervals tried. O(n²).
fn best_bump(logs: &[f64], a: usize, b: usize, min_seg: usize) -> Option<(usize, usize, f64)> {
    let n = b - a;
    if n < 3 * min_seg {
        return None;
    }
    let mut s = vec![0.0; n + 1];
    let mut s2 = vec![0.0; n + 1];
    for i in 0..n {
        s[i + 1] = s[i] + logs[a + i];
        s2[i + 1] = s2[i] + logs[a + i] * logs[a + i];
    }
    let (tot, tot2) = (s[n], s2[n]);
    let mut best: Option<(usize, usize, f64)> = None;
    let mut tried = 0usize;
    // every segment of the three keeps min_seg points
    for i in min_seg..=(n - 2 * min_seg) {
        for j in (i + min_seg)..=(n - min_seg) {
            let n1 = (j - i) as f64;
            let n2 = n as f64 - n1;
            tried += 1;
            let m1 = (s[j] - s[i]) / n1;
            let m2 = (tot - (s[j] - s[i])) / n2;
            let ss1 = ((s2[j] - s2[i]) - n1 * m1 * m1).max(0.0);
            let ss2 = ((tot2 - (s2[j] - s2[i])) - n2 * m2 * m2).max(0.0);
            let var = (ss1 + ss2) / (n as f64 - 2.0);
            let se = (var * (1.0 / n1 + 1.0 / n2)).sqrt();
            let t = if se > 0.0 {
                ((m1 - m2) / se).abs()
            } else if m1 == m2 {
                0.0
            } else {
                f64::INFINITY
            };
            if best.is_none_or(|(_, _, bt)| t > bt) {
                best = Some((a + i, a + j, t));
            }
        }
    }
    let (i, j, t) = best?;
    let dist = StudentsT::new(0.0, 1.0, n as f64 - 2.0).ok()?;
    let p = if t.is_infinite() {
        0.0
    } else {
        2.0 * (1.0 - dist.cdf(t))
    };
    Some((i, j, (p * tried as f64).min(1.0)))
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// Change points of a series (oldest first). Non-positive or non-finite
/// values make the series unusable: no change points.
pub fn change_points(series: &[f64], opts: &ChangePointOptions) -> Vec<ChangePoint> {
    if series.iter().any(|v| !v.is_finite() || *v <= 0.0) {
        return Vec::new();
    }
    let logs: Vec<f64> = series.iter().map(|v| v.ln()).collect();
    let min_seg = opts.min_segment.max(2);
    let min_log = (1.0 + opts.min_effect_pct / 100.0).ln();
    let mut found: Vec<(usize, f64)> = Vec::new();
    // split positions of the whole series: the Bonferroni factor of every split
    let global = (logs.len() + 1).saturating_sub(2 * min_seg).max(1);
    let mut stack = vec![(0usize, logs.len())];
    while let Some((a, b)) = stack.pop() {
        let Some(split) = best_split(&logs, a, b, min_seg, global) else {
            continue;
        };
        let effect = mean(&logs[split.index..b]) - mean(&logs[a..split.index]);
        if split.p_adj < opts.alpha && effect.abs() >= min_log {
            found.push((split.index, split.p_adj));
            stack.push((a, split.index));
            stack.push((split.index, b));
            continue;
        }
        // No single step: a level that leaves and comes back inside [a, b)?
        if let Some((i, j, p)) = best_bump(&logs, a, b, min_seg) {
            let inside = mean(&logs[i..j]);
            let left = mean(&logs[a..i]);
            let right = mean(&logs[j..b]);
            if p < opts.alpha
                && (inside - left).abs() >= min_log
                && (inside - right).abs() >= min_log
            {
                found.push((i, p));
                found.push((j, p));
                stack.push((a, i));
                stack.push((i, j));
                stack.push((j, b));
            }
        }
    }
    found.sort_by_key(|f| f.0);
    found.dedup_by_key(|f| f.0);
    // Prune: a step whose final neighbouring segments differ by less than the
    // min effect (its discovery compared wider segments) goes, weakest first.
    loop {
        let mut bounds: Vec<usize> = vec![0];
        bounds.extend(found.iter().map(|f| f.0));
        bounds.push(logs.len());
        let weakest = (0..found.len())
            .map(|i| {
                let e = mean(&logs[bounds[i + 1]..bounds[i + 2]])
                    - mean(&logs[bounds[i]..bounds[i + 1]]);
                (i, e.abs())
            })
            .filter(|&(_, e)| e < min_log)
            .min_by(|x, y| x.1.total_cmp(&y.1));
        match weakest {
            Some((i, _)) => {
                found.remove(i);
            }
            None => break,
        }
    }
    let mut bounds: Vec<usize> = vec![0];
    bounds.extend(found.iter().map(|f| f.0));
    bounds.push(series.len());
    found
        .iter()
        .enumerate()
        .map(|(i, &(index, p))| {
            let before = mean(&series[bounds[i]..index]);
            let after = mean(&series[index..bounds[i + 2]]);
            ChangePoint {
                index,
                before,
                after,
                change_pct: (after / before - 1.0) * 100.0,
                p,
            }
        })
        .collect()
}

/// Regressions of a series: steps found by [`change_points`], classified by
/// `better`; a step is open until a later step brings the level back within
/// min effect of the level before it (or beyond it).
pub fn steps(series: &[f64], better: Better, opts: &ChangePointOptions) -> Vec<Step> {
    let cps = change_points(series, opts);
    let tol = opts.min_effect_pct / 100.0;
    cps.iter()
        .enumerate()
        .map(|(i, cp)| {
            let up = cp.after > cp.before;
            let worse = match better {
                Better::Lower => up,
                Better::Higher => !up,
            };
            // undone: a later level back within tol of `before`, or past it
            let undone = cps[i + 1..].iter().any(|later| {
                let rel = later.after / cp.before - 1.0;
                if up { rel < tol } else { rel > -tol }
            });
            Step {
                change: cp.clone(),
                direction: if worse {
                    Verdict::Regression
                } else {
                    Verdict::Improvement
                },
                open: !undone,
            }
        })
        .collect()
}
