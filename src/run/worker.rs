//! Multi-node ranks > 0. SGLang runs the same command on every node with
//! `--node-rank N`; only rank 0 serves HTTP and reports results. A worker
//! rank launches its process and keeps it alive until the master's run
//! ends it (the process exits) or this `matrix` is stopped (Ctrl-C,
//! SIGTERM); it records no cells.

use std::time::Duration;

use crate::Error;
use crate::exec::{Child, Spec, run_cmd};
use crate::plan::Group;

use super::context::Ctx;
use super::progress::Event;

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
    ctx.executed(group, None, crate::record::Role::Launch, &spec)?;
    ctx.event(Event::Phase {
        id: group.id.clone(),
        phase: format!(
            "rank {rank}: running as a worker until the master's run ends it (Ctrl-C to stop)"
        ),
    });
    ctx.counts.launches += 1;
    if group.exec == crate::config::engine::Exec::Process {
        // one_batch on a worker node runs the same sweep and exits with it.
        run_cmd(&spec, Duration::MAX / 4, ctx.opts.grace, ctx.stop)?;
        return Ok(());
    }
    let mut server = Child::spawn(&spec)?;
    while !ctx.stop.is_stopping() {
        if server.wait_timeout(Duration::from_millis(200))?.is_some() {
            return Ok(());
        }
    }
    server.stop(ctx.opts.grace)?;
    Ok(())
}
