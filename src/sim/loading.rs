//! Simulated model loading, shared by both entry points: SGLang's loading
//! log lines, the load time, and the start-up faults.

use super::cost::{Gpu, SimModel};
use super::deployment::Deployment;
use super::fault::{self, Faults};
use super::log::Logger;
use super::timing::{self, Clock};

const GB: f64 = 1e9;

/// What loading needs to know.
pub struct Loader<'a> {
    pub log: &'a Logger,
    pub model: &'a SimModel,
    pub deployment: &'a Deployment,
    pub gpu: &'a Gpu,
    pub faults: &'a Faults,
    pub clock: &'a Clock,
}

/// How loading ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Loaded {
    Ready,
    /// `hang_at_start`: the caller must never become ready.
    Hung,
}

impl Loader<'_> {
    /// Sleep the scaled load time and log like SGLang's model runner. Exits
    /// the process on `crash_at_start`.
    pub fn run(&self) -> Loaded {
        let d = self.deployment;
        let total = self.gpu.memory_bytes / GB;
        let avail = total * 0.98;
        self.log
            .info(&format!("Load weight begin. avail mem={avail:.2} GB"));
        let load = timing::load_seconds(d.weight_bytes, d.n_gpus);
        if let Some(code) = self.faults.crash_at_start {
            self.clock.sleep_sim(load / 2.0);
            self.log.raw(fault::start_traceback());
            std::process::exit(code);
        }
        self.clock.sleep_sim(load);
        if let Some(extra) = self.faults.slow_start {
            std::thread::sleep(std::time::Duration::from_secs_f64(extra));
        }
        if self.faults.hang_at_start {
            self.log
                .info("Loading stalled (MATRIX_SIM_FAULT hang_at_start)");
            return Loaded::Hung;
        }
        let weights = d.weight_bytes * f64::from(d.weight_copies) / f64::from(d.n_gpus) / GB;
        let after_weights = avail - weights;
        self.log.info(&format!(
            "Load weight end. type={}, dtype=torch.bfloat16, avail mem={after_weights:.2} GB, mem usage={weights:.2} GB.",
            self.model.architecture
        ));
        let kv = d.kv_pool_bytes() / f64::from(d.n_gpus) / GB;
        self.log.info(&format!(
            "KV Cache is allocated. #tokens: {}, K size: {:.2} GB, V size: {:.2} GB",
            d.max_total_num_tokens,
            kv / 2.0,
            kv / 2.0
        ));
        self.log.info(&format!(
            "Memory pool end. avail mem={:.2} GB",
            after_weights - kv
        ));
        Loaded::Ready
    }

    /// GB left on each GPU after weights and KV, for the summary line.
    pub fn available_gb(&self) -> f64 {
        let d = self.deployment;
        let used =
            (d.weight_bytes * f64::from(d.weight_copies) + d.kv_pool_bytes()) / f64::from(d.n_gpus);
        (self.gpu.memory_bytes * 0.98 - used) / GB
    }
}
