//! The statistics behind verdicts: pure functions over numbers, seeded
//! where they resample, no I/O. See docs/COMPARE.md for the methods and
//! why they were chosen.

use serde::{Deserialize, Serialize};

pub use crate::record::db::Better;

mod bh;
mod changepoint;
mod history;
mod moderate;
mod repeats;
pub mod synthetic;
#[cfg(test)]
mod tests;

pub use bh::benjamini_hochberg;
pub use changepoint::{Step, change_points, steps};
pub use repeats::{Pair, Thresholds, compare_all};

/// Fewest earlier runs a cell's history needs before one sample per side can
/// be judged against it.
pub const MIN_HISTORY: usize = 5;
/// Fewest repeats per side for the repeats test.
pub const MIN_REPEATS: usize = 3;

/// The outcome of comparing one metric of one cell between two runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Regression,
    Improvement,
    Unchanged,
    /// Not enough samples, or too much noise to tell.
    Inconclusive,
}

/// How a verdict was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Repeats on both sides (≥ 3 each): a t-test on log values whose
    /// variance is moderated across the cells of the same metric (limma-style
    /// empirical Bayes), Benjamini-Hochberg across the report, the size judged
    /// on the ratio of geometric means with its t-interval.
    Repeats,
    /// One sample per side (or too few repeats): the change measured against
    /// the cell's own run-to-run noise in its history (earlier runs in the
    /// database): robust σ of successive log differences, a t on k−1 df.
    History,
    /// Neither repeats nor enough history: a change is reported, no verdict.
    None,
}

/// One metric of one cell, compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub better: Better,
    /// Median of each side's samples.
    pub base: f64,
    pub new: f64,
    pub base_n: usize,
    pub new_n: usize,
    /// `new / base − 1`, in percent.
    pub change_pct: f64,
    /// Confidence interval of `change_pct` (percent), when a method gives one.
    pub ci_pct: Option<(f64, f64)>,
    /// The test's p-value before correction.
    pub p: Option<f64>,
    /// After Benjamini-Hochberg across every comparison of the report.
    pub q: Option<f64>,
    pub verdict: Verdict,
    pub method: Method,
    /// Why it is inconclusive, or what the history was (`12 earlier runs, cv 1.8 %`).
    pub note: Option<String>,
}

/// A step in a series found by change-point detection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangePoint {
    /// Index of the first point after the step.
    pub index: usize,
    /// Mean of the segment before the step and of the one after it.
    pub before: f64,
    pub after: f64,
    /// `after / before − 1`, in percent.
    pub change_pct: f64,
    /// The significance test's p-value for this step.
    pub p: f64,
}

/// Settings of change-point detection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangePointOptions {
    /// Steps smaller than this (percent of the level before) are not reported.
    pub min_effect_pct: f64,
    /// Significance level of each step.
    pub alpha: f64,
    /// Fewest points a segment may have.
    pub min_segment: usize,
    /// Seed of any resampling (results are reproducible).
    pub seed: u64,
}

impl Default for ChangePointOptions {
    /// 3 % minimum step, α = 0.01 per accepted step (Bonferroni over the
    /// split positions tried), 3 points per segment, seed 0.
    fn default() -> Self {
        ChangePointOptions {
            min_effect_pct: 3.0,
            alpha: 0.01,
            min_segment: 3,
            seed: 0,
        }
    }
}
