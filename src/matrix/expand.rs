//! Expansion: axes → cells, deterministically.
//!
//! Order (outermost first, the last axis varies fastest, like nested loops):
//! the layer choices given on the command line and not in the matrix file
//! (mode, model, mconf, base, deploy, backend, optional, engine), then the
//! matrix file's axes in file order, then the bsz_seq.csv products (line by
//! line, batch size outer, sequence length inner — the order one_batch runs
//! them). `include:` cells follow, then duplicates (same id) are dropped.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use camino::{Utf8Path, Utf8PathBuf};
use indexmap::IndexMap;
use serde::Serialize;
use serde_json::Value;

use crate::config::overrides::{self, Override};
use crate::config::resolve::{Later, LayerNames, resolve};
use crate::config::sections::Section;
use crate::config::yaml::Origin;
use crate::config::{ConfigError, JsonMap, LayerStore, model_dir};

use super::MatrixError;
use super::axis::{self, Axis, AxisGroup, AxisSource, Choice, Target};
use super::bsz_seq::{self, BszSeqLine};
use super::cell::{Cell, Choices, Setup};
use super::file::{MatrixFile, OnFail, invalid};
use super::scope;

/// Layer choices from the command line; an empty list means "not given".
#[derive(Debug, Clone, Default)]
pub struct CliChoices {
    pub values: IndexMap<Choice, Vec<String>>,
}

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

/// A cell removed by a constraint, kept for the plan's report.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Pruned {
    pub axes: IndexMap<String, Value>,
    pub constraint: String,
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

/// One assignment of axis values being turned into a cell.
struct Point<'a> {
    values: Vec<(&'a Axis, &'a Value)>,
    line: Option<&'a BszSeqLine>,
    bsz_seq: Option<(u64, u64)>,
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

fn abs(root: &Utf8Path, p: &Utf8Path) -> Utf8PathBuf {
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

/// Command-line choices, then the matrix file's axes (a CLI value replaces
/// the file's values of the same choice, keeping the file's position).
fn axis_groups(
    cli: &CliChoices,
    matrix: Option<&MatrixFile>,
) -> Result<Vec<AxisGroup>, MatrixError> {
    let in_file = |c: Choice| {
        matrix.is_some_and(|m| {
            m.axes
                .iter()
                .any(|d| d.members.iter().any(|(n, _)| n == c.name()))
        })
    };
    let mut groups = Vec::new();
    for (choice, vals) in &cli.values {
        if vals.is_empty() || in_file(*choice) {
            continue;
        }
        groups.push(cli_group(*choice, vals)?);
    }
    let Some(m) = matrix else { return Ok(groups) };
    for decl in &m.axes {
        let mut members = Vec::new();
        for (name, vals) in &decl.members {
            let target = axis::target(name);
            let vals = match &target {
                Target::Choice(c) if cli.values.get(c).is_some_and(|v| !v.is_empty()) => {
                    if decl.members.len() > 1 {
                        return Err(invalid(
                            &m.file,
                            &decl.path,
                            format!("--{} cannot replace `{name}`, a member of a zip", c.name()),
                            Some(
                                "drop the command-line flag or move the axis out of the zip".into(),
                            ),
                        ));
                    }
                    return_cli_values(&cli.values[c])
                }
                _ => vals.clone(),
            };
            for (i, v) in vals.iter().enumerate() {
                axis::check_value(&target, v).map_err(|expected| MatrixError::Invalid {
                    origin: m.file.origin(&value_path(decl, name, i)),
                    message: format!("invalid value {v} for axis `{name}`: expected {expected}"),
                    hint: None,
                })?;
            }
            members.push(Axis {
                name: axis::canonical(name),
                target,
                values: vals,
            });
        }
        groups.push(AxisGroup {
            members,
            source: AxisSource::File {
                path: decl.path.clone(),
            },
        });
    }
    Ok(groups)
}

fn return_cli_values(vals: &[String]) -> Vec<Value> {
    vals.iter().map(|s| Value::String(s.clone())).collect()
}

fn value_path(decl: &super::file::AxisDecl, name: &str, i: usize) -> String {
    if decl.members.len() == 1 {
        format!("{}.{i}", decl.path)
    } else {
        format!("{}.zip.{name}.{i}", decl.path)
    }
}

fn cli_group(choice: Choice, vals: &[String]) -> Result<AxisGroup, MatrixError> {
    let target = Target::Choice(choice);
    let values = return_cli_values(vals);
    for v in &values {
        axis::check_value(&target, v).map_err(|expected| MatrixError::Invalid {
            origin: Origin {
                file: format!("--{}", choice.name()),
                location: None,
            },
            message: format!("invalid value {v}: expected {expected}"),
            hint: None,
        })?;
    }
    Ok(AxisGroup {
        members: vec![Axis {
            name: choice.name().into(),
            target,
            values,
        }],
        source: AxisSource::Cli,
    })
}

fn check_duplicates(groups: &[AxisGroup], matrix: Option<&MatrixFile>) -> Result<(), MatrixError> {
    let mut seen: HashMap<&str, &AxisSource> = HashMap::new();
    for g in groups {
        for a in &g.members {
            if seen.insert(a.name.as_str(), &g.source).is_some() {
                let origin = match (&g.source, matrix) {
                    (AxisSource::File { path }, Some(m)) => m.file.origin(path),
                    _ => Origin {
                        file: "command line".into(),
                        location: None,
                    },
                };
                return Err(MatrixError::Invalid {
                    origin,
                    message: format!("axis `{}` is declared twice", a.name),
                    hint: Some("each axis name may appear once, inside or outside a zip".into()),
                });
            }
        }
    }
    Ok(())
}

/// The engine whose cells `--gpu` selects the simulated GPU of.
const SIM_ENGINE: &str = "sim";

/// `--gpu NAME` as an override of the simulator's `sim_gpu`, for the `sim`
/// engine's cells only. The name must be a GPU of `matrix::model`; a
/// `--set sim_gpu=...` (or `MATRIX_SERVER__SIM_GPU`) naming another GPU is
/// refused rather than one silently winning.
fn gpu_override(gpu: &str, overrides: &[Override]) -> Result<Override, MatrixError> {
    let origin = || Origin {
        file: "--gpu".into(),
        location: None,
    };
    let wanted = crate::model::gpu(gpu).map_err(|e| MatrixError::Invalid {
        origin: origin(),
        message: e.to_string(),
        hint: e.hint(),
    })?;
    for o in overrides
        .iter()
        .filter(|o| o.section == Section::Server && o.key == "sim_gpu")
    {
        let same = o
            .value
            .as_str()
            .and_then(|v| crate::model::gpu(v).ok())
            .is_some_and(|g| g.name == wanted.name);
        if !same {
            return Err(MatrixError::Invalid {
                origin: origin(),
                message: format!(
                    "`{gpu}` and `{}={}` name different simulated GPUs",
                    o.source,
                    o.value
                        .as_str()
                        .map_or_else(|| o.value.to_string(), str::to_string)
                ),
                hint: Some(
                    "--gpu sets the simulator's sim_gpu; give one of the two, \
                     or the same GPU in both"
                        .into(),
                ),
            });
        }
    }
    Ok(Override {
        section: Section::Server,
        key: "sim_gpu".into(),
        value: Value::String(gpu.to_ascii_lowercase()),
        source: "--gpu".into(),
        engine: Some(SIM_ENGINE.into()),
    })
}

/// `--set` (or MATRIX_*) of a key that is also swept would silently flatten
/// the sweep; refuse it.
fn check_override_conflicts(
    groups: &[AxisGroup],
    overrides: &[Override],
) -> Result<(), MatrixError> {
    for o in overrides {
        let t = Target::Key(o.section, o.key.clone());
        if groups
            .iter()
            .any(|g| g.members.iter().any(|a| a.target == t))
        {
            return Err(MatrixError::Config(ConfigError::OverrideConflict {
                source_name: o.source.clone(),
                key: o.key.clone(),
            }));
        }
    }
    Ok(())
}

/// In latency mode the bsz_seq products are the innermost axis, unless
/// `bsz` or `seq` is swept or set explicitly. `--bsz-seq` always applies.
fn bsz_seq_lines(
    input: &ExpandInput,
    matrix: Option<&MatrixFile>,
    groups: &[AxisGroup],
    overrides: &[Override],
) -> Result<Option<(String, Vec<BszSeqLine>)>, MatrixError> {
    let explicit = input
        .bsz_seq
        .clone()
        .or_else(|| matrix.and_then(|m| m.bsz_seq.clone()));
    let modes = mode_values(input, groups);
    if !modes.iter().any(|m| uses_bsz_seq(m)) {
        return match explicit {
            Some(_) => Err(MatrixError::Invalid {
                origin: Origin {
                    file: "--bsz-seq".into(),
                    location: None,
                },
                message: "a bsz_seq file applies to latency mode only".into(),
                hint: Some(
                    "serving cells take `seq` and `output_len` as axes or workload keys".into(),
                ),
            }),
            None => Ok(None),
        };
    }
    let given = |k: &str| {
        groups.iter().any(|g| {
            g.members
                .iter()
                .any(|a| a.target == Target::Key(Section::Workload, k.into()))
        }) || overrides
            .iter()
            .any(|o| o.section == Section::Workload && o.key == k)
            || matrix.is_some_and(|m| m.set.common.workload.contains_key(k))
    };
    let path = match explicit {
        Some(p) => p,
        None if given("bsz") || given("seq") => return Ok(None),
        None => Utf8PathBuf::from("matrices/bsz_seq.csv"),
    };
    let shown_path = shown(&input.root, &path);
    let lines = bsz_seq::read(&abs(&input.root, &path), &shown_path)?;
    Ok(Some((shown_path, lines)))
}

fn mode_values(input: &ExpandInput, groups: &[AxisGroup]) -> Vec<String> {
    for g in groups {
        for a in &g.members {
            if a.target == Target::Choice(Choice::Mode) {
                return a
                    .values
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect();
            }
        }
    }
    let _ = input;
    vec![
        Choice::Mode
            .default_value()
            .unwrap_or("latency")
            .to_string(),
    ]
}

/// The bsz_seq products as one axis of (line, bsz, seq) entries.
fn bsz_seq_group(lines: &[BszSeqLine]) -> AxisGroup {
    let mut values = Vec::new();
    for (li, l) in lines.iter().enumerate() {
        for b in &l.bszs {
            for s in &l.seqs {
                values.push(serde_json::json!([li, b, s]));
            }
        }
    }
    AxisGroup {
        members: vec![Axis {
            name: "bsz_seq".into(),
            target: Target::Key(Section::Workload, "bsz_seq".into()),
            values,
        }],
        source: AxisSource::BszSeq,
    }
}

fn cell_cap(input: &ExpandInput, matrix: Option<&MatrixFile>, overrides: &[Override]) -> u64 {
    let from_set = overrides
        .iter()
        .rev()
        .find(|o| o.section == Section::Run && o.key == "max_cells")
        .and_then(|o| o.value.as_u64());
    let from_file = matrix
        .and_then(|m| m.set.common.run.get("max_cells"))
        .and_then(Value::as_u64);
    input
        .max_cells
        .or(from_set)
        .or(from_file)
        .unwrap_or(100_000)
}

/// Visit every combination of the groups (last group fastest).
fn for_each_point<'a, F>(
    groups: &'a [AxisGroup],
    lines: &'a [BszSeqLine],
    mut f: F,
) -> Result<(), MatrixError>
where
    F: FnMut(Point<'a>) -> Result<(), MatrixError>,
{
    if groups.iter().any(|g| g.is_empty()) {
        return Ok(());
    }
    let mut idx = vec![0usize; groups.len()];
    loop {
        let mut point = Point {
            values: Vec::new(),
            line: None,
            bsz_seq: None,
        };
        for (g, &i) in groups.iter().zip(&idx) {
            for a in &g.members {
                if g.source == AxisSource::BszSeq {
                    let v = &a.values[i];
                    let li = v[0].as_u64().unwrap_or(0) as usize;
                    point.line = lines.get(li);
                    point.bsz_seq = Some((v[1].as_u64().unwrap_or(0), v[2].as_u64().unwrap_or(0)));
                } else {
                    point.values.push((a, &a.values[i]));
                }
            }
        }
        f(point)?;
        // Odometer step, last group fastest.
        let mut k = groups.len();
        loop {
            if k == 0 {
                return Ok(());
            }
            k -= 1;
            idx[k] += 1;
            if idx[k] < groups[k].len() {
                break;
            }
            idx[k] = 0;
        }
    }
}

fn is_excluded(matrix: Option<&MatrixFile>, point: &Point<'_>) -> bool {
    let Some(m) = matrix else { return false };
    m.exclude.iter().any(|f| {
        f.entries.iter().all(|(name, vals)| {
            point_value(point, name).is_some_and(|v| vals.iter().any(|x| axis::same(x, &v)))
        })
    })
}

fn point_value(point: &Point<'_>, name: &str) -> Option<Value> {
    let name = axis::canonical(name);
    let name = name.as_str();
    if let Some((_, v)) = point.values.iter().find(|(a, _)| a.name == name) {
        return Some((*v).clone());
    }
    match (name, point.bsz_seq) {
        ("bsz", Some((b, _))) => Some(Value::from(b)),
        ("seq", Some((_, s))) => Some(Value::from(s)),
        _ => None,
    }
}

/// An include entry: its named axes take the entry's values; other axes keep
/// all their values. Names that are not axes become extra one-value axes.
fn include_groups(
    groups: &[AxisGroup],
    filter: &super::file::Filter,
    m: &MatrixFile,
) -> Result<Vec<AxisGroup>, MatrixError> {
    let mut out: Vec<AxisGroup> = groups.to_vec();
    for (name, vals) in &filter.entries {
        let target = axis::target(name);
        for (i, v) in vals.iter().enumerate() {
            axis::check_value(&target, v).map_err(|expected| MatrixError::Invalid {
                origin: m.file.origin(&format!("{}.{name}.{i}", filter.path)),
                message: format!("invalid value {v} for `{name}`: expected {expected}"),
                hint: None,
            })?;
        }
        let canonical = axis::canonical(name);
        let existing = out
            .iter_mut()
            .find(|g| g.members.iter().any(|a| a.name == canonical));
        match existing {
            Some(g) if g.members.len() == 1 => g.members[0].values = vals.clone(),
            Some(_) => {
                return Err(invalid(
                    &m.file,
                    &filter.path,
                    format!("include names `{name}`, a member of a zip"),
                    Some(
                        "include whole zips by their other axes, or move the axis out of the zip"
                            .into(),
                    ),
                ));
            }
            None => out.push(AxisGroup {
                members: vec![Axis {
                    name: canonical,
                    target,
                    values: vals.clone(),
                }],
                source: AxisSource::File {
                    path: filter.path.clone(),
                },
            }),
        }
    }
    Ok(out)
}

/// Turns points into cells, caching merged layers and setups.
///
/// Per cell the expensive parts (choosing files, merging layers, hashing the
/// server side) are looked up by the identity of the setup-affecting axis
/// values, so 100 000 cells over one server cost one merge.
struct Expander<'a> {
    store: &'a LayerStore,
    matrix: Option<&'a MatrixFile>,
    overrides: &'a [Override],
    root: &'a Utf8Path,
    merged: HashMap<Choices, Arc<(crate::config::Resolved, Utf8PathBuf)>>,
    setups: HashMap<(Choices, String), Arc<Setup>>,
    /// Setup by the addresses of the point's setup-affecting values.
    by_point: HashMap<Vec<usize>, Arc<Setup>>,
    derive: Vec<(&'a super::file::Derive, minijinja::Template<'a, 'a>)>,
    constraints: Vec<(&'a super::file::Constraint, minijinja::Expression<'a, 'a>)>,
    pruned: Vec<Pruned>,
}

impl<'a> Expander<'a> {
    fn new(
        store: &'a LayerStore,
        matrix: Option<&'a MatrixFile>,
        overrides: &'a [Override],
        root: &'a Utf8Path,
        env: &'a minijinja::Environment<'a>,
    ) -> Result<Self, MatrixError> {
        let mut derive = Vec::new();
        let mut constraints = Vec::new();
        if let Some(m) = matrix {
            for d in &m.derive {
                let t = env
                    .template_from_str(&d.template)
                    .map_err(|e| MatrixError::Expr {
                        origin: m.file.origin(&d.path),
                        expr: d.template.clone(),
                        message: jinja_message(&e, &d.template, None),
                        cell: "(before expansion)".into(),
                    })?;
                derive.push((d, t));
            }
            for c in &m.constraints {
                let e = env
                    .compile_expression(&c.expr)
                    .map_err(|e| MatrixError::Expr {
                        origin: m.file.origin(&format!("{}.require", c.path)),
                        expr: c.expr.clone(),
                        message: jinja_message(&e, &c.expr, None),
                        cell: "(before expansion)".into(),
                    })?;
                constraints.push((c, e));
            }
        }
        Ok(Expander {
            store,
            matrix,
            overrides,
            root,
            merged: HashMap::new(),
            setups: HashMap::new(),
            by_point: HashMap::new(),
            derive,
            constraints,
            pruned: Vec::new(),
        })
    }

    fn cell(&mut self, point: &Point<'_>) -> Result<Option<Cell>, MatrixError> {
        let setup = self.point_setup(point)?;
        let latency = uses_bsz_seq(&setup.choices.mode);
        if !latency && point.bsz_seq.is_some() && !is_first_product(point) {
            // Serving cells ignore the bsz_seq products: keep one of them.
            return Ok(None);
        }
        let mut axes = IndexMap::with_capacity(point.values.len() + 2);
        let mut workload = setup.resolved.sections.workload.clone();
        for (a, v) in &point.values {
            axes.insert(a.name.clone(), (*v).clone());
            if let Target::Key(Section::Workload, key) = &a.target {
                workload.insert(key.clone(), (*v).clone());
            }
        }
        if let (Some((b, s)), true) = (point.bsz_seq, latency) {
            for (k, v) in [("bsz", b), ("seq", s)] {
                axes.insert(k.into(), Value::from(v));
                workload.insert(k.into(), Value::from(v));
            }
        }
        let mut workload = Arc::new(workload);
        let setup = self.apply_derive(point, setup, &mut workload, &axes)?;
        check_required(&setup.choices.mode, &workload, &axes)?;
        if let Some(c) = self.violated(&workload, &setup, &axes)? {
            self.pruned.push(Pruned {
                axes,
                constraint: c,
            });
            return Ok(None);
        }
        Ok(Some(Cell::new(
            Arc::new(axes),
            setup,
            workload,
            point.line.map(|l| l.line),
        )))
    }

    /// The setup of a point's choices and server/env/run axis values.
    fn point_setup(&mut self, point: &Point<'_>) -> Result<Arc<Setup>, MatrixError> {
        let key: Vec<usize> = point
            .values
            .iter()
            .filter(|(a, _)| !matches!(&a.target, Target::Key(Section::Workload, _)))
            .map(|(_, v)| *v as *const Value as usize)
            .collect();
        if let Some(s) = self.by_point.get(&key) {
            return Ok(s.clone());
        }
        let choices = self.choices(point)?;
        let base = self.merged(&choices)?;
        let mut delta = crate::config::Sections::default();
        for (a, v) in &point.values {
            if let Target::Key(section, k) = &a.target {
                if *section != Section::Workload {
                    delta.get_mut(*section).insert(k.clone(), (*v).clone());
                }
            }
        }
        let setup = self.setup(&choices, &base, &delta, "axis")?;
        self.by_point.insert(key, setup.clone());
        Ok(setup)
    }

    /// Whether a command-line override sets the derived key.
    fn overridden(&self, target: &Target) -> bool {
        match target {
            Target::Key(section, key) => self
                .overrides
                .iter()
                .any(|o| o.section == *section && &o.key == key),
            Target::Choice(_) => false,
        }
    }

    /// Evaluate `derive:` in order; workload values land in the cell,
    /// server/env/run values make a new setup.
    fn apply_derive(
        &mut self,
        point: &Point<'_>,
        mut setup: Arc<Setup>,
        workload: &mut Arc<JsonMap>,
        axes: &IndexMap<String, Value>,
    ) -> Result<Arc<Setup>, MatrixError> {
        let mut delta: Option<crate::config::Sections> = None;
        for i in 0..self.derive.len() {
            let d = self.derive[i].0;
            let target = axis::target(&d.name);
            if self.overridden(&target) {
                // `--set` (or MATRIX_*) is the last word, over `derive:` too:
                // that is how a sweep is shrunk from the command line.
                continue;
            }
            let value = self.derive_one(i, workload, &setup, axes)?;
            match target {
                Target::Key(Section::Workload, k) => {
                    Arc::make_mut(workload).insert(k, value);
                }
                Target::Key(section, k) => {
                    let delta = delta.get_or_insert_with(|| point_delta(point));
                    delta.get_mut(section).insert(k, value);
                    let choices = setup.choices.clone();
                    let base = self.merged(&choices)?;
                    setup = self.setup(&choices, &base, delta, "derive")?;
                }
                Target::Choice(c) => {
                    let m = self.matrix.expect("derive comes from a matrix file");
                    return Err(invalid(
                        &m.file,
                        &d.path,
                        format!("`{}` is a layer choice and cannot be derived", c.name()),
                        None,
                    ));
                }
            }
        }
        Ok(setup)
    }

    fn choices(&self, point: &Point<'_>) -> Result<Choices, MatrixError> {
        let get = |c: Choice| -> Option<String> {
            point
                .values
                .iter()
                .find(|(a, _)| a.target == Target::Choice(c))
                .map(|(_, v)| v.as_str().map(str::to_string))
                .unwrap_or_else(|| c.default_value().map(str::to_string))
        };
        let model = get(Choice::Model).ok_or_else(|| MatrixError::Missing {
            what: "a model".into(),
            hint: "pass --model NAME, or add `model: NAME` under `axes:` of the matrix file".into(),
        })?;
        let req = |c: Choice| get(c).unwrap_or_default();
        Ok(Choices {
            mode: req(Choice::Mode),
            model,
            mconf: req(Choice::Mconf),
            base: req(Choice::Base),
            deploy: get(Choice::Deploy),
            backend: get(Choice::Backend),
            optional: get(Choice::Optional),
            engine: req(Choice::Engine),
        })
    }

    /// Layers merged for a choice of files (cached).
    fn merged(
        &mut self,
        c: &Choices,
    ) -> Result<Arc<(crate::config::Resolved, Utf8PathBuf)>, MatrixError> {
        if let Some(m) = self.merged.get(c) {
            return Ok(m.clone());
        }
        let config_path = model_dir::config_path(self.root, &c.model, &c.mconf)?;
        let names = LayerNames {
            base: &c.base,
            deploy: c.deploy.as_deref(),
            backend: c.backend.as_deref(),
            optional: c.optional.as_deref(),
            engine: &c.engine,
        };
        let later = Later {
            file: self.matrix.map(|m| (m.file.display.as_str(), &m.set)),
            overrides: self.overrides,
        };
        let resolved = resolve(self.store, names, later)?;
        let m = Arc::new((resolved, config_path));
        self.merged.insert(c.clone(), m.clone());
        Ok(m)
    }

    /// The setup of merged layers plus the server/env/run deltas (cached).
    fn setup(
        &mut self,
        choices: &Choices,
        base: &Arc<(crate::config::Resolved, Utf8PathBuf)>,
        delta: &crate::config::Sections,
        how: &str,
    ) -> Result<Arc<Setup>, MatrixError> {
        let key_delta =
            serde_json::to_string(&(&delta.server, &delta.env, &delta.run)).unwrap_or_default();
        let key = (choices.clone(), key_delta);
        if let Some(s) = self.setups.get(&key) {
            return Ok(s.clone());
        }
        let mut resolved = base.0.clone();
        let source = match self.matrix {
            Some(m) => format!("{} ({how})", m.file.display),
            None => format!("command line ({how})"),
        };
        for section in [Section::Server, Section::Env, Section::Run] {
            for (k, v) in delta.get(section) {
                resolved
                    .sections
                    .get_mut(section)
                    .insert(k.clone(), v.clone());
                resolved
                    .provenance
                    .insert(format!("{}.{k}", section.name()), source.clone());
            }
        }
        let setup = Arc::new(Setup::new(choices.clone(), resolved, base.1.clone()));
        self.setups.insert(key, setup.clone());
        Ok(setup)
    }

    fn derive_one(
        &self,
        i: usize,
        workload: &Arc<JsonMap>,
        setup: &Setup,
        axes: &IndexMap<String, Value>,
    ) -> Result<Value, MatrixError> {
        let (d, t) = &self.derive[i];
        let m = self.matrix.expect("derive comes from a matrix file");
        let vars = scope::cell_vars(workload, &setup.vars, None);
        let text = t.render(&vars).map_err(|e| MatrixError::Expr {
            origin: m.file.origin(&d.path),
            expr: d.template.clone(),
            message: jinja_message(&e, &d.template, Some(&vars)),
            cell: describe(axes),
        })?;
        let value = scope::parse_rendered(&text);
        if let Target::Key(section, key) = axis::target(&d.name) {
            axis::check_value(&Target::Key(section, key), &value).map_err(|expected| {
                MatrixError::Invalid {
                    origin: m.file.origin(&d.path),
                    message: format!("`{}` derived as {value}: expected {expected}", d.name),
                    hint: Some(format!("the cell was {}", describe(axes))),
                }
            })?;
        }
        Ok(value)
    }

    /// The first constraint a cell fails with `else: prune`; a failed
    /// `else: reject` constraint is an error.
    fn violated(
        &self,
        workload: &Arc<JsonMap>,
        setup: &Setup,
        axes: &IndexMap<String, Value>,
    ) -> Result<Option<String>, MatrixError> {
        let Some(m) = self.matrix else {
            return Ok(None);
        };
        if self.constraints.is_empty() {
            return Ok(None);
        }
        let vars = scope::cell_vars(workload, &setup.vars, None);
        for (c, expr) in &self.constraints {
            let ok = expr
                .eval(&vars)
                .map_err(|e| MatrixError::Expr {
                    origin: m.file.origin(&format!("{}.require", c.path)),
                    expr: c.expr.clone(),
                    message: jinja_message(&e, &c.expr, Some(&vars)),
                    cell: describe(axes),
                })?
                .is_true();
            if ok {
                continue;
            }
            match c.on_fail {
                OnFail::Prune => return Ok(Some(c.expr.clone())),
                OnFail::Reject => {
                    return Err(MatrixError::Rejected {
                        origin: m.file.origin(&c.path),
                        expr: c.expr.clone(),
                        cell: describe(axes),
                        message: c.message.clone(),
                    });
                }
            }
        }
        Ok(None)
    }
}

/// The server/env/run values of a point's axes.
fn point_delta(point: &Point<'_>) -> crate::config::Sections {
    let mut delta = crate::config::Sections::default();
    for (a, v) in &point.values {
        if let Target::Key(section, k) = &a.target {
            if *section != Section::Workload {
                delta.get_mut(*section).insert(k.clone(), (*v).clone());
            }
        }
    }
    delta
}

fn is_first_product(point: &Point<'_>) -> bool {
    match (point.line, point.bsz_seq) {
        (Some(l), Some((b, s))) => {
            l.line == 0 || (Some(&b) == l.bszs.first() && Some(&s) == l.seqs.first())
        }
        _ => true,
    }
}

fn check_required(
    mode: &str,
    workload: &JsonMap,
    axes: &IndexMap<String, Value>,
) -> Result<(), MatrixError> {
    let needed: &[&str] = match mode {
        "latency" | "batch" => &["bsz", "seq", "output_len"],
        _ => &["seq", "output_len", "num_prompts"],
    };
    for k in needed {
        if workload.get(*k).is_none_or(Value::is_null) {
            return Err(MatrixError::Missing {
                what: format!("workload key `{k}` ({mode} mode)"),
                hint: format!(
                    "sweep it as an axis, set `workload: {{{k}: ...}}` in a layer or the matrix file's `set:`, \
                     or pass --set {k}=VALUE (cell: {})",
                    describe(axes)
                ),
            });
        }
    }
    Ok(())
}

/// Modes that sweep batch size × length (bsz_seq.csv applies).
pub fn uses_bsz_seq(mode: &str) -> bool {
    matches!(mode, "latency" | "batch")
}

/// `deploy=tp8 request_rate=4` for messages.
pub fn describe(axes: &IndexMap<String, Value>) -> String {
    if axes.is_empty() {
        return "(no axes)".into();
    }
    axes.iter()
        .map(|(k, v)| match v {
            Value::String(s) => format!("{k}={s}"),
            other => format!("{k}={other}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// minijinja's message without its own template-name decoration; an
/// undefined-variable error names the variables `ctx` lacks.
pub fn jinja_message(e: &minijinja::Error, src: &str, ctx: Option<&minijinja::Value>) -> String {
    let detail = e
        .detail()
        .map(str::to_string)
        .unwrap_or_else(|| e.kind().to_string());
    let names = ctx
        .map(|c| scope::undefined_names(src, c))
        .unwrap_or_default();
    match names.as_slice() {
        [] => detail,
        [one] => format!("undefined variable `{one}`"),
        many => format!(
            "undefined variables {}",
            many.iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
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
