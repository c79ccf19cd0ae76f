//! `constraints:`: a cell that fails one is pruned (kept in the plan's
//! report) or rejected (an error naming the cell).

use std::sync::Arc;

use indexmap::IndexMap;
use serde::Serialize;
use serde_json::Value;

use crate::config::JsonMap;

use super::MatrixError;
use super::cell::Setup;
use super::describe::{describe, jinja_message};
use super::expander::Expander;
use super::file::OnFail;
use super::scope;

/// A cell removed by a constraint, kept for the plan's report.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Pruned {
    pub axes: IndexMap<String, Value>,
    pub constraint: String,
}

impl<'a> Expander<'a> {
    /// The first constraint a cell fails with `else: prune`; a failed
    /// `else: reject` constraint is an error.
    pub(super) fn violated(
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
