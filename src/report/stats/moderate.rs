//! Empirical-Bayes moderation of per-cell variances within a family
//! (Smyth 2004, limma's `fitFDist` by moments): each cell's log-scale
//! variance `s²` on `d` degrees of freedom is shrunk towards the family's
//! prior `s0²` worth `d0` degrees of freedom:
//! `s²_mod = (d0·s0² + d·s²) / (d0 + d)`, tested on `d0 + d` df.

use statrs::function::gamma::digamma;

/// The family's prior: centre `s0²` and its weight `d0` (degrees of freedom).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prior {
    pub s0_sq: f64,
    pub d0: f64,
}

impl Prior {
    pub const NONE: Prior = Prior {
        s0_sq: 0.0,
        d0: 0.0,
    };

    /// Moderated variance of one cell.
    pub fn moderate(&self, s_sq: f64, d: f64) -> f64 {
        if self.d0 <= 0.0 {
            return s_sq;
        }
        (self.d0 * self.s0_sq + d * s_sq) / (self.d0 + d)
    }
}

/// Trigamma ψ'(x) for x > 0: recurrence up to x ≥ 6, then the asymptotic series.
pub fn trigamma(mut x: f64) -> f64 {
    let mut acc = 0.0;
    while x < 6.0 {
        acc += 1.0 / (x * x);
        x += 1.0;
    }
    let x2 = 1.0 / (x * x);
    acc + 1.0 / x
        + x2 / 2.0
        + (1.0 / x) * x2 * (1.0 / 6.0 - x2 * (1.0 / 30.0 - x2 * (1.0 / 42.0 - x2 / 30.0)))
}

/// Inverse of trigamma (limma's Newton iteration on 1/ψ').
fn trigamma_inverse(y: f64) -> f64 {
    if y > 1e7 {
        return 1.0 / y.sqrt();
    }
    if y < 1e-6 {
        return 1.0 / y;
    }
    let mut x = 0.5 + 1.0 / y;
    for _ in 0..50 {
        let tri = trigamma(x);
        // d/dx ψ'(x) = ψ''(x) ≈ numeric; limma: dif = tri*(1 - tri/y)/ψ''(x)
        let h = 1e-5 * x.max(1e-3);
        let tetra = (trigamma(x + h) - trigamma(x - h)) / (2.0 * h);
        let dif = tri * (1.0 - tri / y) / tetra;
        x += dif;
        if x <= 0.0 {
            x = 1e-8;
        }
        if (-dif / x) < 1e-8 {
            break;
        }
    }
    x
}

/// Fit the prior from the family's per-cell variances `(s², d)`, by moments
/// on `log s²`. Cells with `s² = 0` or `d = 0` are left out. With fewer than
/// 3 usable cells there is no prior (`d0 = 0`: each cell stands alone).
/// `d0` is capped at the family's total df (no more weight than the data
/// pooled could carry): a family of equally noisy cells pools fully.
pub fn fit_prior(vars: &[(f64, f64)]) -> Prior {
    let usable: Vec<(f64, f64)> = vars
        .iter()
        .copied()
        .filter(|&(s, d)| s > 0.0 && s.is_finite() && d > 0.0)
        .collect();
    let k = usable.len();
    if k < 3 {
        return Prior::NONE;
    }
    let e: Vec<f64> = usable
        .iter()
        .map(|&(s, d)| s.ln() - digamma(d / 2.0) + (d / 2.0).ln())
        .collect();
    let emean = e.iter().sum::<f64>() / k as f64;
    let evar_raw = e.iter().map(|v| (v - emean).powi(2)).sum::<f64>() / (k - 1) as f64;
    let tri_mean = usable.iter().map(|&(_, d)| trigamma(d / 2.0)).sum::<f64>() / k as f64;
    let evar = evar_raw - tri_mean;
    let total_df: f64 = usable.iter().map(|&(_, d)| d).sum();
    let d0 = if evar > 0.0 {
        (2.0 * trigamma_inverse(evar)).min(total_df)
    } else {
        total_df
    };
    let s0_sq = (emean + digamma(d0 / 2.0) - (d0 / 2.0).ln()).exp();
    Prior { s0_sq, d0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trigamma_matches_known_values() {
        // ψ'(1) = π²/6, ψ'(0.5) = π²/2, ψ'(10) = 0.105166335681...
        let pi2 = std::f64::consts::PI.powi(2);
        assert!((trigamma(1.0) - pi2 / 6.0).abs() < 1e-9);
        assert!((trigamma(0.5) - pi2 / 2.0).abs() < 1e-9);
        assert!((trigamma(10.0) - 0.105_166_335_681_685).abs() < 1e-9);
        for x in [0.3, 1.0, 2.5, 8.0, 40.0] {
            let y = trigamma(x);
            assert!((trigamma_inverse(y) - x).abs() / x < 1e-6, "{x}");
        }
    }

    #[test]
    fn equal_variances_pool_fully_and_outliers_lower_the_weight() {
        let same: Vec<(f64, f64)> = vec![(1.0e-4, 8.0); 10];
        let p = fit_prior(&same);
        assert_eq!(p.d0, 80.0);
        // identical s² are not χ²-spread, so the moments' bias correction
        // moves the centre a little (ψ(4) − ln 4 ≈ −0.13): within 15 %
        assert!((p.s0_sq - 1.0e-4).abs() / 1.0e-4 < 0.15, "{p:?}");
        let spread: Vec<(f64, f64)> = (0..10)
            .map(|i| (1.0e-4 * 10f64.powi(i % 5 - 2), 8.0))
            .collect();
        let q = fit_prior(&spread);
        assert!(q.d0 < 5.0, "{q:?}");
        assert_eq!(fit_prior(&same[..2]), Prior::NONE);
    }
}
