//! The two pieces of a database-backed comparison that `matrix compare`
//! and the dashboard (`matrix serve`) share: the judge (every input at once
//! through `stats::compare_all`, so Benjamini-Hochberg runs across the whole
//! report) and a cell's history read from the results database.

use crate::record::db::CellKey;
use crate::record::db::store::Db;
use crate::report::compare::{CompareOptions, HistorySource, MetricInput};
use crate::report::stats::{Comparison, Pair, Thresholds, compare_all};

/// The verdicts: every input at once (one call: BH across the report).
pub fn judge(inputs: &[MetricInput], opts: &CompareOptions) -> Vec<Comparison> {
    let pairs: Vec<Pair> = inputs
        .iter()
        .map(|p| Pair {
            base: p.base.clone(),
            new: p.new.clone(),
            history: p.history.clone(),
            better: p.better,
            family: p.family.clone(),
        })
        .collect();
    compare_all(
        &pairs,
        &Thresholds {
            min_effect_pct: opts.min_effect_pct,
            alpha: opts.alpha,
            seed: opts.seed,
        },
    )
}

/// History of a cell from the database: runs that started before NEW,
/// BASE and NEW left out.
pub struct DbHistory<'a> {
    pub db: &'a Db,
    /// NEW's start time: only earlier runs count.
    pub before: Option<String>,
    /// BASE's and NEW's run ids.
    pub exclude: [String; 2],
}

impl HistorySource for DbHistory<'_> {
    fn history(&self, key: &CellKey, metric: &str) -> Vec<f64> {
        let ex = [self.exclude[0].as_str(), self.exclude[1].as_str()];
        self.db
            .history(key, metric, self.before.as_deref(), &ex)
            .unwrap_or_default()
    }
}
