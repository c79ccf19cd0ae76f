//! Seeded jitter for the `jitter=MS` fault, shared by one-batch (the
//! scheduler draws from its own seeded generator).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub struct Jitter {
    rng: ChaCha8Rng,
    max_ms: f64,
}

impl Jitter {
    pub fn new(seed: u64, max_ms: Option<f64>) -> Self {
        Jitter {
            rng: ChaCha8Rng::seed_from_u64(seed),
            max_ms: max_ms.unwrap_or(0.0),
        }
    }

    /// Uniform in `[0, max_ms)` milliseconds, as seconds (0 when off).
    pub fn next_seconds(&mut self) -> f64 {
        if self.max_ms > 0.0 {
            self.rng.random_range(0.0..self.max_ms) / 1000.0
        } else {
            0.0
        }
    }
}
