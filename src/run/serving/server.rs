//! A serving group's server: launch, wait until ready, health, stop.

use std::time::Duration;

use crate::Error;
use crate::exec::{self, Readiness, ReadyCheck, Server, Spec, Stamp};
use crate::parse::{Failure, FailureClass};
use crate::plan::Group;
use crate::record::Status;
use crate::record::event::{Event, GroupReady};

use super::super::context::Ctx;
use super::super::files::{last_lines, read_from, size_of};
use super::super::retry::StartFailure;

/// How a launch of the group's server went.
pub(super) enum Start {
    /// Ready; launched at the stamp.
    Up(Box<dyn Server>, Stamp),
    Failed(StartFailure),
    Interrupted,
}

/// `run.host`/`run.port` of the group; a port beyond 65535 is refused
/// (pre-flight already did, so a run never reaches that).
fn host_port(group: &Group) -> Result<(String, u16), Error> {
    Ok(exec::preflight::host_port(group).map_err(exec::ExecError::from)?)
}

/// Launch the server (`argv`: the group's, or it wrapped in nsys) for
/// `cells` cells and wait until it is ready.
pub(super) fn start_server(
    ctx: &mut Ctx,
    group: &Group,
    argv: &[String],
    cells: usize,
) -> Result<Start, Error> {
    let (host, port) = host_port(group)?;
    if let Err(e) = ctx.launcher.check_port_free(&host, port) {
        // Someone else's server: it may be gone by the retry.
        let f = StartFailure::new(Status::StartupCrash, e.to_string(), false);
        return Ok(Start::Failed(f));
    }
    let log = ctx.layout.server_log(&group.id);
    let spec = Spec::new(argv.to_vec(), log.as_std_path())
        .envs(&group.launch.env)
        .cpus(group.launch.cpus.as_deref());
    ctx.launching(group, cells)?;
    ctx.executed(group, None, crate::record::Role::Launch, &spec)?;
    let log_at = size_of(&log);
    let started = ctx.now();
    let mut server = match ctx.launcher.spawn_server(group, &spec) {
        Ok(s) => s,
        // A program that cannot start (not installed) fails this group, not
        // the sweep, and fails the same way on a retry.
        Err(e) => {
            let cause = std::error::Error::source(&e)
                .map(|c| format!(": {c}"))
                .unwrap_or_default();
            let hint = FailureClass::NotFound.hint().unwrap_or_default();
            let msg = format!("{e}{cause}; hint: {hint}");
            ctx.stopped(group, started)?;
            return Ok(Start::Failed(StartFailure::new(
                Status::StartupCrash,
                msg,
                true,
            )));
        }
    };
    ctx.counts.launches += 1;
    let ready = group.ready.as_ref();
    let timeout = Duration::from_secs_f64(ready.map_or(1200.0, |r| r.timeout_s).max(0.001));
    let url = ready
        .map(|r| r.url.clone())
        .unwrap_or_else(|| format!("http://{host}:{port}/health"));
    let mut check = ReadyCheck::http(url, timeout);
    if let Some(pattern) = ready.and_then(|r| r.log.clone()) {
        check = check.with_log_pattern(pattern);
    }
    let outcome = server.wait_ready(&check, ctx.stop)?;
    ctx.busy_since(started);
    // This launch's part of the log (server.log is appended to across
    // launches), its last lines.
    let own_tail = || last_lines(&read_from(&log, log_at), exec::ready::TAIL_LINES);
    let failure = match outcome {
        Readiness::Ready { after } => {
            ctx.emit(Event::GroupReady(GroupReady {
                group: group.id.clone(),
                after_s: after.as_secs_f64(),
            }))?;
            return Ok(Start::Up(server, started));
        }
        Readiness::Exited { status, .. } => {
            let f = Failure::read(&own_tail(), status.code());
            StartFailure::read(&f, &format!("server exited while starting ({status})"))
        }
        Readiness::TimedOut { .. } => StartFailure::new(
            Status::StartupTimeout,
            format!("server not ready after {:.0} s", timeout.as_secs_f64()),
            false,
        ),
        Readiness::Oom { .. } => {
            let f = Failure::read(&own_tail(), None);
            StartFailure::new(Status::Oom, f.message("out of memory while starting"), true)
        }
        Readiness::Interrupted => {
            server.stop(ctx.opts.grace)?;
            ctx.stopped(group, started)?;
            return Ok(Start::Interrupted);
        }
    };
    server.stop(ctx.opts.grace)?;
    let _ = ctx
        .launcher
        .wait_port_free(&host, port, Duration::from_secs(30));
    ctx.stopped(group, started)?;
    Ok(Start::Failed(failure))
}

/// Stop the server launched at `launched` (SIGTERM, grace, SIGKILL to its
/// group) and wait until its port is free for the next group.
pub(super) fn shut_down(
    ctx: &mut Ctx,
    group: &Group,
    server: &mut dyn Server,
    launched: Stamp,
) -> Result<(), Error> {
    let (host, port) = host_port(group)?;
    let t = ctx.now();
    server.stop(ctx.opts.grace)?;
    ctx.busy_since(t);
    ctx.stopped(group, launched)?;
    let free = ctx
        .launcher
        .wait_port_free(&host, port, Duration::from_secs(60));
    if free.is_err() {
        let msg = format!("port {port} still busy after stopping group {}", group.id);
        ctx.warn(Some(group), msg)?;
    }
    Ok(())
}

/// Does the server still answer its readiness URL?
pub(super) fn healthy(ctx: &mut Ctx, group: &Group) -> bool {
    let Ok((host, port)) = host_port(group) else {
        return false;
    };
    let url = group
        .ready
        .as_ref()
        .map(|r| r.url.clone())
        .unwrap_or_else(|| format!("http://{host}:{port}/health"));
    ctx.launcher.healthy(&url)
}
