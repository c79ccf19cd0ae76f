//! Fault injection from `MATRIX_SIM_FAULT`, a comma list such as
//! `slow_start=5,jitter=2`. Each fault reproduces a failure the runner must
//! survive (see docs/SIM.md for the exact promise of each).

use super::error::SimError;

pub const ENV: &str = "MATRIX_SIM_FAULT";

/// The faults switched on for this process.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Faults {
    /// Extra load time in unscaled wall seconds.
    pub slow_start: Option<f64>,
    /// Exit with this code while loading, after a traceback.
    pub crash_at_start: Option<i32>,
    /// Never become healthy.
    pub hang_at_start: bool,
    /// Die abruptly (SIGKILL to itself) when request N+1 arrives.
    pub crash_after: Option<u64>,
    /// Stop answering and streaming from request N+1 on.
    pub hang_after: Option<u64>,
    /// Ignore SIGTERM; only SIGKILL ends the process.
    pub ignore_sigterm: bool,
    /// Leave a grandchild in the process group holding the listening socket.
    pub grandchild_port: bool,
    /// Batches of more than B sequences fail with a CUDA OOM.
    pub oom_above: Option<u64>,
    /// Up to this many simulated milliseconds added to every step, seeded.
    pub jitter_ms: Option<f64>,
}

impl Faults {
    /// Read `MATRIX_SIM_FAULT` (unset or empty: no faults).
    pub fn from_env() -> Result<Self, SimError> {
        match std::env::var(ENV) {
            Err(_) => Ok(Faults::default()),
            Ok(raw) => Self::parse(&raw),
        }
    }

    pub fn parse(raw: &str) -> Result<Self, SimError> {
        let mut f = Faults::default();
        for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            f.apply(entry).map_err(|reason| SimError::BadEnv {
                var: ENV,
                value: raw.to_string(),
                reason: format!("{entry:?}: {reason}"),
            })?;
        }
        Ok(f)
    }

    fn apply(&mut self, entry: &str) -> Result<(), String> {
        let (name, value) = match entry.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim())),
            None => (entry, None),
        };
        match (name, value) {
            ("slow_start", Some(v)) => self.slow_start = Some(seconds(v)?),
            ("crash_at_start", Some(v)) => self.crash_at_start = Some(code(v)?),
            ("crash_at_start", None) => self.crash_at_start = Some(1),
            ("hang_at_start", None) => self.hang_at_start = true,
            ("crash_after", Some(v)) => self.crash_after = Some(count(v)?),
            ("hang_after", Some(v)) => self.hang_after = Some(count(v)?),
            ("ignore_sigterm", None) => self.ignore_sigterm = true,
            ("grandchild_port", None) => self.grandchild_port = true,
            ("oom_above", Some(v)) => self.oom_above = Some(count(v)?),
            ("jitter", Some(v)) => self.jitter_ms = Some(seconds(v)?),
            ("hang_at_start" | "ignore_sigterm" | "grandchild_port", Some(_)) => {
                return Err("takes no value".into());
            }
            (_, None) if KNOWN.contains(&name) => return Err("needs a value: name=VALUE".into()),
            _ => return Err(format!("unknown fault (known: {})", KNOWN.join(", "))),
        }
        Ok(())
    }
}

const KNOWN: &[&str] = &[
    "slow_start",
    "crash_at_start",
    "hang_at_start",
    "crash_after",
    "hang_after",
    "ignore_sigterm",
    "grandchild_port",
    "oom_above",
    "jitter",
];

fn seconds(v: &str) -> Result<f64, String> {
    match v.parse::<f64>() {
        Ok(x) if x.is_finite() && x >= 0.0 => Ok(x),
        _ => Err("expected a non-negative number".into()),
    }
}

fn code(v: &str) -> Result<i32, String> {
    match v.parse::<i32>() {
        Ok(c) if (1..=255).contains(&c) => Ok(c),
        _ => Err("expected an exit code from 1 to 255".into()),
    }
}

fn count(v: &str) -> Result<u64, String> {
    v.parse::<u64>()
        .map_err(|_| "expected a whole number".into())
}

/// The text a PyTorch OOM prints, for a batch whose logits need `bytes`.
pub fn oom_traceback(bytes: f64, gpu_mem_bytes: f64) -> String {
    let gib = 1024f64.powi(3);
    let total = gpu_mem_bytes / gib;
    let free = (total * 0.015).max(0.01);
    format!(
        "Traceback (most recent call last):\n  \
         File \"/sgl-workspace/sglang/python/sglang/srt/model_executor/model_runner.py\", line 2107, in forward\n    \
         output = self._forward_raw(\n  \
         File \"/sgl-workspace/sglang/python/sglang/srt/layers/logits_processor.py\", line 412, in forward\n    \
         logits = self._get_logits(pruned_states, lm_head, logits_metadata)\n\
         torch.OutOfMemoryError: CUDA out of memory. Tried to allocate {:.2} GiB. GPU 0 has a total capacity of {total:.2} GiB of which {free:.2} GiB is free. \
         Including non-PyTorch memory, this process has {:.2} GiB memory in use. (simulated by MATRIX_SIM_FAULT oom_above)",
        bytes / gib,
        total - free,
    )
}

/// The traceback printed by `crash_at_start`.
pub fn start_traceback() -> &'static str {
    "Traceback (most recent call last):\n  \
     File \"/sgl-workspace/sglang/python/sglang/srt/managers/scheduler.py\", line 3012, in run_scheduler_process\n    \
     scheduler = Scheduler(server_args, port_args, gpu_id, tp_rank, moe_ep_rank, pp_rank, dp_rank)\n  \
     File \"/sgl-workspace/sglang/python/sglang/srt/model_executor/model_runner.py\", line 402, in __init__\n    \
     self.load_model()\n\
     RuntimeError: simulated crash during model loading (MATRIX_SIM_FAULT crash_at_start)"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_fault() {
        let f = Faults::parse(
            "slow_start=1.5, crash_at_start=3,hang_at_start,crash_after=2,hang_after=4,ignore_sigterm,grandchild_port,oom_above=8,jitter=2",
        )
        .unwrap();
        assert_eq!(f.slow_start, Some(1.5));
        assert_eq!(f.crash_at_start, Some(3));
        assert!(f.hang_at_start && f.ignore_sigterm && f.grandchild_port);
        assert_eq!(
            (f.crash_after, f.hang_after, f.oom_above),
            (Some(2), Some(4), Some(8))
        );
        assert_eq!(f.jitter_ms, Some(2.0));
    }

    #[test]
    fn rejects_unknown_and_malformed() {
        assert!(Faults::parse("explode").is_err());
        assert!(Faults::parse("crash_after").is_err());
        assert!(Faults::parse("jitter=-1").is_err());
        assert_eq!(Faults::parse("").unwrap(), Faults::default());
    }
}
