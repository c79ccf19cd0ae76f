//! `matrix plan`: expand, render and check; print the plan.

use camino::Utf8Path;

use crate::Error;
use crate::plan::{self, Plan, PlanInput};

use super::{PlanInputRequest, plan_input, write_stdout};

/// What `matrix plan` needs.
#[derive(Debug, Clone, Default)]
pub struct PlanRequest {
    pub input: PlanInputRequest,
    /// `--profile prefill|decode|both`.
    pub profile: Option<String>,
    /// Print the plan as JSON.
    pub json: bool,
}

/// `matrix plan`: the plan as text (or JSON) on stdout.
pub fn run(root: &Utf8Path, req: PlanRequest) -> Result<i32, Error> {
    let input = plan_input(root, req.input);
    let profile = req.profile.as_deref().and_then(plan::profile::phases);
    let plan = build(&input, profile.as_deref())?;
    write_stdout(|out| {
        if req.json {
            serde_json::to_writer_pretty(&mut *out, &plan).map_err(std::io::Error::other)?;
            writeln!(out)
        } else {
            out.write_all(plan::output::render(&plan).as_bytes())
        }
    })?;
    Ok(0)
}

/// Build the plan for `matrix plan` (and `matrix run`): expand, render,
/// check flags, add the nsys passes of `profile`, then the static
/// pre-flight checks (tokenizer files, simulated GPU memory).
pub fn build(input: &PlanInput, profile: Option<&[plan::profile::Phase]>) -> Result<Plan, Error> {
    let mut p = plan::build(input)?;
    if let Some(phases) = profile {
        plan::profile::apply(&mut p, phases)?;
    }
    plan::preflight::static_checks(&p, &input.expand.root, &input.matrix_exe)
        .map_err(plan::PlanError::from)?;
    Ok(p)
}
