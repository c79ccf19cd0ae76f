//! Expansion: axes → cells, deterministically.
//!
//! Order (outermost first, the last axis varies fastest, like nested loops):
//! the layer choices given on the command line and not in the matrix file
//! (mode, model, mconf, base, deploy, backend, optional, engine), then the
//! matrix file's axes in file order, then the bsz_seq.csv products (line by
//! line, batch size outer, sequence length inner — the order one_batch runs
//! them). `include:` cells follow, then duplicates (same id) are dropped.
//!
//! The nouns live next door: the axis groups (`groups.rs`), the
//! command-line overrides (`overrides.rs`), the product (`product.rs`), the
//! expander turning points into cells (`expander.rs`), `derive:`
//! (`derive.rs`), constraints and pruning (`constraints.rs`), and how a cell
//! reads in messages (`describe.rs`).

use std::collections::HashSet;

use camino::{Utf8Path, Utf8PathBuf};

use crate::config::LayerStore;
use crate::config::overrides::{self, Override};

use super::MatrixError;
use super::axis::AxisGroup;
use super::bsz_seq::BszSeqLine;
use super::cell::Cell;
use super::constraints::Pruned;
/// Kept at this path for callers outside the matrix stage that label a
/// cell by its axes (`crate::matrix::describe` is the same function).
pub use super::describe::describe;
use super::expander::Expander;
use super::file::MatrixFile;
use super::groups::{CliChoices, axis_groups, check_duplicates, include_groups};
use super::overrides::{cell_cap, check_override_conflicts, gpu_override};
use super::product::{bsz_seq_group, bsz_seq_lines, for_each_point, is_excluded};
use super::scope;

/// Everything expansion reads.
#[derive(Debug, Clone, Default)]
pub struct ExpandInput {
    pub root: Utf8PathBuf,
    pub choices: CliChoices,
    pub matrix: Option<Utf8PathBuf>,
    pub bsz_seq: Option<Utf8PathBuf>,
    pub sets: Vec<String>,
    /// `--only AXIS=V1,V2` slices (see `matrix::only`).
    pub only: Vec<String>,
    pub env_vars: Vec<(String, String)>,
    pub max_cells: Option<u64>,
    /// `--gpu NAME`: the simulated GPU of the `sim` engine's cells (its
    /// `sim_gpu` server key). Other engines' cells are not affected.
    pub gpu: Option<String>,
}

/// The result of expansion.
#[derive(Debug)]
pub struct Expansion {
    pub cells: Vec<Cell>,
    pub pruned: Vec<Pruned>,
    pub excluded: usize,
    pub matrix: Option<MatrixFile>,
    /// The bsz_seq file used (as shown), if any.
    pub bsz_seq: Option<String>,
    /// Axis names in expansion order.
    pub axes: Vec<String>,
}

/// Expand the matrix described by `input`.
pub fn expand(input: &ExpandInput) -> Result<Expansion, MatrixError> {
    expand_with(input, 20_000)
}

/// [`expand`], on every core when the product has at least `min_parallel`
/// combinations.
fn expand_with(input: &ExpandInput, min_parallel: u128) -> Result<Expansion, MatrixError> {
    let store = LayerStore::new(&input.root);
    let matrix = match &input.matrix {
        Some(p) => Some(MatrixFile::read(
            &abs(&input.root, p),
            shown(&input.root, p),
        )?),
        None => None,
    };
    let mut overrides = Vec::new();
    for s in &input.sets {
        overrides.push(overrides::parse_set(s)?);
    }
    overrides.extend(overrides::from_env(input.env_vars.iter().cloned())?);
    if let Some(gpu) = &input.gpu {
        let o = gpu_override(gpu, &overrides)?;
        overrides.push(o);
    }

    let mut groups = axis_groups(&input.choices, matrix.as_ref())?;
    check_duplicates(&groups, matrix.as_ref())?;
    check_override_conflicts(&groups, &overrides)?;
    let only = input
        .only
        .iter()
        .map(|a| super::only::parse(a))
        .collect::<Result<Vec<_>, _>>()?;
    super::only::restrict(&mut groups, &only)?;

    let lines = bsz_seq_lines(input, matrix.as_ref(), &groups, &overrides)?;
    let bsz_seq_shown = lines.as_ref().map(|(s, _)| s.clone());
    let lines = lines.map(|(_, l)| l).unwrap_or_default();
    if !lines.is_empty() {
        groups.push(bsz_seq_group(&lines));
    }
    let cap = cell_cap(input, matrix.as_ref(), &overrides);
    let total = groups.iter().map(|g| g.len() as u128).product::<u128>();
    if total > cap as u128 {
        return Err(MatrixError::TooMany { count: total, cap });
    }

    let parts = expand_parts(
        &groups,
        &lines,
        &store,
        matrix.as_ref(),
        &overrides,
        &input.root,
        min_parallel,
    )?;
    let env = scope::environment();
    let mut ctx = Expander::new(&store, matrix.as_ref(), &overrides, &input.root, &env)?;
    let mut seen: HashSet<String> = HashSet::new();
    let mut out = Vec::new();
    let mut excluded = 0;
    for part in parts {
        excluded += part.excluded;
        ctx.pruned.extend(part.pruned);
        for cell in part.cells {
            if seen.insert(cell.id.clone()) {
                out.push(cell);
            }
        }
    }
    if let Some(m) = matrix.as_ref() {
        for filter in &m.include {
            let mut included = include_groups(&groups, filter, m)?;
            if !super::only::restrict_lenient(&mut included, &only) {
                continue;
            }
            for_each_point(&included, &lines, |point| {
                if let Some(cell) = ctx.cell(&point)? {
                    if seen.insert(cell.id.clone()) {
                        out.push(cell);
                    }
                }
                Ok(())
            })?;
        }
    }
    if out.len() as u64 > cap {
        return Err(MatrixError::TooMany {
            count: out.len() as u128,
            cap,
        });
    }
    if out.is_empty() {
        return Err(MatrixError::Empty {
            why: format!(
                "{excluded} combinations excluded, {} pruned by constraints",
                ctx.pruned.len()
            ),
        });
    }
    let axes = groups
        .iter()
        .flat_map(|g| g.members.iter().map(|a| a.name.clone()))
        .collect();
    Ok(Expansion {
        cells: out,
        pruned: ctx.pruned,
        excluded,
        matrix,
        bsz_seq: bsz_seq_shown,
        axes,
    })
}

pub(super) fn abs(root: &Utf8Path, p: &Utf8Path) -> Utf8PathBuf {
    if p.is_absolute() {
        p.to_owned()
    } else {
        root.join(p)
    }
}

/// A path as shown to the user: relative to the project root when inside.
pub fn shown(root: &Utf8Path, p: &Utf8Path) -> String {
    let a = abs(root, p);
    a.strip_prefix(root)
        .map(|r| r.to_string())
        .unwrap_or_else(|_| a.to_string())
}

/// The cells of one slice of the product, before de-duplication.
struct Part {
    cells: Vec<Cell>,
    pruned: Vec<Pruned>,
    excluded: usize,
}

/// Expand the product on every core. The space is cut along the first axis
/// group with more than one value (every group before it has one value, so
/// the slices concatenated in order are exactly the sequential order); each
/// slice expands with its own caches.
fn expand_parts(
    groups: &[AxisGroup],
    lines: &[BszSeqLine],
    store: &LayerStore,
    matrix: Option<&MatrixFile>,
    overrides: &[Override],
    root: &Utf8Path,
    min_parallel: u128,
) -> Result<Vec<Part>, MatrixError> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let total: u128 = groups.iter().map(|g| g.len() as u128).product();
    let split = groups.iter().position(|g| g.len() > 1);
    let (Some(split), true) = (split, threads > 1 && total >= min_parallel) else {
        return Ok(vec![expand_slice(
            groups, lines, store, matrix, overrides, root,
        )?]);
    };
    let len = groups[split].len();
    let per = len.div_ceil(threads.min(len));
    let slices: Vec<Vec<AxisGroup>> = (0..len)
        .step_by(per)
        .map(|start| {
            let mut g = groups.to_vec();
            for m in &mut g[split].members {
                m.values = m.values[start..(start + per).min(len)].to_vec();
            }
            g
        })
        .collect();
    std::thread::scope(|s| {
        let handles: Vec<_> = slices
            .iter()
            .map(|g| s.spawn(move || expand_slice(g, lines, store, matrix, overrides, root)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

fn expand_slice(
    groups: &[AxisGroup],
    lines: &[BszSeqLine],
    store: &LayerStore,
    matrix: Option<&MatrixFile>,
    overrides: &[Override],
    root: &Utf8Path,
) -> Result<Part, MatrixError> {
    let env = scope::environment();
    let mut ctx = Expander::new(store, matrix, overrides, root, &env)?;
    let mut part = Part {
        cells: Vec::new(),
        pruned: Vec::new(),
        excluded: 0,
    };
    for_each_point(groups, lines, |point| {
        if is_excluded(matrix, &point) {
            part.excluded += 1;
        } else if let Some(cell) = ctx.cell(&point)? {
            part.cells.push(cell);
        }
        Ok(())
    })?;
    part.pruned = ctx.pruned;
    Ok(part)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The parallel expansion yields exactly the sequential cells, in order.
    #[test]
    fn parallel_expansion_equals_sequential() {
        let root = Utf8PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let dir = tempfile::tempdir().unwrap();
        let m = Utf8PathBuf::from_path_buf(dir.path().join("m.yaml")).unwrap();
        std::fs::write(
            &m,
            "axes:\n  model: qwen\n  mconf: 2l\n  mode: serving\n  deploy: [tp8, tp8ep8]\n  request_rate: [1, 2, 3, 4, 5]\n  seq: [16, 32, 64]\nderive:\n  num_prompts: \"{{ 10 * request_rate }}\"\nexclude:\n  - {deploy: tp8, request_rate: 3}\n",
        )
        .unwrap();
        let input = ExpandInput {
            root,
            matrix: Some(m),
            max_cells: Some(1000),
            ..Default::default()
        };
        let seq = expand_with(&input, u128::MAX).unwrap();
        let par = expand_with(&input, 0).unwrap();
        let ids = |e: &Expansion| e.cells.iter().map(|c| c.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&seq), ids(&par));
        assert_eq!(seq.cells.len(), 2 * 5 * 3 - 3);
        assert_eq!((seq.excluded, par.excluded), (3, 3));
    }
}
