//! Seeded run-to-run noise and a slowdown knob: test aids for `matrix
//! compare` and `matrix regressions` (see docs/SIM.md, "Noise and
//! slowdown"). Off by default: with `--sim-noise-cv 0` and
//! `--sim-slowdown 1` every step time is returned unchanged (bit-identical
//! to the noiseless simulator).
//!
//! Model: each *run* draws a lognormal run factor with CV `cv·√0.9` and each
//! forward step a lognormal step factor with CV `cv·√0.1`, both with mean 1,
//! so a run's total time has a CV between `0.95·cv` (many steps) and `cv`
//! (one step). Every step time is then multiplied by `slowdown`.
//!
//! What a run is: for one_batch, one (repeat, batch size, input length,
//! output length, tp/ep/dp size, nodes) case of one process; for the server, the time between two
//! `/flush_cache` (or `/server_info`) calls. The seed of a run is a hash of
//! `--sim-noise-seed`, the repeat index (`MATRIX_REPEAT`, set by `matrix
//! run` on every process it starts for a repeat) and the run's key.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use super::args::{self, RawArgs};
use super::error::SimError;

/// The repeat index `matrix run` gives every process it starts for a repeat.
pub const REPEAT_ENV: &str = "MATRIX_REPEAT";

/// Flags read here (both entry points accept them).
pub const KNOWN: &[&str] = &["--sim-noise-cv", "--sim-noise-seed", "--sim-slowdown"];

/// The noise settings from the command line and `MATRIX_REPEAT`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct NoiseArgs {
    pub cv: f64,
    pub seed: u64,
    pub slowdown: f64,
    pub repeat: u64,
}

impl Default for NoiseArgs {
    fn default() -> Self {
        NoiseArgs {
            cv: 0.0,
            seed: 0,
            slowdown: 1.0,
            repeat: 0,
        }
    }
}

impl NoiseArgs {
    pub fn from_raw(raw: &RawArgs) -> Result<Self, SimError> {
        let cv = raw
            .parsed(&["--sim-noise-cv"], |s| match args::float(s)? {
                v if (0.0..=1.0).contains(&v) => Ok(v),
                _ => Err("must be between 0 and 1 (0.02 = 2 % run-to-run noise)".to_string()),
            })?
            .unwrap_or(0.0);
        let seed = raw
            .parsed(&["--sim-noise-seed"], args::non_negative)?
            .unwrap_or(0);
        let slowdown = raw
            .parsed(&["--sim-slowdown"], |s| match args::float(s)? {
                v if v > 0.0 => Ok(v),
                _ => Err("must be a positive factor (1.05 = 5 % slower)".to_string()),
            })?
            .unwrap_or(1.0);
        let repeat = match std::env::var(REPEAT_ENV) {
            Err(_) => 0,
            Ok(v) => args::non_negative(&v).map_err(|reason| SimError::BadEnv {
                var: REPEAT_ENV,
                value: v.clone(),
                reason,
            })?,
        };
        Ok(NoiseArgs {
            cv,
            seed,
            slowdown,
            repeat,
        })
    }

    /// Whether step times are left exactly as the cost model gives them.
    pub fn is_off(&self) -> bool {
        self.cv == 0.0 && self.slowdown == 1.0
    }
}

/// The noise of one run: its run factor and the step generator.
#[derive(Debug, Clone)]
pub struct Noise {
    args: NoiseArgs,
    run_factor: f64,
    step_sigma: f64,
    rng: ChaCha8Rng,
}

impl Noise {
    /// Start a run keyed by `key` (the workload for one_batch, a run counter
    /// for the server).
    pub fn new(args: NoiseArgs, key: &[u64]) -> Self {
        let mut h = mix(args.seed ^ 0x6e6f_6973_655f_7631);
        h = mix(h ^ args.repeat);
        for k in key {
            h = mix(h ^ k);
        }
        let mut rng = ChaCha8Rng::seed_from_u64(h);
        let run_sigma = lognormal_sigma(args.cv * 0.9f64.sqrt());
        let run_factor = lognormal(&mut rng, run_sigma);
        Noise {
            args,
            run_factor,
            step_sigma: lognormal_sigma(args.cv * 0.1f64.sqrt()),
            rng,
        }
    }

    /// One step's time with noise and slowdown applied.
    pub fn apply(&mut self, t: f64) -> f64 {
        if self.args.is_off() {
            return t;
        }
        let step = lognormal(&mut self.rng, self.step_sigma);
        t * self.args.slowdown * self.run_factor * step
    }
}

/// σ of the underlying normal of a lognormal with coefficient of variation `cv`.
fn lognormal_sigma(cv: f64) -> f64 {
    (1.0 + cv * cv).ln().sqrt()
}

/// A mean-1 lognormal draw (exactly 1 without drawing when σ is 0).
fn lognormal(rng: &mut ChaCha8Rng, sigma: f64) -> f64 {
    if sigma == 0.0 {
        return 1.0;
    }
    let z: f64 = StandardNormal.sample(rng);
    (sigma * z - sigma * sigma / 2.0).exp()
}

/// splitmix64's finaliser.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The server's noise: a new run on every `/flush_cache` or `/server_info`.
#[derive(Debug)]
pub struct ServerNoise {
    args: NoiseArgs,
    /// The deployment (tp, ep, dp size, nodes): another server of the
    /// sweep draws independent runs.
    deployment: [u64; 4],
    state: std::sync::Mutex<(u64, Noise)>,
}

impl ServerNoise {
    pub fn new(args: NoiseArgs, deployment: [u64; 4]) -> Self {
        ServerNoise {
            args,
            deployment,
            state: std::sync::Mutex::new((0, Noise::new(args, &Self::key(deployment, 0)))),
        }
    }

    fn key(d: [u64; 4], run: u64) -> [u64; 5] {
        [run, d[0], d[1], d[2], d[3]]
    }

    pub fn args(&self) -> NoiseArgs {
        self.args
    }

    /// Start the next run (a new run factor and step stream).
    pub fn next_run(&self) {
        if self.args.is_off() {
            return;
        }
        let mut g = self.state.lock().unwrap_or_else(|p| p.into_inner());
        g.0 += 1;
        g.1 = Noise::new(self.args, &Self::key(self.deployment, g.0));
    }

    pub fn apply(&self, t: f64) -> f64 {
        if self.args.is_off() {
            return t;
        }
        let mut g = self.state.lock().unwrap_or_else(|p| p.into_inner());
        g.1.apply(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(cv: f64, seed: u64, slowdown: f64) -> NoiseArgs {
        NoiseArgs {
            cv,
            seed,
            slowdown,
            repeat: 0,
        }
    }

    #[test]
    fn off_is_bit_identical() {
        let mut n = Noise::new(NoiseArgs::default(), &[1, 2, 3]);
        for t in [0.1, 1e-9, 3.7] {
            assert_eq!(n.apply(t).to_bits(), t.to_bits());
        }
    }

    #[test]
    fn slowdown_alone_multiplies() {
        let mut n = Noise::new(args(0.0, 7, 1.05), &[1]);
        assert_eq!(n.apply(2.0), 2.0 * 1.05);
    }

    #[test]
    fn same_seed_same_numbers_other_seed_other_numbers() {
        let a: Vec<f64> = {
            let mut n = Noise::new(args(0.02, 1, 1.0), &[4, 128, 32]);
            (0..5).map(|_| n.apply(1.0)).collect()
        };
        let b: Vec<f64> = {
            let mut n = Noise::new(args(0.02, 1, 1.0), &[4, 128, 32]);
            (0..5).map(|_| n.apply(1.0)).collect()
        };
        let c: Vec<f64> = {
            let mut n = Noise::new(args(0.02, 2, 1.0), &[4, 128, 32]);
            (0..5).map(|_| n.apply(1.0)).collect()
        };
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    /// A run of 32 equal steps: the total's CV over 4,000 runs is within
    /// 0.015–0.025 for cv 0.02 (fixed seeds, so this is exact each time).
    #[test]
    fn total_cv_is_close_to_the_asked_cv() {
        let totals: Vec<f64> = (0..4000u64)
            .map(|r| {
                let mut n = Noise::new(args(0.02, 9, 1.0), &[r]);
                (0..32).map(|_| n.apply(0.01)).sum::<f64>()
            })
            .collect();
        let mean = totals.iter().sum::<f64>() / totals.len() as f64;
        let var =
            totals.iter().map(|t| (t - mean).powi(2)).sum::<f64>() / (totals.len() - 1) as f64;
        let cv = var.sqrt() / mean;
        assert!((0.015..=0.025).contains(&cv), "cv {cv}");
        assert!((mean - 0.32).abs() < 0.32 * 0.005, "mean {mean}");
    }
}
