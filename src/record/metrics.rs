//! Engine results → the CSV's metric columns, with MFU / MBU from the cost
//! model.
//!
//! - `prefill_mfu = prefill_flops(bsz, input_len) / (peak × gpus × prefill_latency)`
//! - `decode_mbu = decode_bytes(bsz, context) / (bandwidth × gpus × median_decode_latency)`,
//!   with `context = input_len + (output_len − 1) / 2`: the cache length
//!   at the middle decode step, the one the median latency stands for.
//!
//! The peak is the FP8 one for fp8 weights, BF16 otherwise
//! ([`crate::model::Gpu::peak_flops`]). With no known GPU both stay empty.

use super::csv::CsvRow;
use crate::model::{Gpu, ModelSpec, mbu, mfu};
use crate::parse::one_batch::{LatencyResult, Skipped};
use crate::parse::serving::{Percentiles, ServingResult};

/// The model and hardware a latency cell ran on, for MFU / MBU.
#[derive(Debug, Clone, Copy)]
pub struct Utilisation<'a> {
    pub spec: &'a ModelSpec,
    pub gpu: &'static Gpu,
    /// GPUs the model is spread over (tensor × data parallel replicas).
    pub n_gpus: u32,
}

impl<'a> Utilisation<'a> {
    /// `None` when `gpu` is absent or not in the table (`crate::model::gpus`):
    /// the columns are then left empty rather than guessed.
    pub fn new(spec: &'a ModelSpec, gpu: Option<&str>, n_gpus: u32) -> Option<Utilisation<'a>> {
        let gpu = crate::model::gpu(gpu?).ok()?;
        Some(Utilisation { spec, gpu, n_gpus })
    }

    /// Model FLOPs utilisation of the measured prefill.
    pub fn prefill_mfu(&self, bsz: u64, input_len: u64, latency_s: f64) -> Option<f64> {
        if latency_s <= 0.0 || !latency_s.is_finite() {
            return None;
        }
        let cost = self.spec.prefill_cost(bsz, input_len);
        Some(mfu(
            cost,
            self.gpu,
            self.n_gpus,
            self.spec.is_fp8(),
            latency_s,
        ))
    }

    /// Memory-bandwidth utilisation of the median decode step.
    pub fn decode_mbu(
        &self,
        bsz: u64,
        input_len: u64,
        output_len: u64,
        latency_s: f64,
    ) -> Option<f64> {
        if latency_s <= 0.0 || !latency_s.is_finite() {
            return None;
        }
        let context = input_len + output_len.saturating_sub(1) / 2;
        let cost = self.spec.decode_cost(bsz, context);
        Some(mbu(cost, self.gpu, self.n_gpus, latency_s))
    }
}

/// Fill the latency metric columns from one one_batch result.
pub fn fill_latency(row: &mut CsvRow, r: &LatencyResult, util: Option<&Utilisation<'_>>) {
    row.set("bsz", r.batch_size);
    row.set("input_len", r.input_len);
    row.set("output_len", r.output_len);
    row.set("prefill_latency_s", r.prefill_latency);
    row.set("prefill_throughput", r.prefill_throughput);
    row.set_opt("median_decode_latency_s", r.median_decode_latency);
    row.set_opt("median_decode_throughput", r.median_decode_throughput);
    row.set("e2e_latency_s", r.total_latency);
    row.set("e2e_throughput", r.overall_throughput);
    row.set_opt(
        "prefill_mfu",
        util.and_then(|u| u.prefill_mfu(r.batch_size, r.input_len, r.prefill_latency)),
    );
    row.set_opt(
        "decode_mbu",
        util.zip(r.median_decode_latency)
            .and_then(|(u, lat)| u.decode_mbu(r.batch_size, r.input_len, r.output_len, lat)),
    );
}

/// The combination columns of a skipped one_batch combination.
pub fn fill_skipped(row: &mut CsvRow, s: &Skipped) {
    row.set("bsz", s.bsz);
    row.set("input_len", s.input_len);
    row.set("output_len", s.output_len);
}

/// Fill the serving metric columns from one bench_serving result.
/// `request_rate` is `inf` for "all at once".
/// `input_len` / `output_len` come from the random dataset lengths when the
/// file has them; the runner may overwrite them with the cell's workload.
/// `request_rate`, `max_concurrency`, `num_prompts` the file lacks keep the
/// values the row already has (the client's argv).
pub fn fill_serving(row: &mut CsvRow, r: &ServingResult) {
    row.set_opt("input_len", r.random_input_len);
    row.set_opt("output_len", r.random_output_len);
    // What the output file records wins over the client's argv (set by
    // `CsvRow::for_cell`); what it lacks is left as the argv said.
    if let Some(v) = r.request_rate {
        row.set("request_rate", v);
    }
    if let Some(v) = r.max_concurrency {
        row.set("max_concurrency", v);
    }
    if let Some(v) = r.num_prompts {
        row.set("num_prompts", v);
    }
    row.set("completed", r.completed);
    row.set("bench_duration_s", r.duration);
    row.set_opt("request_throughput", r.request_throughput);
    row.set_opt("input_throughput", r.input_throughput);
    row.set_opt("output_throughput", r.output_throughput);
    let put = |row: &mut CsvRow, name: &str, p: &Percentiles| {
        row.set_opt(&format!("mean_{name}_ms"), p.mean);
        row.set_opt(&format!("median_{name}_ms"), p.median);
        row.set_opt(&format!("p90_{name}_ms"), p.p90);
        row.set_opt(&format!("p99_{name}_ms"), p.p99);
    };
    put(row, "e2e", &r.e2e_latency_ms);
    put(row, "ttft", &r.ttft_ms);
    put(row, "tpot", &r.tpot_ms);
    put(row, "itl", &r.itl_ms);
    row.set_opt("concurrency", r.concurrency);
    if let Some(l) = &r.schedule_lateness {
        row.set_opt("schedule_lateness_mean_ms", l.mean_ms);
        row.set_opt("schedule_lateness_p99_ms", l.p99_ms);
        row.set_opt("schedule_lateness_max_ms", l.max_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::csv::{CsvSchema, Mode};

    fn spec() -> ModelSpec {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/sim/qwen3-2l/config.json"
        );
        ModelSpec::from_file(camino::Utf8Path::new(path)).unwrap()
    }

    fn result() -> LatencyResult {
        LatencyResult {
            run_name: None,
            batch_size: 4,
            input_len: 1024,
            output_len: 129,
            prefill_latency: 0.01,
            prefill_throughput: 409600.0,
            median_decode_latency: Some(0.005),
            median_decode_throughput: Some(800.0),
            total_latency: 0.7,
            overall_throughput: 6500.0,
        }
    }

    #[test]
    fn mfu_and_mbu_follow_the_formulas() {
        let s = spec();
        let u = Utilisation::new(&s, Some("h100"), 2).unwrap();
        let mut row = CsvRow::new();
        fill_latency(&mut row, &result(), Some(&u));
        let gpu = crate::model::gpu("h100").unwrap();
        let want_mfu = s.prefill_cost(4, 1024).flops / (gpu.peak_flops(s.is_fp8()) * 2.0 * 0.01);
        let want_mbu = s.decode_cost(4, 1024 + 64).bytes / (gpu.hbm_bytes_per_s * 2.0 * 0.005);
        let got = |c: &str| row.get(c).unwrap().parse::<f64>().unwrap();
        assert!((got("prefill_mfu") - want_mfu).abs() <= 1e-12 * want_mfu);
        assert!((got("decode_mbu") - want_mbu).abs() <= 1e-12 * want_mbu);
        assert!(got("prefill_mfu") > 0.0 && got("decode_mbu") > 0.0);
        CsvSchema::new(&[Mode::Latency], &[]).render(&row).unwrap();
    }

    #[test]
    fn unknown_gpu_or_no_decode_leaves_columns_empty() {
        let s = spec();
        assert!(Utilisation::new(&s, Some("tpu"), 1).is_none());
        assert!(Utilisation::new(&s, None, 1).is_none());
        let mut row = CsvRow::new();
        fill_latency(&mut row, &result(), None);
        assert_eq!(row.get("prefill_mfu"), None);
        let u = Utilisation::new(&s, Some("h200"), 1).unwrap();
        let mut r = result();
        r.median_decode_latency = None;
        fill_latency(&mut row, &r, Some(&u));
        assert_eq!(row.get("decode_mbu"), None);
        assert!(row.get("prefill_mfu").is_some());
    }
}
