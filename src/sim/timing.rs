//! How long things take: the per-step cost and the simulated→wall mapping.
//!
//! A step's simulated duration is the roofline time of the batch on the
//! deployment's GPUs plus a fixed per-step overhead (kernel launches,
//! scheduling, sampling). Simulated durations are what the simulator reports;
//! wall-clock sleeps are those durations times `MATRIX_SIM_TIME_SCALE`.

use std::time::{Duration, Instant};

use super::cost::{Gpu, SeqStep, SimModel};
use super::error::SimError;

/// Anything that can price one forward step. The scheduler and one-batch
/// only see this trait, so tests can swap in a [`FixedTimer`].
pub trait StepTimer: Send + Sync {
    /// Simulated seconds of one forward step over `batch`.
    fn step_seconds(&self, batch: &[SeqStep]) -> f64;
}

/// The real timer: roofline across `n_gpus` plus a fixed overhead.
///
/// GPU count: `tp_size × dp_size` without attention-DP (each DP replica
/// has its own TP group and all replicas are modelled as one big batch), or
/// `tp_size` with `--attn-dp-size > 1` (SGLang's DP attention lives inside
/// the TP group). `--ep-size` shards experts over the same GPUs, so it does
/// not change the count.
#[derive(Debug, Clone)]
pub struct RooflineTimer {
    pub model: SimModel,
    pub gpu: &'static Gpu,
    pub n_gpus: u32,
    pub overhead_s: f64,
}

impl StepTimer for RooflineTimer {
    fn step_seconds(&self, batch: &[SeqStep]) -> f64 {
        self.model.step_roofline(batch, self.gpu, self.n_gpus) + self.overhead_s
    }
}

/// The real timer with the server's run-to-run noise and slowdown applied.
#[derive(Debug)]
pub struct NoisyTimer {
    pub inner: RooflineTimer,
    pub noise: std::sync::Arc<super::noise::ServerNoise>,
}

impl StepTimer for NoisyTimer {
    fn step_seconds(&self, batch: &[SeqStep]) -> f64 {
        self.noise.apply(self.inner.step_seconds(batch))
    }
}

/// A fixed linear cost for unit tests: `base + per_token × new tokens`.
#[derive(Debug, Clone)]
pub struct FixedTimer {
    pub base_s: f64,
    pub per_token_s: f64,
}

impl StepTimer for FixedTimer {
    fn step_seconds(&self, batch: &[SeqStep]) -> f64 {
        let tokens: u64 = batch.iter().map(|s| s.new_tokens).sum();
        self.base_s + self.per_token_s * tokens as f64
    }
}

/// Simulated seconds to load the weights: a fixed start-up cost plus the
/// bytes each GPU reads at an assumed 5 GB/s from local disk.
pub fn load_seconds(weight_bytes: f64, n_gpus: u32) -> f64 {
    const STARTUP_S: f64 = 3.0;
    const LOAD_BYTES_PER_S: f64 = 5e9;
    STARTUP_S + weight_bytes / f64::from(n_gpus.max(1)) / LOAD_BYTES_PER_S
}

/// Maps simulated time to wall time: `wall = start + sim × scale`.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    pub start: Instant,
    pub scale: f64,
}

impl Clock {
    pub const ENV: &'static str = "MATRIX_SIM_TIME_SCALE";

    /// Scale from `MATRIX_SIM_TIME_SCALE` (default 1: real time).
    pub fn from_env() -> Result<Self, SimError> {
        let scale = match std::env::var(Self::ENV) {
            Err(_) => 1.0,
            Ok(raw) => parse_scale(&raw).map_err(|reason| SimError::BadEnv {
                var: Self::ENV,
                value: raw,
                reason,
            })?,
        };
        Ok(Clock {
            start: Instant::now(),
            scale,
        })
    }

    /// Wall seconds since the clock started (monotonic).
    pub fn wall_now(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    /// Block the thread until the wall instant that simulated time `t_sim`
    /// maps to. Uses `std::thread::sleep` for sub-millisecond precision
    /// (tokio timers round up to whole milliseconds).
    pub fn sleep_until_sim(&self, t_sim: f64) {
        if self.scale <= 0.0 {
            return;
        }
        let deadline = self.start + Duration::from_secs_f64((t_sim * self.scale).max(0.0));
        let now = Instant::now();
        if deadline > now {
            std::thread::sleep(deadline - now);
        }
    }

    /// Sleep for a simulated duration, scaled.
    pub fn sleep_sim(&self, sim_s: f64) {
        if self.scale > 0.0 && sim_s > 0.0 {
            std::thread::sleep(Duration::from_secs_f64(sim_s * self.scale));
        }
    }

    /// The simulated time a wall instant maps to (0 when time is unthrottled).
    pub fn sim_at_wall(&self, wall: f64) -> Option<f64> {
        (self.scale > 0.0).then(|| wall / self.scale)
    }
}

fn parse_scale(raw: &str) -> Result<f64, String> {
    match raw.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err("expected a non-negative number such as 0.01".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_parsing() {
        assert_eq!(parse_scale("0.01"), Ok(0.01));
        assert!(parse_scale("-1").is_err());
        assert!(parse_scale("fast").is_err());
    }

    #[test]
    fn fixed_timer_is_linear() {
        let t = FixedTimer {
            base_s: 1.0,
            per_token_s: 0.5,
        };
        let b = [SeqStep {
            new_tokens: 4,
            context: 0,
        }];
        assert_eq!(t.step_seconds(&b), 3.0);
    }
}
