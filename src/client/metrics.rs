//! SGLang's `calculate_metrics`, on [`RequestRecord`]s.
//!
//! - TTFT: first content chunk − send. ITL: see [`RequestRecord::push_itls`].
//! - TPOT: (latency − ttft) / (output_len − 1), for output_len > 1.
//! - E2E: last line received − send. Concurrency: Σ e2e / duration.
//! - Peak output tokens/s and peak concurrent requests: 1-second buckets
//!   from the earliest send, exactly as SGLang buckets them.
//! - Send lateness (ours, LoadGen style): actual send − due time.

use std::collections::BTreeMap;

use super::record::{ErrorKind, RequestRecord};
use super::stats::Summary;

/// Everything the summary block and the JSON line report.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    pub completed: usize,
    pub failed: usize,
    pub total_input: u64,
    pub total_output: u64,
    pub duration_s: f64,
    pub request_throughput: f64,
    pub input_throughput: f64,
    pub output_throughput: f64,
    pub total_throughput: f64,
    /// Milliseconds.
    pub ttft: Summary,
    pub tpot: Summary,
    pub itl: Summary,
    pub e2e: Summary,
    pub lateness: Summary,
    pub concurrency: f64,
    pub max_output_tokens_per_s: f64,
    pub max_concurrent_requests: u64,
    pub errors: BTreeMap<ErrorKind, usize>,
    /// `matrix bench serving` entry → first request sent (ms).
    pub startup_ms: f64,
    /// The first failure's message, for the error report.
    pub first_error: Option<String>,
}

/// Seconds between the earliest send and the latest completion of `recs`.
pub fn span_s(recs: &[RequestRecord]) -> f64 {
    let start = recs.iter().map(|r| r.send_us).min().unwrap_or(0);
    let end = recs
        .iter()
        .map(|r| r.send_us + r.latency_us as u64)
        .max()
        .unwrap_or(0);
    end.saturating_sub(start) as f64 * 1e-6
}

/// Compute every metric; `duration_s` is the benchmark duration.
pub fn compute(recs: &[RequestRecord], duration_s: f64) -> Metrics {
    let ok: Vec<&RequestRecord> = recs.iter().filter(|r| r.success()).collect();
    let (mut ttfts, mut tpots, mut e2es) = (vec![], vec![], vec![]);
    // One ITL per token after the first: sized once, not regrown.
    let tokens: usize = recs.iter().map(|r| r.output_len as usize).sum();
    let mut itls = Vec::with_capacity(tokens);
    let mut m = Metrics {
        completed: ok.len(),
        failed: recs.len() - ok.len(),
        duration_s,
        ..Default::default()
    };
    for r in &ok {
        m.total_input += r.prompt_len as u64;
        m.total_output += r.output_len as u64;
        if r.output_len > 1 {
            tpots.push((r.latency_s() - r.ttft_s()) / (r.output_len - 1) as f64);
        }
        r.push_itls(&mut itls);
        ttfts.push(r.ttft_s());
        e2es.push(r.latency_s());
    }
    for r in recs {
        if let Some(f) = &r.failure {
            *m.errors.entry(f.kind).or_default() += 1;
            m.first_error.get_or_insert_with(|| f.message.clone());
        }
    }
    let lateness: Vec<f64> = recs.iter().map(RequestRecord::lateness_s).collect();
    let d = duration_s;
    m.request_throughput = m.completed as f64 / d;
    m.input_throughput = m.total_input as f64 / d;
    m.output_throughput = m.total_output as f64 / d;
    m.total_throughput = (m.total_input + m.total_output) as f64 / d;
    m.ttft = Summary::of(&ttfts).scaled(1e3);
    m.tpot = Summary::of(&tpots).scaled(1e3);
    m.itl = Summary::of_vec(itls).scaled(1e3);
    m.e2e = e2e_summary(&e2es);
    m.lateness = Summary::of(&lateness).scaled(1e3);
    m.concurrency = e2es.iter().sum::<f64>() / d;
    (m.max_output_tokens_per_s, m.max_concurrent_requests) = peaks(&ok);
    m
}

/// numpy gives NaN for the E2E statistics of an empty list (no `or 0`).
fn e2e_summary(e2es: &[f64]) -> Summary {
    if e2es.is_empty() {
        let nan = f64::NAN;
        return Summary {
            mean: nan,
            median: nan,
            std: nan,
            p90: nan,
            p95: nan,
            p99: nan,
            max: nan,
        };
    }
    Summary::of(e2es).scaled(1e3)
}

/// SGLang's per-second token and concurrency buckets; returns the maxima.
fn peaks(ok: &[&RequestRecord]) -> (f64, u64) {
    let Some(start) = ok.iter().map(|r| r.send_us).min() else {
        return (0.0, 0);
    };
    let end = ok
        .iter()
        .map(|r| r.send_us + r.latency_us as u64)
        .max()
        .unwrap_or(start);
    let span = (end - start) as f64 * 1e-6;
    let n = span.ceil() as usize + 1;
    let mut tokens = vec![0u64; n];
    let mut conc = vec![0u64; n];
    let mut itls = Vec::new();
    for r in ok {
        let t0 = (r.send_us - start) as f64 * 1e-6;
        let mut t = t0 + r.ttft_s();
        bump(&mut tokens, t);
        itls.clear();
        r.push_itls(&mut itls);
        for gap in &itls {
            t += gap;
            bump(&mut tokens, t);
        }
        let first = t0 as usize;
        let last = (t0 + r.latency_s()) as usize;
        for c in conc.iter_mut().take((last + 1).min(n)).skip(first) {
            *c += 1;
        }
    }
    let max_tok = tokens.iter().copied().max().unwrap_or(0) as f64;
    (max_tok, conc.iter().copied().max().unwrap_or(0))
}

fn bump(buckets: &mut [u64], t: f64) {
    if t >= 0.0 {
        if let Some(b) = buckets.get_mut(t as usize) {
            *b += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::record::Failure;

    fn rec(send_ms: u64, chunks_ms: &[u32], out: u32) -> RequestRecord {
        RequestRecord {
            send_us: send_ms * 1000,
            scheduled_us: send_ms * 1000,
            chunk_us: chunks_ms.iter().map(|c| c * 1000).collect(),
            latency_us: chunks_ms.last().copied().unwrap_or(0) * 1000 + 1000,
            prompt_len: 10,
            output_len: out,
            ..Default::default()
        }
    }

    #[test]
    fn definitions_follow_sglang() {
        let recs = vec![rec(0, &[100, 110, 130], 3), rec(500, &[50, 60, 70], 3)];
        let m = compute(&recs, 1.0);
        assert_eq!(m.completed, 2);
        assert_eq!(m.total_output, 6);
        assert!((m.ttft.mean - 75.0).abs() < 1e-9);
        // ITLs: 10, 20, 10, 10 ms
        assert!((m.itl.mean - 12.5).abs() < 1e-9);
        // TPOT: (131-100)/2 = 15.5 and (71-50)/2 = 10.5
        assert!((m.tpot.mean - 13.0).abs() < 1e-9);
        assert!((m.concurrency - (0.131 + 0.071)).abs() < 1e-9);
        assert_eq!(m.max_output_tokens_per_s, 6.0);
        assert_eq!(m.max_concurrent_requests, 2);
    }

    /// Send lateness summarises every request, failed ones included, in ms.
    #[test]
    fn lateness_summarises_send_minus_due_of_every_request() {
        let mut recs: Vec<RequestRecord> = [0u64, 1_000, 3_000, 0]
            .iter()
            .enumerate()
            .map(|(i, &late_us)| {
                let mut r = rec(100 * i as u64, &[10], 1);
                r.send_us += late_us;
                r
            })
            .collect();
        recs[3].failure = Some(Failure {
            kind: ErrorKind::Transport,
            message: "refused".into(),
        });
        let m = compute(&recs, 1.0);
        assert_eq!(m.lateness.max, 3.0);
        assert!((m.lateness.mean - 1.0).abs() < 1e-12);
        assert!((m.lateness.median - 0.5).abs() < 1e-12);
    }
}
