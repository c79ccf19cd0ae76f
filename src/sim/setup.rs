//! Start-up shared by both entry points: flags, environment, model, GPU and
//! deployment, validated before anything is slept or bound.

use super::args::RawArgs;
use super::cost::{self, Gpu, SimModel};
use super::deployment::{self, Deployment};
use super::error::SimError;
use super::fault::Faults;
use super::log::Logger;
use super::noise::NoiseArgs;
use super::server_args::ServerArgs;
use super::timing::{Clock, RooflineTimer};

pub struct Setup {
    pub args: ServerArgs,
    pub faults: Faults,
    pub clock: Clock,
    pub model: SimModel,
    pub gpu: &'static Gpu,
    pub deployment: Deployment,
    pub log: Logger,
    /// Run-to-run noise and slowdown (test aids; off by default).
    pub noise: NoiseArgs,
}

impl Setup {
    pub fn new(raw: &RawArgs, extra_known: &[&str]) -> Result<Self, SimError> {
        let args = ServerArgs::from_raw(raw, extra_known)?;
        let noise = NoiseArgs::from_raw(raw)?;
        let faults = Faults::from_env()?;
        let clock = Clock::from_env()?;
        let model = SimModel::load(&args.model_path)?;
        let gpu = cost::gpu(&args.sim_gpu)?;
        let deployment = Deployment::new(&args, &model, gpu)?;
        let tp_rank = args.node_rank * (args.tp_size / args.nnodes).max(1);
        let log = Logger::new(&format!(" TP{tp_rank}"), args.debug());
        for flag in &args.ignored {
            log.debug(&format!("ignoring flag {flag} (not simulated)"));
        }
        Ok(Setup {
            args,
            faults,
            clock,
            model,
            gpu,
            deployment,
            log,
            noise,
        })
    }

    /// The step-cost model for this deployment.
    pub fn timer(&self) -> RooflineTimer {
        RooflineTimer {
            model: self.model.clone(),
            gpu: self.gpu,
            n_gpus: deployment::gpu_count(&self.args),
            overhead_s: self.args.sim_step_overhead_ms / 1000.0,
        }
    }

    pub fn loader(&self) -> super::loading::Loader<'_> {
        super::loading::Loader {
            log: &self.log,
            model: &self.model,
            deployment: &self.deployment,
            gpu: self.gpu,
            faults: &self.faults,
            clock: &self.clock,
        }
    }
}
