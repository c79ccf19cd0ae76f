//! Benjamini-Hochberg false-discovery-rate adjustment.

/// Benjamini-Hochberg adjusted p-values (q-values), standard step-up:
/// `q_(i) = min_{j ≥ i} p_(j) · m / j` over the `m` p-values present, capped
/// at 1. `None` entries (no test) are not counted in `m` and stay `None`.
/// Same order as the input.
pub fn benjamini_hochberg(p: &[Option<f64>]) -> Vec<Option<f64>> {
    let mut idx: Vec<usize> = (0..p.len()).filter(|&i| p[i].is_some()).collect();
    let m = idx.len();
    let mut q = vec![None; p.len()];
    if m == 0 {
        return q;
    }
    // Ascending p; NaN (should not happen) sorts last, as 1.
    let val = |i: usize| p[i].filter(|v| !v.is_nan()).unwrap_or(1.0);
    idx.sort_by(|&a, &b| val(a).total_cmp(&val(b)));
    let mut running = 1.0_f64;
    for rank in (0..m).rev() {
        let i = idx[rank];
        let adj = (val(i) * m as f64 / (rank + 1) as f64).min(1.0);
        running = running.min(adj);
        q[i] = Some(running);
    }
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bh_matches_hand_computed_values() {
        // m = 4 p-values: sorted 0.01, 0.02, 0.03, 0.5
        // raw adj: 0.04, 0.04, 0.04, 0.5 → monotone already.
        let q = benjamini_hochberg(&[Some(0.03), None, Some(0.01), Some(0.5), Some(0.02)]);
        let want = [Some(0.04), None, Some(0.04), Some(0.5), Some(0.04)];
        for (a, b) in q.iter().zip(want) {
            match (a, b) {
                (Some(a), Some(b)) => assert!((a - b).abs() < 1e-12, "{a} vs {b}"),
                (None, None) => {}
                _ => panic!("{q:?}"),
            }
        }
    }

    #[test]
    fn bh_step_up_takes_the_minimum_from_above() {
        // sorted 0.04 (×3 = 0.12), 0.045 (×1.5 = 0.0675), 0.05 (×1 = 0.05) → all 0.05
        let q = benjamini_hochberg(&[Some(0.05), Some(0.04), Some(0.045)]);
        for v in q {
            assert!((v.unwrap() - 0.05).abs() < 1e-12);
        }
    }

    #[test]
    fn bh_of_nothing_is_nothing() {
        assert!(benjamini_hochberg(&[]).is_empty());
        assert_eq!(benjamini_hochberg(&[None, None]), vec![None, None]);
    }
}
