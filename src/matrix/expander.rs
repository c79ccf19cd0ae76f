//! The expander: a point of the product turned into a fully resolved cell,
//! with merged layers and setups cached by the point's setup-affecting values.

use std::collections::HashMap;
use std::sync::Arc;

use camino::{Utf8Path, Utf8PathBuf};
use indexmap::IndexMap;
use serde_json::Value;

use crate::config::overrides::Override;
use crate::config::resolve::{Later, LayerNames, resolve};
use crate::config::sections::Section;
use crate::config::{JsonMap, LayerStore, model_dir};

use super::MatrixError;
use super::axis::{Choice, Target};
use super::cell::{Cell, Choices, Setup};
use super::constraints::Pruned;
use super::describe::{describe, jinja_message};
use super::file::MatrixFile;
use super::product::{Point, is_first_product};

/// Turns points into cells, caching merged layers and setups.
///
/// Per cell the expensive parts (choosing files, merging layers, hashing the
/// server side) are looked up by the identity of the setup-affecting axis
/// values, so 100 000 cells over one server cost one merge.
pub(super) struct Expander<'a> {
    pub(super) store: &'a LayerStore,
    pub(super) matrix: Option<&'a MatrixFile>,
    pub(super) overrides: &'a [Override],
    pub(super) root: &'a Utf8Path,
    pub(super) merged: HashMap<Choices, Arc<(crate::config::Resolved, Utf8PathBuf)>>,
    pub(super) setups: HashMap<(Choices, String), Arc<Setup>>,
    /// Setup by the addresses of the point's setup-affecting values.
    pub(super) by_point: HashMap<Vec<usize>, Arc<Setup>>,
    pub(super) derive: Vec<(&'a super::file::Derive, minijinja::Template<'a, 'a>)>,
    pub(super) constraints: Vec<(&'a super::file::Constraint, minijinja::Expression<'a, 'a>)>,
    pub(super) pruned: Vec<Pruned>,
}

impl<'a> Expander<'a> {
    pub(super) fn new(
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

    pub(super) fn cell(&mut self, point: &Point<'_>) -> Result<Option<Cell>, MatrixError> {
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
        let delta = point_delta(point);
        let setup = self.setup(&choices, &base, &delta, "axis")?;
        self.by_point.insert(key, setup.clone());
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
    pub(super) fn merged(
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
    pub(super) fn setup(
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
}

/// The server/env/run values of a point's axes.
pub(super) fn point_delta(point: &Point<'_>) -> crate::config::Sections {
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

pub(super) fn check_required(
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
