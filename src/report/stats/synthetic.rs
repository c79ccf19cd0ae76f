//! Seeded generators mirroring the simulator's noise model (docs/SIM.md):
//! each sample (one run × repeat) is the level times a lognormal run factor
//! carrying 90 % of the variance and a lognormal step factor carrying the
//! other 10 %, so a sample's total CV is `cv`. Used by tests and the bench.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

use super::{Better, Pair};

/// A seeded source of noisy samples with total coefficient of variation `cv`.
pub struct Noise {
    rng: ChaCha8Rng,
    run: Normal<f64>,
    step: Normal<f64>,
}

impl Noise {
    pub fn new(seed: u64, cv: f64) -> Self {
        // lognormal with CV c has σ² = ln(1 + c²)
        let sigma = |share: f64| (1.0 + share * cv * cv).ln().sqrt();
        Noise {
            rng: ChaCha8Rng::seed_from_u64(seed),
            run: Normal::new(0.0, sigma(0.9)).expect("finite σ"),
            step: Normal::new(0.0, sigma(0.1)).expect("finite σ"),
        }
    }

    /// One sample of `level`.
    pub fn sample(&mut self, level: f64) -> f64 {
        let z = self.run.sample(&mut self.rng) + self.step.sample(&mut self.rng);
        level * z.exp()
    }

    /// `n` samples of `level`.
    pub fn samples(&mut self, level: f64, n: usize) -> Vec<f64> {
        (0..n).map(|_| self.sample(level)).collect()
    }
}

/// A report's pairs: `cells` latency cells (family `e2e_latency_s`, lower is
/// better) at distinct levels, `repeats` samples per side, and the new side
/// slowed by `slowdown` on every cell at an odd index (`slowdown = 1.0`:
/// an A/A comparison). Returns the pairs and which ones were slowed.
pub fn planted_pairs(
    seed: u64,
    cells: usize,
    repeats: usize,
    cv: f64,
    slowdown: f64,
) -> (Vec<Pair>, Vec<bool>) {
    let mut noise = Noise::new(seed, cv);
    let mut pairs = Vec::with_capacity(cells);
    let mut planted = Vec::with_capacity(cells);
    for i in 0..cells {
        let level = 0.05 * (1.0 + i as f64 * 0.37);
        let slowed = slowdown != 1.0 && i % 2 == 1;
        let base = noise.samples(level, repeats);
        let new = noise.samples(level * if slowed { slowdown } else { 1.0 }, repeats);
        pairs.push(Pair {
            base,
            new,
            history: Vec::new(),
            better: Better::Lower,
            family: "e2e_latency_s".to_string(),
        });
        planted.push(slowed);
    }
    (pairs, planted)
}

/// A series of `len` single samples at level 100 with total CV `cv`; with
/// `step = Some((at, factor))` the level is multiplied by `factor` from index
/// `at` on.
pub fn step_series(seed: u64, len: usize, cv: f64, step: Option<(usize, f64)>) -> Vec<f64> {
    let mut noise = Noise::new(seed, cv);
    (0..len)
        .map(|i| {
            let f = match step {
                Some((at, factor)) if i >= at => factor,
                _ => 1.0,
            };
            noise.sample(100.0 * f)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn total_cv_is_the_one_asked() {
        let mut n = Noise::new(7, 0.02);
        let v = n.samples(1.0, 20_000);
        let m = v.iter().sum::<f64>() / v.len() as f64;
        let sd = (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64).sqrt();
        let cv = sd / m;
        // 20 000 samples: the CV's standard error is ~0.0001
        assert!((cv - 0.02).abs() < 0.0008, "{cv}");
        assert_eq!(
            Noise::new(7, 0.02).sample(1.0),
            Noise::new(7, 0.02).sample(1.0)
        );
    }
}
