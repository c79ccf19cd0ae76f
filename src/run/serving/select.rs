//! Which repeat of a serving cell is recorded, by which metric.

use crate::parse::serving::ServingResult;
use crate::plan::PlanCell;

/// The repeat to record: `best` by the selection metric (lowest for
/// latencies, highest for throughputs), or the `median` by it.
pub fn select(runs: &[ServingResult], cell: &PlanCell) -> ServingResult {
    let rule = cell
        .workload
        .get("select")
        .and_then(|v| v.as_str())
        .unwrap_or("best");
    let name = cell
        .workload
        .get("select_metric")
        .and_then(|v| v.as_str())
        .unwrap_or("median_e2e_latency_ms");
    let mut scored: Vec<(f64, &ServingResult)> = runs
        .iter()
        .map(|r| (metric(r, name).unwrap_or(f64::NAN), r))
        .collect();
    let higher_is_better = name.contains("throughput");
    scored.sort_by(|a, b| {
        if higher_is_better {
            b.0.total_cmp(&a.0)
        } else {
            a.0.total_cmp(&b.0)
        }
    });
    let pick = if rule == "median" {
        scored.len() / 2
    } else {
        0
    };
    scored[pick].1.clone()
}

/// A metric of a serving result by its SGLang key name.
pub fn metric(r: &ServingResult, name: &str) -> Option<f64> {
    let pct = |p: &crate::parse::Percentiles, stat: &str| match stat {
        "mean" => p.mean,
        "median" => p.median,
        "p90" => p.p90,
        "p99" => p.p99,
        _ => None,
    };
    match name {
        "request_throughput" => r.request_throughput,
        "input_throughput" => r.input_throughput,
        "output_throughput" => r.output_throughput,
        "duration" => Some(r.duration),
        _ => {
            let (stat, rest) = name.split_once('_')?;
            match rest {
                "e2e_latency_ms" => pct(&r.e2e_latency_ms, stat),
                "ttft_ms" => pct(&r.ttft_ms, stat),
                "tpot_ms" => pct(&r.tpot_ms, stat),
                "itl_ms" => pct(&r.itl_ms, stat),
                _ => None,
            }
        }
    }
}

/// The names [`metric`] knows, for checking `select_metric` up front.
pub fn metric_known(name: &str) -> bool {
    let stats = ["mean", "median", "p90", "p99"];
    let series = ["e2e_latency_ms", "ttft_ms", "tpot_ms", "itl_ms"];
    [
        "request_throughput",
        "input_throughput",
        "output_throughput",
        "duration",
    ]
    .contains(&name)
        || name
            .split_once('_')
            .is_some_and(|(s, r)| stats.contains(&s) && series.contains(&r))
}
