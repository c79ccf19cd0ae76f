//! The statistics of `matrix compare` / `matrix regressions` on the
//! simulator's noise model (lognormal, total CV 2 % per sample, repeats 5 per
//! side, 40 cells per report, 100 seeds): A/A false-positive rate, power and
//! false positives with a planted 5 % slowdown on half the cells, change-point
//! hit rate (20 points, 10 % step at 12) and false-step rate (pure noise),
//! then the time of `compare_all` over 10 000 cells × 4 metrics × 5 repeats.
//! Run with `cargo bench --bench compare_stats`; numbers go to
//! docs/COMPARE.md. A program that prints, not a test: nothing here asserts.

use std::time::Instant;

use matrix::report::stats::synthetic::{Noise, planted_pairs, step_series};
use matrix::report::stats::{
    Better, ChangePointOptions, Pair, Thresholds, Verdict, change_points, compare_all,
};

const SEEDS: u64 = 100;
const CELLS: usize = 40;

fn flagged(v: Verdict) -> bool {
    matches!(v, Verdict::Regression | Verdict::Improvement)
}

/// (A/A flagged, planted found, planted-run others flagged), as fractions.
fn verdict_rates(moderate: bool, repeats: usize) -> (f64, f64, f64) {
    let t = Thresholds::default();
    let own_family = |mut pairs: Vec<Pair>| {
        if !moderate {
            for (i, p) in pairs.iter_mut().enumerate() {
                p.family = format!("cell{i}");
            }
        }
        pairs
    };
    let (mut aa, mut aa_n) = (0usize, 0usize);
    let (mut hit, mut hit_n, mut fp, mut fp_n) = (0usize, 0usize, 0usize, 0usize);
    for seed in 0..SEEDS {
        let (pairs, _) = planted_pairs(10_000 + seed, CELLS, repeats, 0.02, 1.0);
        for c in compare_all(&own_family(pairs), &t) {
            aa_n += 1;
            aa += usize::from(flagged(c.verdict));
        }
        let (pairs, planted) = planted_pairs(20_000 + seed, CELLS, repeats, 0.02, 1.05);
        for (c, p) in compare_all(&own_family(pairs), &t).iter().zip(planted) {
            if p {
                hit_n += 1;
                hit += usize::from(c.verdict == Verdict::Regression);
            } else {
                fp_n += 1;
                fp += usize::from(flagged(c.verdict));
            }
        }
    }
    (
        aa as f64 / aa_n as f64,
        hit as f64 / hit_n as f64,
        fp as f64 / fp_n as f64,
    )
}

fn main() {
    println!("noise: lognormal, total CV 2 % per sample; {CELLS} cells per report; {SEEDS} seeds");
    for (label, moderate, repeats) in [
        ("moderated t (family prior), repeats 5", true, 5),
        ("plain pooled t (no family prior), repeats 5", false, 5),
        ("moderated t (family prior), repeats 3", true, 3),
    ] {
        let (aa, power, fp) = verdict_rates(moderate, repeats);
        println!(
            "{label}: A/A flagged {:.2} %, planted 5 % found {:.1} %, others flagged {:.2} %",
            aa * 100.0,
            power * 100.0,
            fp * 100.0
        );
    }

    let opts = ChangePointOptions::default();
    let (mut exact, mut false_series) = (0, 0);
    for seed in 0..SEEDS {
        let cps = change_points(
            &step_series(30_000 + seed, 20, 0.02, Some((12, 1.10))),
            &opts,
        );
        let ok = cps.len() == 1 && cps[0].index.abs_diff(12) <= 1;
        exact += usize::from(ok);
        if !ok {
            let found: Vec<(usize, String)> = cps
                .iter()
                .map(|c| (c.index, format!("{:+.1} %", c.change_pct)))
                .collect();
            println!("  step series seed {}: found {found:?}", 30_000 + seed);
        }
        false_series += usize::from(
            !change_points(&step_series(40_000 + seed, 20, 0.02, None), &opts).is_empty(),
        );
    }
    println!(
        "change points (20 points, CV 2 %): 10 % step at 12 found alone at 12±1 in {exact} of {SEEDS}; pure noise with a false step in {false_series} of {SEEDS}"
    );

    // 10 000 cells × 4 metrics × 5 repeats per side
    let mut noise = Noise::new(1, 0.02);
    let families = [
        "e2e_latency_s",
        "prefill_latency_s",
        "median_decode_latency_s",
        "e2e_throughput",
    ];
    let mut pairs = Vec::with_capacity(40_000);
    for cell in 0..10_000 {
        for (m, fam) in families.iter().enumerate() {
            let level = 1.0 + (cell % 97) as f64 + m as f64;
            pairs.push(Pair {
                base: noise.samples(level, 5),
                new: noise.samples(level * if cell % 10 == 0 { 1.05 } else { 1.0 }, 5),
                history: Vec::new(),
                better: if m == 3 {
                    Better::Higher
                } else {
                    Better::Lower
                },
                family: fam.to_string(),
            });
        }
    }
    let t = Thresholds::default();
    let mut best = f64::INFINITY;
    let mut n_reg = 0;
    for _ in 0..5 {
        let start = Instant::now();
        let out = compare_all(&pairs, &t);
        best = best.min(start.elapsed().as_secs_f64());
        n_reg = out
            .iter()
            .filter(|c| c.verdict == Verdict::Regression)
            .count();
    }
    println!(
        "compare_all of {} pairs (10 000 cells × 4 metrics × 5 repeats): {:.1} ms (best of 5), {n_reg} regressions",
        pairs.len(),
        best * 1000.0
    );
    // a long history: change_points over 1 000 points
    let long = step_series(5, 1000, 0.02, Some((600, 1.1)));
    let start = Instant::now();
    let cps = change_points(&long, &opts);
    println!(
        "change_points of 1 000 points: {:.1} ms, {} found",
        start.elapsed().as_secs_f64() * 1000.0,
        cps.len()
    );
}
