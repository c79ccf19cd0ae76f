//! Rendering (minijinja), grouping and flag validation: from cells to the
//! exact command lines, all checked before anything is spawned.

mod build;
pub mod columns;
mod error;
pub mod flags;
pub mod flat;
mod model;
pub mod output;
pub mod preflight;
pub mod profile;
pub mod render;
pub mod source;
pub mod translate;

pub use build::{PlanInput, build};
pub use error::PlanError;
pub use model::{
    Admin, AdminCall, Command, EngineVersion, Group, Layers, ModelStage, Plan, PlanCell, Ready,
    Results,
};

/// The distinct batch sizes and input lengths of some latency cells, each
/// in first-seen order: the `--batch-size` and `--input-len` lists of one
/// one_batch call. Planning (cells) and the runner (plan cells, when a
/// resumed group has only some left) both need them; a missing value is
/// skipped.
pub fn bsz_seq_lists(
    cells: impl IntoIterator<Item = (Option<u64>, Option<u64>)>,
) -> (Vec<u64>, Vec<u64>) {
    let mut bszs = indexmap::IndexSet::new();
    let mut seqs = indexmap::IndexSet::new();
    for (b, s) in cells {
        bszs.extend(b);
        seqs.extend(s);
    }
    (bszs.into_iter().collect(), seqs.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::bsz_seq_lists;

    #[test]
    fn lists_keep_first_seen_order_and_skip_missing() {
        let cells = [
            (Some(8), Some(1024)),
            (Some(1), Some(1024)),
            (Some(8), Some(512)),
            (None, Some(2048)),
            (Some(1), None),
        ];
        assert_eq!(bsz_seq_lists(cells), (vec![8, 1], vec![1024, 512, 2048]));
    }
}
