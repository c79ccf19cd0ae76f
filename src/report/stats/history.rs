//! One sample (or too few) per side: judge the change against the cell's own
//! run-to-run noise, measured on its history (conbench / Bencher style).

use statrs::distribution::{ContinuousCDF, StudentsT};

/// Robust run-to-run σ of a series on the log scale: the MAD of successive
/// log differences × 1.4826 / √2. Successive differences make a step in the
/// history cost one outlying difference, which the MAD ignores.
/// `None` below 3 finite positive points.
pub fn log_sigma(history: &[f64]) -> Option<f64> {
    let logs: Vec<f64> = history
        .iter()
        .filter(|v| v.is_finite() && **v > 0.0)
        .map(|v| v.ln())
        .collect();
    if logs.len() < 3 {
        return None;
    }
    let diffs: Vec<f64> = logs.windows(2).map(|w| w[1] - w[0]).collect();
    let med = median(&diffs);
    let abs: Vec<f64> = diffs.iter().map(|d| (d - med).abs()).collect();
    Some(median(&abs) * 1.4826 / std::f64::consts::SQRT_2)
}

/// Result of the history test: two-sided p, the log-difference's CI bounds.
pub struct HistoryTest {
    pub p: f64,
    pub ci_log: (f64, f64),
    pub sigma: f64,
    pub points: usize,
}

/// Test mean(log new) − mean(log base) against the history's σ, with
/// `se = σ·√(1/n_base + 1/n_new)` and a t on `points − 1` df (σ is estimated).
pub fn test(
    mean_log_base: f64,
    n_base: usize,
    mean_log_new: f64,
    n_new: usize,
    history: &[f64],
    alpha: f64,
) -> Option<HistoryTest> {
    let sigma = log_sigma(history)?;
    let points = history.len();
    let df = (points - 1) as f64;
    let t = StudentsT::new(0.0, 1.0, df).ok()?;
    let se = sigma * (1.0 / n_base as f64 + 1.0 / n_new as f64).sqrt();
    let diff = mean_log_new - mean_log_base;
    let p = if se > 0.0 {
        2.0 * (1.0 - t.cdf((diff / se).abs()))
    } else if diff == 0.0 {
        1.0
    } else {
        0.0
    };
    let crit = t.inverse_cdf(1.0 - alpha / 2.0);
    Some(HistoryTest {
        p: p.clamp(0.0, 1.0),
        ci_log: (diff - crit * se, diff + crit * se),
        sigma,
        points,
    })
}

/// The median of `v` (the database's, so a point and a verdict agree).
pub(crate) fn median(v: &[f64]) -> f64 {
    crate::record::db::store::median(v.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigma_ignores_one_step_in_the_history() {
        // 2 % CV noise with a 20 % step at 12: σ stays near 0.02, not the
        // step's size
        for seed in 0..10 {
            let h = crate::report::stats::synthetic::step_series(seed, 20, 0.02, Some((12, 1.2)));
            let s = log_sigma(&h).unwrap();
            assert!(s > 0.008 && s < 0.04, "seed {seed}: {s}");
        }
        assert_eq!(log_sigma(&[1.0, 2.0]), None);
    }
}
