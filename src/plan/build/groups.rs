//! Groups: the cells that share one launch (rendered server flags and
//! environment, model, and for a one_batch process its bsz_seq line and
//! output length), each ordered the way one_batch runs them.

use std::collections::HashMap;
use std::sync::Arc;

use indexmap::IndexMap;

use crate::config::engine::Exec;
use crate::matrix::Cell;
use crate::plan::PlanError;
use crate::plan::model::*;
use crate::plan::render::compile;

use super::{BucketKey, Planner, lists};

impl<'a> Planner<'a> {
    pub(super) fn groups(&mut self, cells: &[&Cell]) -> Result<Vec<Group>, PlanError> {
        let mut out = Vec::new();
        for &mode in crate::matrix::axis::MODES {
            let mode_cells: Vec<&Cell> =
                cells.iter().copied().filter(|c| c.mode() == mode).collect();
            if mode_cells.is_empty() {
                continue;
            }
            let spec = self.profile.mode(mode)?;
            let base = format!("modes.{mode}.launch");
            let origin = |p: &str| self.profile.origin(p);
            let launch = compile(self.env, &spec.launch, &origin, &base)?;
            let exec = spec.exec();
            let mut buckets: IndexMap<BucketKey, Vec<&Cell>> = IndexMap::new();
            for c in &mode_cells {
                let key = self.bucket_key(c, mode, exec)?;
                buckets.entry(key).or_default().push(c);
            }
            for (_, bucket) in buckets {
                for sub in split_products(bucket, exec) {
                    out.push(self.group(&sub, mode, &launch)?);
                }
            }
        }
        Ok(out)
    }

    /// Cells with the same key share one launch: the rendered server flags
    /// and environment (computed once per setup and numbered), plus the model
    /// and, for a one_batch process, the bsz_seq line and output length.
    fn bucket_key(&mut self, cell: &Cell, mode: &str, exec: Exec) -> Result<BucketKey, PlanError> {
        let ptr = Arc::as_ptr(&cell.setup);
        let class = match self.classes.get(&ptr) {
            Some(c) => *c,
            None => {
                let flags = self.server_flags(&cell.setup, mode)?;
                let s = &cell.setup;
                let text = serde_json::to_string(&(
                    &flags.0,
                    &flags.1,
                    &s.resolved.sections.env,
                    &s.choices.model,
                    &s.choices.mconf,
                ))
                .unwrap_or_default();
                let next = self.class_ids.len();
                let c = *self.class_ids.entry(text).or_insert(next);
                self.classes.insert(ptr, c);
                c
            }
        };
        Ok(match exec {
            Exec::Process => (class, cell.line, cell.workload_u64("output_len")),
            Exec::Server => (class, None, None),
        })
    }
}

/// one_batch runs every batch size with every length. A latency bucket
/// whose cells are not a full product (exclusions) is split per length;
/// cells are ordered the way one_batch runs them (batch size outer).
fn split_products(bucket: Vec<&Cell>, exec: Exec) -> Vec<Vec<&Cell>> {
    if exec == Exec::Server {
        return vec![bucket];
    }
    let (bszs, seqs) = lists(bucket.iter().copied());
    let rank =
        |v: &[u64]| -> HashMap<u64, usize> { v.iter().enumerate().map(|(i, x)| (*x, i)).collect() };
    let (brank, srank) = (rank(&bszs), rank(&seqs));
    let order = |c: &&Cell| {
        let b = c.workload_u64("bsz").and_then(|b| brank.get(&b).copied());
        let s = c.workload_u64("seq").and_then(|s| srank.get(&s).copied());
        (b, s)
    };
    let mut sorted = bucket;
    sorted.sort_by_cached_key(order);
    if sorted.len() == bszs.len() * seqs.len() {
        return vec![sorted];
    }
    seqs.iter()
        .map(|s| {
            sorted
                .iter()
                .copied()
                .filter(|c| c.workload_u64("seq") == Some(*s))
                .collect()
        })
        .collect()
}
