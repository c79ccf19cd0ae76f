//! Multi-node ranks > 0. SGLang runs the same command on every node with
//! `--node-rank N`; only rank 0 serves HTTP and reports results. A worker
//! rank launches its process and keeps it alive until the master's run
//! ends it (the process exits) or this `matrix` is stopped (Ctrl-C,
//! SIGTERM); it records no cells.

use std::time::Duration;

use crate::Error;
use crate::exec::{Job, Spec};
use crate::plan::{Group, PlanCell};

use super::context::Ctx;

/// The `--node-rank` of a launch, when it is a worker (> 0).
pub fn worker_rank(group: &Group) -> Option<u32> {
    let argv = &group.launch.argv;
    let i = argv.iter().position(|a| a == "--node-rank")?;
    argv.get(i + 1)?.parse::<u32>().ok().filter(|r| *r > 0)
}

/// Run a worker rank's process for one group.
pub fn run_group(ctx: &mut Ctx, group: &Group, rank: u32) -> Result<(), Error> {
    let log = ctx.layout.server_log(&group.id);
    let spec = Spec::new(group.launch.argv.clone(), log.as_std_path())
        .envs(&group.launch.env)
        .cpus(group.launch.cpus.as_deref());
    ctx.launching(group, 0)?;
    ctx.executed(group, None, crate::record::Role::Launch, &spec)?;
    ctx.warn(
        Some(group),
        format!(
            "group {}: rank {rank}: running as a worker until the master's run ends it (Ctrl-C to stop)",
            group.id
        ),
    )?;
    ctx.counts.launches += 1;
    let started = ctx.now();
    if group.exec == crate::config::engine::Exec::Process {
        // one_batch on a worker node runs the same sweep and exits with it.
        let cells: Vec<&PlanCell> = group.cells.iter().collect();
        let job = Job::Batch {
            group,
            cells: &cells,
        };
        let (grace, stop) = (ctx.opts.grace, ctx.stop);
        ctx.launcher
            .run_to_end(job, &spec, Duration::MAX / 4, grace, stop, &mut || {})?;
        return ctx.stopped(group, started);
    }
    let mut server = ctx.launcher.spawn_server(group, &spec)?;
    while !ctx.stop.is_stopping() {
        if server.wait_timeout(Duration::from_millis(200))?.is_some() {
            return ctx.stopped(group, started);
        }
    }
    server.stop(ctx.opts.grace)?;
    ctx.stopped(group, started)
}
