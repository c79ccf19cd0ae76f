//! Accelerator table and the roofline.
//!
//! Peaks are the vendors' published *dense* tensor-core numbers (the
//! datasheets quote "with sparsity" figures that are 2× these). Memory sizes
//! are decimal bytes as published (80 GB = 80·10⁹).
//!
//! Sources:
//! - H100 SXM: NVIDIA H100 Tensor Core GPU datasheet,
//!   <https://www.nvidia.com/en-us/data-center/h100/> (BF16 1,979 / FP8 3,958
//!   TFLOPS with sparsity; 80 GB HBM3, 3.35 TB/s).
//! - H200 SXM: <https://www.nvidia.com/en-us/data-center/h200/> (same tensor
//!   cores as H100 SXM; 141 GB HBM3e, 4.8 TB/s).
//! - B200 (HGX B200, 1,000 W): NVIDIA HGX B200 datasheet,
//!   <https://www.nvidia.com/en-us/data-center/hgx/> (FP8 9 PFLOPS and
//!   BF16 4.5 PFLOPS with sparsity; 180 GB HBM3e, 7.7 TB/s per GPU).
//! - MI300X: <https://www.amd.com/en/products/accelerators/instinct/mi300/mi300x.html>
//!   (BF16 1,307.4 / FP8 2,614.9 TFLOPS dense; 192 GB HBM3, 5.3 TB/s).
//! - MI325X: <https://www.amd.com/en/products/accelerators/instinct/mi300/mi325x.html>
//!   (BF16 1,307.4 / FP8 2,614.9 TFLOPS dense; 256 GB HBM3e, 6 TB/s).
//! - MI355X: <https://www.amd.com/en/products/accelerators/instinct/mi350/mi355x.html>
//!   (BF16 2.5 / FP8 5.0 PFLOPS dense; 288 GB HBM3e, 8 TB/s).
//! - A100 SXM 80GB: NVIDIA A100 datasheet,
//!   <https://www.nvidia.com/en-us/data-center/a100/> (BF16 312 TFLOPS dense,
//!   no FP8 tensor cores, so fp8 weights run at the BF16 peak; 2,039 GB/s).

use super::ModelError;
use super::cost::Cost;

/// One accelerator's published peaks (per GPU).
#[derive(Clone, Debug, PartialEq)]
pub struct Gpu {
    pub name: &'static str,
    /// Dense BF16 tensor-core FLOP/s.
    pub bf16_flops: f64,
    /// Dense FP8 tensor-core FLOP/s (the BF16 peak where there is no FP8).
    pub fp8_flops: f64,
    /// HBM bandwidth in bytes/s.
    pub hbm_bytes_per_s: f64,
    /// HBM capacity in bytes.
    pub memory_bytes: f64,
}

impl Gpu {
    /// The peak that applies: FP8 when the weights are fp8, else BF16.
    pub fn peak_flops(&self, fp8: bool) -> f64 {
        if fp8 { self.fp8_flops } else { self.bf16_flops }
    }

    /// FLOPs per byte at which compute and memory time are equal.
    pub fn ridge_point(&self, fp8: bool) -> f64 {
        self.peak_flops(fp8) / self.hbm_bytes_per_s
    }
}

const T: f64 = 1e12;
const GB: f64 = 1e9;

static GPUS: [Gpu; 7] = [
    Gpu {
        name: "H100-SXM",
        bf16_flops: 989.4 * T,
        fp8_flops: 1978.9 * T,
        hbm_bytes_per_s: 3.35 * T,
        memory_bytes: 80.0 * GB,
    },
    Gpu {
        name: "H200",
        bf16_flops: 989.4 * T,
        fp8_flops: 1978.9 * T,
        hbm_bytes_per_s: 4.8 * T,
        memory_bytes: 141.0 * GB,
    },
    Gpu {
        name: "B200",
        bf16_flops: 2250.0 * T,
        fp8_flops: 4500.0 * T,
        hbm_bytes_per_s: 7.7 * T,
        memory_bytes: 180.0 * GB,
    },
    Gpu {
        name: "MI300X",
        bf16_flops: 1307.4 * T,
        fp8_flops: 2614.9 * T,
        hbm_bytes_per_s: 5.3 * T,
        memory_bytes: 192.0 * GB,
    },
    Gpu {
        name: "MI325X",
        bf16_flops: 1307.4 * T,
        fp8_flops: 2614.9 * T,
        hbm_bytes_per_s: 6.0 * T,
        memory_bytes: 256.0 * GB,
    },
    Gpu {
        name: "MI355X",
        bf16_flops: 2500.0 * T,
        fp8_flops: 5000.0 * T,
        hbm_bytes_per_s: 8.0 * T,
        memory_bytes: 288.0 * GB,
    },
    Gpu {
        name: "A100-SXM",
        bf16_flops: 312.0 * T,
        fp8_flops: 312.0 * T,
        hbm_bytes_per_s: 2.039 * T,
        memory_bytes: 80.0 * GB,
    },
];

/// Short names users type, mapped to table names.
const ALIASES: &[(&str, &str)] = &[("h100", "H100-SXM"), ("a100", "A100-SXM")];

/// Every known accelerator.
pub fn gpus() -> &'static [Gpu] {
    &GPUS
}

/// Look a GPU up by name or alias, ignoring case, `-`, `_` and spaces
/// (`h100`, `H100-SXM`, `mi300x` all work).
pub fn gpu(name: &str) -> Result<&'static Gpu, ModelError> {
    let want = normalize(name);
    let target = ALIASES
        .iter()
        .find(|(alias, _)| normalize(alias) == want)
        .map_or(want, |(_, table_name)| normalize(table_name));
    GPUS.iter()
        .find(|g| normalize(g.name) == target)
        .ok_or_else(|| unknown_gpu(name))
}

fn unknown_gpu(name: &str) -> ModelError {
    let lower = name.to_ascii_lowercase();
    let names: Vec<String> = ALIASES
        .iter()
        .map(|(a, _)| a.to_string())
        .chain(GPUS.iter().map(|g| g.name.to_ascii_lowercase()))
        .collect();
    ModelError::UnknownGpu {
        name: name.to_string(),
        suggestion: crate::suggest::did_you_mean(&lower, names.iter().map(String::as_str)),
        known: GPUS.iter().map(|g| g.name).collect(),
    }
}

fn normalize(name: &str) -> String {
    name.chars()
        .filter(|c| !matches!(c, '-' | '_' | ' '))
        .flat_map(char::to_lowercase)
        .collect()
}

/// Roofline time of a step on `n_gpus` GPUs (0 is taken as 1), assuming
/// perfect splitting: max(compute time, memory time).
pub fn roofline_seconds(cost: Cost, gpu: &Gpu, n_gpus: u32, fp8: bool) -> f64 {
    roofline(cost, gpu, n_gpus, fp8).seconds()
}

/// Both sides of the roofline, to tell which one bounds the step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Roofline {
    pub compute_seconds: f64,
    pub memory_seconds: f64,
}

impl Roofline {
    pub fn seconds(&self) -> f64 {
        self.compute_seconds.max(self.memory_seconds)
    }

    pub fn compute_bound(&self) -> bool {
        self.compute_seconds >= self.memory_seconds
    }
}

/// Compute and memory time of a step on `n_gpus` GPUs (0 is taken as 1).
pub fn roofline(cost: Cost, gpu: &Gpu, n_gpus: u32, fp8: bool) -> Roofline {
    let n = f64::from(n_gpus.max(1));
    Roofline {
        compute_seconds: cost.flops / (gpu.peak_flops(fp8) * n),
        memory_seconds: cost.bytes / (gpu.hbm_bytes_per_s * n),
    }
}

/// Model FLOPs utilisation of a measured step: achieved / peak FLOP/s.
pub fn mfu(cost: Cost, gpu: &Gpu, n_gpus: u32, fp8: bool, latency_s: f64) -> f64 {
    cost.flops / (gpu.peak_flops(fp8) * f64::from(n_gpus.max(1)) * latency_s)
}

/// Memory-bandwidth utilisation of a measured step: achieved / peak bytes/s.
pub fn mbu(cost: Cost, gpu: &Gpu, n_gpus: u32, latency_s: f64) -> f64 {
    cost.bytes / (gpu.hbm_bytes_per_s * f64::from(n_gpus.max(1)) * latency_s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_is_case_and_dash_insensitive_with_aliases() {
        assert_eq!(gpu("h100").map(|g| g.name).ok(), Some("H100-SXM"));
        assert_eq!(gpu("H100_sxm").map(|g| g.name).ok(), Some("H100-SXM"));
        assert_eq!(gpu("mi300x").map(|g| g.name).ok(), Some("MI300X"));
        for g in gpus() {
            assert_eq!(gpu(g.name).map(|x| x.name).ok(), Some(g.name));
        }
    }

    #[test]
    fn unknown_gpu_suggests_the_closest() {
        let err = gpu("h201").unwrap_err();
        assert_eq!(err.to_string(), "unknown GPU `h201`");
        let hint = err.hint().unwrap_or_default();
        assert!(hint.contains("did you mean `h200`"), "{hint}");
        assert!(
            gpu("tpu-v5")
                .unwrap_err()
                .hint()
                .unwrap_or_default()
                .contains("MI355X")
        );
    }

    #[test]
    fn table_is_sane() {
        for g in gpus() {
            assert!(g.fp8_flops >= g.bf16_flops, "{}", g.name);
            assert!(g.bf16_flops > 1e14 && g.hbm_bytes_per_s > 1e12 && g.memory_bytes >= 80e9);
        }
    }

    #[test]
    fn roofline_takes_the_slower_side_and_scales_with_gpus() {
        let h100 = gpu("h100").expect("known");
        let memory_heavy = Cost {
            flops: 1e12,
            bytes: 1e12,
        };
        let one = roofline(memory_heavy, h100, 1, false);
        assert!(!one.compute_bound());
        assert_eq!(one.seconds(), 1e12 / h100.hbm_bytes_per_s);
        let eight = roofline_seconds(memory_heavy, h100, 8, false);
        assert!((one.seconds() / eight - 8.0).abs() < 1e-9);
        let compute_heavy = Cost {
            flops: 1e15,
            bytes: 1e9,
        };
        let bf16 = roofline_seconds(compute_heavy, h100, 1, false);
        let fp8 = roofline_seconds(compute_heavy, h100, 1, true);
        assert!((bf16 / fp8 - 2.0).abs() < 0.01);
    }

    #[test]
    fn mfu_and_mbu_are_one_at_the_roofline() {
        let g = gpu("b200").expect("known");
        let c = Cost {
            flops: 3e15,
            bytes: 2e12,
        };
        let r = roofline(c, g, 2, true);
        assert!((mfu(c, g, 2, true, r.compute_seconds) - 1.0).abs() < 1e-12);
        assert!((mbu(c, g, 2, r.memory_seconds) - 1.0).abs() < 1e-12);
    }
}
