//! `derive:`: values computed per cell from a template; workload values
//! land in the cell, server/env/run values make a new setup. `--set` wins
//! over a derived key.

use std::sync::Arc;

use indexmap::IndexMap;
use serde_json::Value;

use crate::config::JsonMap;
use crate::config::sections::Section;

use super::MatrixError;
use super::axis::{self, Target};
use super::cell::Setup;
use super::describe::{describe, jinja_message};
use super::expander::{Expander, point_delta};
use super::file::invalid;
use super::product::Point;
use super::scope;

impl<'a> Expander<'a> {
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
    pub(super) fn apply_derive(
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
}
