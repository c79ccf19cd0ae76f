//! The arrival schedule: when each request is due, as offsets (seconds) from
//! the start of the measured run.
//!
//! The whole schedule is computed up front from a seeded RNG, so a run is
//! reproducible and sending never accumulates sleep drift: the dispatcher
//! waits for absolute instants `start + offset[i]`. Like SGLang's
//! `get_request`, the first request is due at 0 and each later one after an
//! `Exp(rate)` gap; an infinite rate puts every request at 0.
//!
//! Offsets are in the server's time; against a time-scaled simulator the
//! caller multiplies them by the scale ([`super::timescale`]).

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp};

/// Mixed into `--seed` so arrivals and prompts draw from independent streams
/// (changing the rate does not change the prompts).
const ARRIVAL_STREAM: u64 = 0x6172_7269_7661_6c73;

/// Offsets in seconds, non-decreasing, one per request.
pub fn schedule(n: usize, rate: f64, seed: u64) -> Vec<f64> {
    if !rate.is_finite() {
        return vec![0.0; n];
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ ARRIVAL_STREAM);
    // `rate` is validated > 0, so Exp::new cannot fail; fall back to all-at-once.
    let Ok(exp) = Exp::new(rate) else {
        return vec![0.0; n];
    };
    let mut t = 0.0;
    (0..n)
        .map(|i| {
            if i > 0 {
                t += exp.sample(&mut rng);
            }
            t
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn infinite_rate_sends_everything_at_zero() {
        assert_eq!(schedule(3, f64::INFINITY, 1), vec![0.0; 3]);
    }

    #[test]
    fn schedule_is_reproducible_and_sorted() {
        let a = schedule(100, 5.0, 42);
        assert_eq!(a, schedule(100, 5.0, 42));
        assert_eq!(a[0], 0.0);
        assert!(a.windows(2).all(|w| w[0] <= w[1]));
    }
}
