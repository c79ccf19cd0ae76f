//! Serving mode: a group is one server. Launch it, wait until it is ready,
//! then for each cell flush the server's cache (the engine profile's
//! `admin.flush_cache`, when it has one) and run the client `repeats` times,
//! keeping the repeat the selection rule picks. A server that fails to start
//! is retried (`startup_retries`) unless its log shows a failure a retry
//! cannot change (out of memory, missing module, bad argument, program not
//! found); a server that dies or hangs is relaunched for the cells after the
//! one it failed. Failure messages carry the engine's own error line.

mod cell;
mod select;
mod server;

use crate::Error;
use crate::exec::{Job, Server, Spec};
use crate::plan::{Group, PlanCell};
use crate::record::{Status, Utilisation};

use super::context::{Ctx, Took, cell_timeout};
use super::retry::Retries;
use cell::{CellEnd, admin_call, run_cell, warn_in_log};
pub use select::metric_known;
use server::{Start, shut_down, start_server};

/// Run the unfinished cells of a serving group.
pub fn run_group(
    ctx: &mut Ctx,
    group: &Group,
    todo: Vec<&PlanCell>,
    util: Option<&Utilisation<'_>>,
    profiled: bool,
) -> Result<(), Error> {
    if profiled {
        return run_profiled(ctx, group, todo, util);
    }
    let mut remaining = todo;
    let mut retries = Retries::new(ctx.opts.startup_retries);
    while !remaining.is_empty() && !ctx.stop.is_stopping() {
        match start_server(ctx, group, &group.launch.argv, remaining.len())? {
            Start::Up(mut server, launched) => {
                retries.started();
                remaining = serve(ctx, group, server.as_mut(), remaining, util)?;
                shut_down(ctx, group, server.as_mut(), launched)?;
            }
            Start::Failed(f) => {
                if retries.retry(&f) {
                    let msg = format!("group {}: {}; retrying", group.id, f.msg);
                    ctx.warn(Some(group), msg)?;
                    continue;
                }
                for cell in remaining.drain(..) {
                    let now = ctx.now();
                    let msg = Some(f.msg.clone());
                    ctx.finish(group, cell, f.status, msg, now, Took::Since(now), |_| {})?;
                }
            }
            Start::Interrupted => break,
        }
    }
    Ok(())
}

/// Profile each cell once per phase: a server launched under Nsight Systems
/// per pass, the profiler range opened with the profile's
/// `admin.start_profile` before the client and closed with `stop_profile`
/// after it, then the server stopped so nsys writes
/// `<phase>_<cell>_<deploy>_<backend>.nsys-rep` and `.sqlite`. The cell is
/// recorded from its last pass. An engine without `start_profile` never
/// opens the range: that is said once per group. The passes are the
/// plan's (`cells[].profile`); a cell without any, or with a phase this
/// build does not know, is recorded as failed.
fn run_profiled(
    ctx: &mut Ctx,
    group: &Group,
    todo: Vec<&PlanCell>,
    util: Option<&Utilisation<'_>>,
) -> Result<(), Error> {
    let dir = ctx.layout.profile_dir(&group.model);
    std::fs::create_dir_all(&dir).map_err(|source| Error::Io {
        context: format!("cannot create {dir}"),
        source,
    })?;
    if group.admin.start_profile.is_none() {
        warn_in_log(
            ctx,
            group,
            format!(
                "engine profile `{}` has no admin.start_profile: the CUDA profiler range nsys captures is never opened, so the profiles of this group hold no kernels",
                group.engine
            ),
        )?;
    }
    for cell in todo {
        // The plan built each pass's nsys command (`matrix plan --profile`).
        if cell.profile.is_empty() {
            ctx.no_profile_passes(group, cell)?;
            continue;
        }
        if let Some(p) = cell.profile.iter().find(|p| p.phase().is_none()) {
            let msg = format!(
                "profile phase `{}` is not one this matrix knows (prefill, decode)",
                p.phase
            );
            let now = ctx.now();
            ctx.finish(
                group,
                cell,
                Status::PlanError,
                Some(msg),
                now,
                Took::Since(now),
                |_| {},
            )?;
            continue;
        }
        let passes: Vec<_> = cell
            .profile
            .iter()
            .filter_map(|p| Some((p.phase()?, &p.argv)))
            .collect();
        for (i, &(phase, argv)) in passes.iter().enumerate() {
            if ctx.stop.is_stopping() {
                return Ok(());
            }
            let (mut server, launched) = match start_server(ctx, group, argv, 1)? {
                Start::Up(server, launched) => (server, launched),
                Start::Failed(f) => {
                    let now = ctx.now();
                    ctx.finish(
                        group,
                        cell,
                        f.status,
                        Some(f.msg),
                        now,
                        Took::Since(now),
                        |_| {},
                    )?;
                    break;
                }
                Start::Interrupted => return Ok(()),
            };
            if let Some(call) = &group.admin.start_profile {
                let body = super::profile::start_profile_body(phase);
                admin_call(ctx, group, "start_profile", call, &body, &cell.id)?;
            }
            let last = i + 1 == passes.len();
            let rest = if last {
                serve(ctx, group, server.as_mut(), vec![cell], util)?
            } else {
                Vec::new()
            };
            if !last {
                drive_client(ctx, group, cell)?;
            }
            if let Some(call) = &group.admin.stop_profile {
                admin_call(ctx, group, "stop_profile", call, "{}", &cell.id)?;
            }
            shut_down(ctx, group, server.as_mut(), launched)?;
            if !rest.is_empty() {
                break; // the server died before the cell ran; not recorded, a resume retries it
            }
        }
    }
    Ok(())
}

/// Run a cell's client once without recording (an earlier profile pass).
/// Its results go to a side file, so the recorded pass parses only its own.
fn drive_client(ctx: &mut Ctx, group: &Group, cell: &PlanCell) -> Result<(), Error> {
    let Some(client) = &cell.client else {
        return Ok(());
    };
    let mut argv = client.argv.clone();
    if let Some(pos) = spec_output_file(&argv) {
        argv[pos] = format!("{}.profile-pass", argv[pos]);
    }
    let log = ctx.layout.cell_log(&group.id, &cell.id);
    let spec = Spec::new(argv, log.as_std_path())
        .envs(&client.env)
        .cpus(client.cpus.as_deref());
    ctx.executed(group, Some(cell), crate::record::Role::Client, &spec)?;
    let t = ctx.now();
    let job = Job::Client { group, cell };
    let (timeout, grace) = (cell_timeout(group), ctx.opts.grace);
    ctx.launcher
        .run_to_end(job, &spec, timeout, grace, ctx.stop, &mut || {})?;
    ctx.busy_since(t);
    Ok(())
}

/// Index of the value of `--output-file` in a client argv.
fn spec_output_file(argv: &[String]) -> Option<usize> {
    argv.iter()
        .position(|a| a == "--output-file")
        .map(|i| i + 1)
        .filter(|i| *i < argv.len())
}

/// Run cells against a live server; returns the cells left for a relaunch
/// (the server died or hung), or none.
fn serve<'a>(
    ctx: &mut Ctx,
    group: &Group,
    server: &mut dyn Server,
    cells: Vec<&'a PlanCell>,
    util: Option<&Utilisation<'_>>,
) -> Result<Vec<&'a PlanCell>, Error> {
    for (i, cell) in cells.iter().enumerate() {
        if ctx.stop.is_stopping() {
            return Ok(Vec::new());
        }
        if server.try_wait()?.is_some() {
            return Ok(cells[i..].to_vec());
        }
        ctx.cell_started(group, cell)?;
        if let Some(call) = &group.admin.flush_cache {
            admin_call(ctx, group, "flush_cache", call, "{}", &cell.id)?;
        }
        match run_cell(ctx, group, cell, server, util)? {
            CellEnd::Next => {}
            CellEnd::Relaunch => return Ok(cells[i + 1..].to_vec()),
            CellEnd::Interrupted => return Ok(Vec::new()),
        }
    }
    Ok(Vec::new())
}
