//! Acceptance of the methods on the simulator's noise model (fixed seeds,
//! counts asserted). The 100-seed figures come from benches/compare_stats.rs.

use super::synthetic::{Noise, planted_pairs, step_series};
use super::*;

fn flagged(c: &Comparison) -> bool {
    matches!(c.verdict, Verdict::Regression | Verdict::Improvement)
}

#[test]
fn a_a_flags_at_most_5_percent_of_cells() {
    let t = Thresholds::default();
    let (mut flags, mut total) = (0, 0);
    for seed in 0..20 {
        let (pairs, _) = planted_pairs(seed, 40, 5, 0.02, 1.0);
        let out = compare_all(&pairs, &t);
        flags += out.iter().filter(|c| flagged(c)).count();
        total += out.len();
        assert!(out.iter().all(|c| c.method == Method::Repeats));
    }
    assert!(flags * 100 <= 5 * total, "{flags} of {total} flagged");
}

#[test]
fn planted_5_percent_slowdown_is_found_in_90_percent_of_cells() {
    let t = Thresholds::default();
    let (mut hit, mut planted_n, mut fp, mut other_n) = (0, 0, 0, 0);
    for seed in 100..120 {
        let (pairs, planted) = planted_pairs(seed, 40, 5, 0.02, 1.05);
        let out = compare_all(&pairs, &t);
        for (c, p) in out.iter().zip(planted) {
            if p {
                planted_n += 1;
                hit += usize::from(c.verdict == Verdict::Regression);
            } else {
                other_n += 1;
                fp += usize::from(flagged(c));
            }
        }
    }
    assert!(hit * 100 >= 90 * planted_n, "power {hit}/{planted_n}");
    assert!(fp * 100 <= 5 * other_n, "false positives {fp}/{other_n}");
}

#[test]
fn compare_all_is_deterministic_and_keeps_order() {
    let (pairs, _) = planted_pairs(3, 30, 5, 0.02, 1.05);
    let a = compare_all(&pairs, &Thresholds::default());
    let b = compare_all(&pairs, &Thresholds::default());
    assert_eq!(a, b);
    for (c, p) in a.iter().zip(&pairs) {
        assert_eq!(c.base, history::median(&p.base));
        assert_eq!(c.base_n, 5);
    }
}

fn pair(base: Vec<f64>, new: Vec<f64>, history: Vec<f64>, better: Better) -> Pair {
    Pair {
        base,
        new,
        history,
        better,
        family: "m".into(),
    }
}

#[test]
fn direction_follows_better() {
    let mut noise = Noise::new(11, 0.01);
    let base = noise.samples(1000.0, 5);
    let new = noise.samples(900.0, 5);
    let out = compare_all(
        &[
            pair(base.clone(), new.clone(), vec![], Better::Higher),
            pair(base, new, vec![], Better::Lower),
        ],
        &Thresholds::default(),
    );
    assert_eq!(out[0].verdict, Verdict::Regression, "{:?}", out[0]);
    assert_eq!(out[1].verdict, Verdict::Improvement, "{:?}", out[1]);
    assert!(out[0].change_pct < -5.0 && out[0].change_pct > -15.0);
    let (lo, hi) = out[0].ci_pct.unwrap();
    assert!(lo < out[0].change_pct + 3.0 && hi > -10.0 - 3.0 && lo < hi);
}

#[test]
fn significant_but_small_change_is_unchanged() {
    // 1 % shift with 0.1 % noise: clearly significant, below 3 % min effect
    let mut noise = Noise::new(5, 0.001);
    let out = compare_all(
        &[pair(
            noise.samples(100.0, 5),
            noise.samples(101.0, 5),
            vec![],
            Better::Lower,
        )],
        &Thresholds::default(),
    );
    assert!(out[0].q.unwrap() < 0.05, "{:?}", out[0]);
    assert_eq!(out[0].verdict, Verdict::Unchanged);
}

#[test]
fn wide_noise_is_inconclusive_with_a_note() {
    // 20 % noise, 3 repeats: a CI far wider than ±3 %
    let mut noise = Noise::new(9, 0.2);
    let out = compare_all(
        &[pair(
            noise.samples(100.0, 3),
            noise.samples(100.0, 3),
            vec![],
            Better::Lower,
        )],
        &Thresholds::default(),
    );
    assert_eq!(out[0].verdict, Verdict::Inconclusive, "{:?}", out[0]);
    assert!(out[0].note.as_deref().unwrap().contains("cannot rule out"));
}

#[test]
fn too_few_repeats_without_history_is_inconclusive_and_says_why() {
    let out = compare_all(
        &[pair(
            vec![1.0, 1.1],
            vec![1.0, 1.2, 1.3],
            vec![1.0; 2],
            Better::Lower,
        )],
        &Thresholds::default(),
    );
    let c = &out[0];
    assert_eq!(
        (c.verdict, c.method, c.p, c.q),
        (Verdict::Inconclusive, Method::None, None, None)
    );
    let note = c.note.as_deref().unwrap();
    assert!(
        note.contains("n=2 vs 3: need ≥3 repeats per side"),
        "{note}"
    );
    assert!(note.contains("history has 2 runs, need ≥5"), "{note}");
}

#[test]
fn one_sample_per_side_uses_the_history() {
    let hist = step_series(21, 12, 0.02, None);
    let quiet = step_series(22, 12, 0.003, None);
    let t = Thresholds::default();
    let out = compare_all(
        &[
            pair(vec![100.0], vec![112.0], hist.clone(), Better::Lower),
            pair(vec![100.0], vec![100.5], quiet, Better::Lower),
            pair(vec![100.0], vec![100.5], hist.clone(), Better::Lower),
            pair(vec![100.0], vec![112.0], hist[..4].to_vec(), Better::Lower),
        ],
        &t,
    );
    assert_eq!(
        (out[0].method, out[0].verdict),
        (Method::History, Verdict::Regression),
        "{:?}",
        out[0]
    );
    assert!(
        out[0]
            .note
            .as_deref()
            .unwrap()
            .starts_with("12 earlier runs")
    );
    assert_eq!(
        (out[1].method, out[1].verdict),
        (Method::History, Verdict::Unchanged),
        "{:?}",
        out[1]
    );
    // one sample per side at 2 % noise cannot bound a change to ±3 %: honest
    assert_eq!(
        (out[2].method, out[2].verdict),
        (Method::History, Verdict::Inconclusive)
    );
    assert_eq!(
        (out[3].method, out[3].verdict),
        (Method::None, Verdict::Inconclusive)
    );
    // the pair with no test is not counted by BH
    assert_eq!(out[3].q, None);
}

#[test]
fn bad_values_give_no_verdict_instead_of_a_panic() {
    let out = compare_all(
        &[
            pair(
                vec![0.0, 1.0, 1.0],
                vec![1.0, 1.0, 1.0],
                vec![],
                Better::Lower,
            ),
            pair(vec![], vec![1.0], vec![], Better::Lower),
            pair(vec![1.0; 5], vec![1.0; 5], vec![], Better::Lower),
        ],
        &Thresholds::default(),
    );
    assert_eq!(out[0].method, Method::None);
    assert_eq!(out[1].method, Method::None);
    // identical constant samples: nothing changed
    assert_eq!(out[2].verdict, Verdict::Unchanged, "{:?}", out[2]);
}

#[test]
fn a_10_percent_step_at_12_is_found_once_at_12() {
    let opts = ChangePointOptions::default();
    for seed in 0..20 {
        let s = step_series(seed, 20, 0.02, Some((12, 1.10)));
        let cps = change_points(&s, &opts);
        assert_eq!(cps.len(), 1, "seed {seed}: {cps:?}");
        assert!(cps[0].index.abs_diff(12) <= 1, "seed {seed}: {cps:?}");
        assert!(cps[0].change_pct > 5.0 && cps[0].change_pct < 15.0);
        let st = steps(&s, Better::Lower, &opts);
        assert_eq!((st[0].direction, st[0].open), (Verdict::Regression, true));
    }
}

#[test]
fn pure_noise_has_false_steps_in_at_most_5_percent_of_series() {
    let opts = ChangePointOptions::default();
    let false_series = (1000..1100)
        .filter(|&seed| !change_points(&step_series(seed, 20, 0.02, None), &opts).is_empty())
        .count();
    assert!(false_series <= 5, "{false_series} of 100");
}

#[test]
fn a_step_undone_later_is_closed() {
    let mut noise = Noise::new(4, 0.01);
    let mut s: Vec<f64> = (0..30)
        .map(|i| noise.sample(if (10..20).contains(&i) { 110.0 } else { 100.0 }))
        .collect();
    let opts = ChangePointOptions::default();
    let st = steps(&s, Better::Lower, &opts);
    assert_eq!(st.len(), 2, "{st:?} {s:?}");
    assert_eq!((st[0].direction, st[0].open), (Verdict::Regression, false));
    assert_eq!((st[1].direction, st[1].open), (Verdict::Improvement, true));
    // throughput: the same shape is an improvement then a regression
    let st = steps(&s, Better::Higher, &opts);
    assert_eq!(st[1].direction, Verdict::Regression);
    // unusable values: no steps, no panic
    s[3] = f64::NAN;
    assert!(change_points(&s, &opts).is_empty());
    assert!(change_points(&[], &opts).is_empty());
}

#[test]
fn a_much_noisier_cell_is_not_judged_on_its_quiet_family() {
    // 39 cells at 0.5 % CV and one at 10 % CV, nothing changed: the family
    // fit sees the spread (small d0), so the noisy cell keeps most of its own
    // variance and is not flagged; the quiet cells stay unflagged too.
    let t = Thresholds::default();
    let mut noisy_flags = 0;
    let mut quiet_flags = 0;
    for seed in 0..20 {
        let (mut pairs, _) = planted_pairs(500 + seed, 40, 5, 0.005, 1.0);
        let mut loud = Noise::new(900 + seed, 0.10);
        pairs[7].base = loud.samples(1.0, 5);
        pairs[7].new = loud.samples(1.0, 5);
        let out = compare_all(&pairs, &t);
        noisy_flags += usize::from(flagged(&out[7]));
        quiet_flags += out.iter().filter(|c| flagged(c)).count() - usize::from(flagged(&out[7]));
    }
    assert!(noisy_flags <= 1, "noisy cell flagged {noisy_flags} of 20");
    assert!(
        quiet_flags <= 39,
        "{quiet_flags} of 780 quiet cells flagged"
    );
}
