//! `matrix sim one-batch`: what `python -m sglang.benchmark.one_batch`
//! prints, with latencies from the cost model.
//!
//! Mirrors `latency_test`: load, print `max_total_num_tokens=`, a warmup run
//! of the first combination with `min(32, output_len)` decode steps, then
//! `Benchmark ...` and every (batch, input, output) combination. Each run is
//! one prefill of the whole batch and `output_len - 1` decode steps; the
//! first five decode steps are printed (and every `--log-decode-step`th).
//! Results are appended as JSON lines at the end, as SGLang does.

use std::io::Write;

use serde_json::{Value, json};

use super::args::RawArgs;
use super::bench_args::{self, BenchArgs};
use super::cost::SeqStep;
use super::error::SimError;
use super::fault;
use super::help;
use super::loading::Loaded;
use super::noise::Noise;
use super::pyfmt;
use super::rng::Jitter;
use super::setup::Setup;
use super::timing::StepTimer;

pub fn one_batch(argv: &[String]) -> Result<i32, SimError> {
    if help::wanted(argv) {
        print!("{}", help::ONE_BATCH);
        return Ok(0);
    }
    let raw = RawArgs::parse(argv)?;
    let setup = Setup::new(&raw, bench_args::KNOWN)?;
    let bench = BenchArgs::from_raw(&raw)?;
    super::launch::record_start(&setup, "one-batch")?;
    if setup.loader().run() == Loaded::Hung {
        loop {
            std::thread::park();
        }
    }
    let mut runner = Runner {
        timer: Box::new(setup.timer()),
        setup: &setup,
        jitter: Jitter::new(setup.args.sim_seed, setup.faults.jitter_ms),
        noise: Noise::new(setup.noise, &[]),
    };
    say(&format!(
        "max_total_num_tokens={}",
        setup.deployment.max_total_num_tokens
    ));
    say("Warmup ...");
    let warm = Case {
        bs: bench.batch_size[0],
        il: bench.input_len[0],
        ol: bench.output_len[0].min(32),
    };
    runner.run_once(&bench, warm, false)?;
    say("Benchmark ...");
    let mut results = Vec::new();
    for &bs in &bench.batch_size {
        for &il in &bench.input_len {
            for &ol in &bench.output_len {
                results.extend(runner.run_once(&bench, Case { bs, il, ol }, true)?);
            }
        }
    }
    write_results(&bench.result_filename, &results)?;
    Ok(0)
}

#[derive(Debug, Clone, Copy)]
struct Case {
    bs: u64,
    il: u64,
    ol: u64,
}

struct Runner<'a> {
    timer: Box<dyn StepTimer>,
    setup: &'a Setup,
    jitter: Jitter,
    /// This case's run noise (a new run per case, keyed by its workload).
    noise: Noise,
}

impl Runner<'_> {
    /// One `latency_test_run_once`; None when the case is skipped.
    fn run_once(
        &mut self,
        bench: &BenchArgs,
        c: Case,
        measured: bool,
    ) -> Result<Option<Value>, SimError> {
        let max_bs = self.setup.deployment.max_total_num_tokens / (c.il + c.ol);
        if c.bs > max_bs {
            say(&format!(
                "skipping ({}, {}, {}) due to max batch size limit",
                c.bs, c.il, c.ol
            ));
            return Ok(None);
        }
        self.check_oom(c);
        // The deployment is part of the key: the same workload on another
        // deployment (another group of the sweep) is an independent run.
        let a = &self.setup.args;
        let key = [
            u64::from(measured),
            c.bs,
            c.il,
            c.ol,
            u64::from(a.tp_size),
            u64::from(a.ep_size),
            u64::from(a.dp_size),
            u64::from(a.nnodes),
        ];
        self.noise = Noise::new(self.setup.noise, &key);
        let profile = measured && bench.profile;
        let mut r = json!({"run_name": bench.run_name, "batch_size": c.bs, "input_len": c.il, "output_len": c.ol});
        let stage_on =
            |s: &str| profile && (bench.profile_stage == "all" || bench.profile_stage == s);
        if stage_on("prefill") {
            profiler_start(bench);
        }
        let prefill = self.step(&vec![
            SeqStep {
                new_tokens: c.il,
                context: 0
            };
            c.bs as usize
        ]);
        if stage_on("prefill") {
            profiler_stop(bench, "prefill");
        }
        let throughput = (c.il * c.bs) as f64 / prefill;
        say(&format!(
            "Prefill. latency: {prefill:6.5} s, throughput: {throughput:9.2} token/s"
        ));
        r["prefill_latency"] = json!(prefill);
        r["prefill_throughput"] = json!(throughput);
        let decodes = self.decode(
            bench,
            c,
            stage_on("decode"),
            if measured { bench.log_decode_step } else { 0 },
        );
        let mut total = prefill + decodes.iter().sum::<f64>();
        if c.ol > 1 {
            let med = median(&decodes);
            let med_tp = c.bs as f64 / med;
            say(&format!(
                "Decode.  median latency: {med:6.5} s, median throughput: {med_tp:9.2} token/s"
            ));
            r["median_decode_latency"] = json!(med);
            r["median_decode_throughput"] = json!(med_tp);
        }
        if total <= 0.0 {
            total = f64::MIN_POSITIVE;
        }
        let overall = ((c.il + c.ol) * c.bs) as f64 / total;
        say(&format!(
            "Total. latency: {total:6.3} s, throughput: {overall:9.2} token/s"
        ));
        r["total_latency"] = json!(total);
        r["overall_throughput"] = json!(overall);
        r["simulated"] = json!(true);
        Ok(measured.then_some(r))
    }

    /// `output_len - 1` decode steps; returns their latencies.
    fn decode(&mut self, bench: &BenchArgs, c: Case, profiled: bool, log_step: u64) -> Vec<f64> {
        let start = bench.profile_start_step.unwrap_or(c.ol / 2);
        let end = start + bench.profile_steps.unwrap_or(1);
        let mut open = false;
        let mut lat = Vec::with_capacity(c.ol as usize);
        for i in 0..c.ol.saturating_sub(1) {
            if profiled && i == start {
                profiler_start(bench);
                open = true;
            }
            let t = self.step(&vec![
                SeqStep {
                    new_tokens: 1,
                    context: c.il + i
                };
                c.bs as usize
            ]);
            if open && i + 1 >= end {
                profiler_stop(bench, "decode");
                open = false;
            }
            lat.push(t);
            if i < 5 || (log_step > 0 && i % log_step == 0) {
                let tp = c.bs as f64 / t;
                say(&format!(
                    "Decode {i}. Batch size: {}, latency: {t:6.5} s, throughput: {tp:9.2} token/s",
                    c.bs
                ));
            }
        }
        lat
    }

    /// Price one forward step and sleep its scaled duration.
    fn step(&mut self, batch: &[SeqStep]) -> f64 {
        let t = self.noise.apply(self.timer.step_seconds(batch)) + self.jitter.next_seconds();
        self.setup.clock.sleep_sim(t);
        t
    }

    fn check_oom(&self, c: Case) {
        if self.setup.faults.oom_above.is_some_and(|b| c.bs > b) {
            let logits = (c.bs * c.il) as f64 * self.setup.model.vocab_size() as f64 * 4.0;
            let _ = std::io::stdout().flush();
            self.setup
                .log
                .raw(&fault::oom_traceback(logits, self.setup.gpu.memory_bytes));
            std::process::exit(1);
        }
    }
}

fn profiler_start(bench: &BenchArgs) {
    if bench.cuda_profiler() {
        say("CUDA Profiler started (nsys will begin capturing)");
    }
}

fn profiler_stop(bench: &BenchArgs, stage: &str) {
    if bench.cuda_profiler() {
        say("CUDA Profiler stopped (nsys should dump traces)");
        say(&format!("CUDA profiler trace for {stage} completed"));
    }
}

/// numpy's median: the mean of the two middle values for even counts.
fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn write_results(path: &str, results: &[Value]) -> Result<(), SimError> {
    if path.is_empty() {
        return Ok(());
    }
    let fail = |e| SimError::io(format!("cannot append results to {path}"), e);
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(fail)?;
    let mut text = String::new();
    for r in results {
        text.push_str(&pyfmt::json_dumps(r));
        text.push('\n');
    }
    file.write_all(text.as_bytes()).map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn numpy_median() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    }
}
