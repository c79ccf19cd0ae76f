//! numpy-compatible summary statistics: `np.mean`, `np.median`, `np.std`
//! (population, ddof = 0), `np.percentile` (default "linear" interpolation)
//! and `np.max`. SGLang calls them as `np.f(xs or 0)`, so an empty list acts
//! as `[0]`; [`Summary::of`] does the same.

/// The six numbers SGLang reports per metric, plus the maximum.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Summary {
    pub mean: f64,
    pub median: f64,
    pub std: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

impl Summary {
    /// Summarise `xs` (any order); an empty slice summarises as `[0]`.
    pub fn of(xs: &[f64]) -> Summary {
        Summary::of_vec(xs.to_vec())
    }

    /// [`Summary::of`] sorting `v` in place: the ITL list has one value
    /// per streamed token (a million in the CPU benchmark), so no copy.
    /// Unstable sort: values equal under `total_cmp` are the same bits.
    pub fn of_vec(mut v: Vec<f64>) -> Summary {
        if v.is_empty() {
            v.push(0.0);
        }
        v.sort_unstable_by(f64::total_cmp);
        Summary {
            mean: mean(&v),
            median: percentile_sorted(&v, 50.0),
            std: std_pop(&v),
            p90: percentile_sorted(&v, 90.0),
            p95: percentile_sorted(&v, 95.0),
            p99: percentile_sorted(&v, 99.0),
            max: v[v.len() - 1],
        }
    }

    /// Every field multiplied by `k` (seconds → milliseconds).
    pub fn scaled(self, k: f64) -> Summary {
        Summary {
            mean: self.mean * k,
            median: self.median * k,
            std: self.std * k,
            p90: self.p90 * k,
            p95: self.p95 * k,
            p99: self.p99 * k,
            max: self.max * k,
        }
    }
}

/// Arithmetic mean; NaN for an empty slice (as numpy).
pub fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// Population standard deviation (numpy's default, ddof = 0).
pub fn std_pop(v: &[f64]) -> f64 {
    let m = mean(v);
    (v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / v.len() as f64).sqrt()
}

/// numpy's default percentile on sorted data: linear interpolation between
/// the two nearest ranks, rank = (n − 1) · p / 100. NaN for an empty slice.
pub fn percentile_sorted(v: &[f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let h = (v.len() - 1) as f64 * p / 100.0;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(v.len() - 1);
    v[lo] + (h - lo as f64) * (v[hi] - v[lo])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_numpy_on_a_small_sample() {
        // np.percentile([1,2,3,4,10], [50,90,95,99]) = [3, 7.6, 8.8, 9.76]
        let s = Summary::of(&[10.0, 1.0, 3.0, 2.0, 4.0]);
        assert_eq!(s.median, 3.0);
        assert!((s.p90 - 7.6).abs() < 1e-12);
        assert!((s.p95 - 8.8).abs() < 1e-12);
        assert!((s.p99 - 9.76).abs() < 1e-12);
        assert_eq!(s.mean, 4.0);
        // np.std([1,2,3,4,10]) = 3.1622776601683795
        assert!((s.std - 3.1622776601683795).abs() < 1e-12);
        assert_eq!(s.max, 10.0);
    }

    #[test]
    fn empty_acts_as_zero() {
        assert_eq!(Summary::of(&[]), Summary::default());
    }
}
