//! The precomputed arrival schedule is a Poisson process: its gaps pass a
//! Kolmogorov–Smirnov test against Exp(rate) and their mean is 1/rate.

use matrix::client::arrivals::schedule;

/// One-sample KS statistic of `xs` against Exp(rate).
fn ks_exponential(xs: &mut [f64], rate: f64) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len() as f64;
    xs.iter()
        .enumerate()
        .map(|(i, &x)| {
            let cdf = 1.0 - (-rate * x).exp();
            let hi = (i + 1) as f64 / n - cdf;
            let lo = cdf - i as f64 / n;
            hi.max(lo)
        })
        .fold(0.0, f64::max)
}

#[test]
fn poisson_gaps_pass_ks_at_alpha_001() {
    for (rate, seed) in [(50.0, 1_u64), (3.5, 42), (1000.0, 7)] {
        let t = schedule(5001, rate, seed);
        let mut gaps: Vec<f64> = t.windows(2).map(|w| w[1] - w[0]).collect();
        let n = gaps.len() as f64;
        let mean = gaps.iter().sum::<f64>() / n;
        // Mean within 4 standard errors of 1/rate (sd of Exp = 1/rate).
        assert!(
            (mean - 1.0 / rate).abs() < 4.0 / rate / n.sqrt(),
            "rate {rate}: mean {mean}"
        );
        let d = ks_exponential(&mut gaps, rate);
        let critical = 1.628 / n.sqrt(); // alpha = 0.01
        assert!(d < critical, "rate {rate}: KS D = {d} >= {critical}");
    }
}

#[test]
fn ks_rejects_the_wrong_rate() {
    let t = schedule(5001, 50.0, 1);
    let mut gaps: Vec<f64> = t.windows(2).map(|w| w[1] - w[0]).collect();
    let n = gaps.len() as f64;
    assert!(ks_exponential(&mut gaps, 60.0) > 1.628 / n.sqrt());
}
