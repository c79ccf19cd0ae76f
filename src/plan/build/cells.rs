//! A group's cells: in serving mode each cell's client command and results
//! file, rendered from templates compiled once per group, in parallel when
//! there are many.

use indexmap::IndexMap;
use minijinja::value::Value as Mj;
use serde_json::Value;

use crate::config::engine::Exec;
use crate::config::yaml::Origin;
use crate::matrix::Cell;
use crate::matrix::scope;
use crate::plan::PlanError;
use crate::plan::model::*;
use crate::plan::render::{self, Compiled, check_argv, compile};

use super::Planner;

impl<'a> Planner<'a> {
    /// Cells of a group, with their client commands in serving mode. Client
    /// and results templates compile once per group; each cell renders them
    /// with its workload over the group's variables. Large groups render in
    /// parallel chunks (cells are independent; order is kept).
    pub(super) fn plan_cells(
        &self,
        cells: &[&Cell],
        mode: &str,
        group_ctx: &Mj,
        client_cpus: Option<Vec<usize>>,
    ) -> Result<Vec<PlanCell>, PlanError> {
        let spec = self.profile.mode(mode)?;
        if spec.exec() == Exec::Process {
            return Ok(cells.iter().map(|c| plan_cell(c, None, None)).collect());
        }
        let origin = |p: &str| self.profile.origin(p);
        let mut clients: IndexMap<String, Compiled<'_>> = IndexMap::new();
        for c in cells {
            let kind = client_kind(c);
            if clients.contains_key(kind) {
                continue;
            }
            let cspec = spec.client.get(kind).ok_or_else(|| PlanError::Template {
                origin: origin(&format!("modes.{mode}.client")),
                template: kind.to_string(),
                message: format!(
                    "engine `{}` has no `{kind}` client for {mode} mode (workload.client); its clients: {}",
                    self.profile.name,
                    spec.client.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            })?;
            let compiled = compile(
                self.env,
                cspec,
                &origin,
                &format!("modes.{mode}.client.{kind}"),
            )?;
            clients.insert(kind.to_string(), compiled);
        }
        let results = match &spec.results {
            Some(r) => Some((
                compile_text_spec(
                    self.env,
                    &r.file,
                    &origin,
                    &format!("modes.{mode}.results.file"),
                )?,
                r.format.as_str(),
            )),
            None => None,
        };
        let renderer = CellRenderer {
            clients: &clients,
            results: results.as_ref(),
            client_tables: &self.flags.client,
            argv_origin: &|kind: &str| origin(&format!("modes.{mode}.client.{kind}.argv")),
            group_ctx,
            client_cpus,
        };
        render_parallel(cells, &renderer)
    }
}

/// Renders the client command and results file of serving cells.
struct CellRenderer<'a, 'e> {
    clients: &'a IndexMap<String, Compiled<'e>>,
    results: Option<&'a (Compiled<'e>, &'a str)>,
    client_tables: &'a IndexMap<String, crate::plan::flags::FlagTable>,
    argv_origin: &'a (dyn Fn(&str) -> Origin + Sync),
    group_ctx: &'a Mj,
    client_cpus: Option<Vec<usize>>,
}

impl CellRenderer<'_, '_> {
    fn render(&self, c: &Cell) -> Result<PlanCell, PlanError> {
        let kind = client_kind(c);
        let ctx = scope::cell_vars(&c.workload, self.group_ctx, Some(&c.id));
        let (argv, env) = self.clients[kind].render(&ctx)?;
        if let Some(table) = self.client_tables.get(kind) {
            check_argv(&argv, table, &[], &(self.argv_origin)(kind))?;
        }
        let results = match self.results {
            Some((t, format)) => Some(Results {
                file: t.render(&ctx)?.0.concat(),
                format: format.to_string(),
            }),
            None => None,
        };
        let client = Command {
            argv,
            env,
            cpus: self.client_cpus.clone(),
        };
        Ok(plan_cell(c, Some(client), results))
    }
}

fn client_kind(c: &Cell) -> &str {
    c.workload
        .get("client")
        .and_then(Value::as_str)
        .unwrap_or("builtin")
}

fn plan_cell(c: &Cell, client: Option<Command>, results: Option<Results>) -> PlanCell {
    PlanCell {
        id: c.id.clone(),
        axes: c.axes.clone(),
        workload: c.workload.clone(),
        client,
        results,
        profile: Vec::new(),
    }
}

/// Render cells on every core when there are many; the first error wins.
fn render_parallel(cells: &[&Cell], r: &CellRenderer<'_, '_>) -> Result<Vec<PlanCell>, PlanError> {
    const MIN_CHUNK: usize = 2048;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if threads == 1 || cells.len() < 2 * MIN_CHUNK {
        return cells.iter().map(|c| r.render(c)).collect();
    }
    let chunk = cells.len().div_ceil(threads).max(MIN_CHUNK);
    let parts: Vec<Result<Vec<PlanCell>, PlanError>> = std::thread::scope(|s| {
        let handles: Vec<_> = cells
            .chunks(chunk)
            .map(|part| s.spawn(move || part.iter().map(|c| r.render(c)).collect()))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    let mut out = Vec::with_capacity(cells.len());
    for p in parts {
        out.extend(p?);
    }
    Ok(out)
}

/// One template string as a one-item command (rendered as one argument).
fn compile_text_spec<'e>(
    env: &'e minijinja::Environment<'e>,
    text: &'e str,
    origin: &dyn Fn(&str) -> Origin,
    path: &str,
) -> Result<Compiled<'e>, PlanError> {
    render::compile_one(env, text, origin(path))
}
