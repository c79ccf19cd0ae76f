//! Serving mode: a group is one server. Launch it, wait until it is ready,
//! then for each cell flush the server's cache (the engine profile's
//! `admin.flush_cache`, when it has one) and run the client `repeats` times,
//! keeping the repeat the selection rule picks. A server that fails to start
//! is retried (`startup_retries`) unless its log shows a failure a retry
//! cannot change (out of memory, missing module, bad argument, program not
//! found); a server that dies or hangs is relaunched for the cells after the
//! one it failed. Failure messages carry the engine's own error line.

use std::time::Duration;

use crate::Error;
use crate::config::engine::HttpMethod;
use crate::exec::ready::Url;
use crate::exec::{self, Child, CmdOutcome, Readiness, ReadyCheck, Spec, wait_ready};
use crate::parse::serving::{ServingResult, parse_output_file};
use crate::parse::{Failure, FailureClass};
use crate::plan::{AdminCall, Group, PlanCell};
use crate::record::{Status, Utilisation, fill_latency, fill_serving};

use super::context::{Ctx, cell_timeout, note_in_log, now};
use super::files::{last_lines, read_from, size_of};
use super::progress::Event;

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
    let mut start_failures = 0;
    while !remaining.is_empty() && !ctx.stop.is_stopping() {
        match start_server(ctx, group, &group.launch.argv)? {
            Start::Up(mut server) => {
                start_failures = 0;
                remaining = serve(ctx, group, &mut server, remaining, util)?;
                shut_down(ctx, group, &mut server)?;
            }
            Start::Failed {
                status,
                msg,
                permanent,
            } => {
                start_failures += 1;
                if !permanent && start_failures <= ctx.opts.startup_retries {
                    ctx.event(Event::Warn(format!("group {}: {msg}; retrying", group.id)));
                    continue;
                }
                for cell in remaining.drain(..) {
                    ctx.finish(group, cell, status, Some(msg.clone()), now(), |_| {})?;
                }
            }
            Start::Interrupted => break,
        }
    }
    Ok(())
}

enum Start {
    Up(Child),
    /// Not started; `permanent`: a retry would fail the same way.
    Failed {
        status: Status,
        msg: String,
        permanent: bool,
    },
    Interrupted,
}

impl Start {
    fn failed(status: Status, msg: String, permanent: bool) -> Start {
        Start::Failed {
            status,
            msg,
            permanent,
        }
    }
}

/// `run.host`/`run.port` of the group; a port beyond 65535 is refused
/// (pre-flight already did, so a run never reaches that).
fn host_port(group: &Group) -> Result<(String, u16), Error> {
    Ok(exec::preflight::host_port(group).map_err(exec::ExecError::from)?)
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
        );
    }
    for cell in todo {
        // The plan built each pass's nsys command (`matrix plan --profile`).
        if cell.profile.is_empty() {
            let msg = super::profile::NO_PASSES.to_string();
            ctx.finish(group, cell, Status::PlanError, Some(msg), now(), |_| {})?;
            continue;
        }
        if let Some(p) = cell.profile.iter().find(|p| p.phase().is_none()) {
            let msg = format!(
                "profile phase `{}` is not one this matrix knows (prefill, decode)",
                p.phase
            );
            ctx.finish(group, cell, Status::PlanError, Some(msg), now(), |_| {})?;
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
            let mut server = match start_server(ctx, group, argv)? {
                Start::Up(server) => server,
                Start::Failed { status, msg, .. } => {
                    ctx.finish(group, cell, status, Some(msg), now(), |_| {})?;
                    break;
                }
                Start::Interrupted => return Ok(()),
            };
            if let Some(call) = &group.admin.start_profile {
                let body = super::profile::start_profile_body(phase);
                admin_call(ctx, group, "start_profile", call, &body, &cell.id);
            }
            let last = i + 1 == passes.len();
            let rest = if last {
                serve(ctx, group, &mut server, vec![cell], util)?
            } else {
                Vec::new()
            };
            if !last {
                drive_client(ctx, group, cell)?;
            }
            if let Some(call) = &group.admin.stop_profile {
                admin_call(ctx, group, "stop_profile", call, "{}", &cell.id);
            }
            shut_down(ctx, group, &mut server)?;
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
    let t = std::time::Instant::now();
    exec::run_cmd(&spec, cell_timeout(group), ctx.opts.grace, ctx.stop)?;
    ctx.counts.busy += t.elapsed();
    Ok(())
}

/// Index of the value of `--output-file` in a client argv.
fn spec_output_file(argv: &[String]) -> Option<usize> {
    argv.iter()
        .position(|a| a == "--output-file")
        .map(|i| i + 1)
        .filter(|i| *i < argv.len())
}

/// One admin call of the engine profile before or around `cell`. The cell
/// still runs when it fails (a warm cache or a missing profile range does
/// not stop the measurement), but the failure is never dropped: a warning on
/// the terminal and a line in the group's server.log, naming the call, its
/// URL and what went wrong.
fn admin_call(ctx: &mut Ctx, group: &Group, name: &str, call: &AdminCall, body: &str, cell: &str) {
    let t = std::time::Instant::now();
    let timeout = Duration::from_secs(30);
    let answer = Url::parse(&call.url).map(|u| match call.method {
        HttpMethod::Get => u.get_status(timeout),
        HttpMethod::Post => u.post_json(body, timeout),
    });
    ctx.counts.busy += t.elapsed();
    let problem = match answer {
        Ok(Some(code)) if (200..300).contains(&code) => return,
        Ok(Some(code)) => format!("HTTP {code}"),
        Ok(None) => "no answer (refused, reset or timed out)".to_string(),
        Err(e) => e.to_string(),
    };
    warn_in_log(
        ctx,
        group,
        format!(
            "group {}: admin call {name} ({} {}) for cell {cell} failed: {problem}",
            group.id, call.method, call.url
        ),
    );
}

/// A warning on the terminal and in the group's server.log.
fn warn_in_log(ctx: &mut Ctx, group: &Group, msg: String) {
    note_in_log(
        &ctx.layout.server_log(&group.id),
        &format!("matrix: warning: {msg}"),
    );
    ctx.event(Event::Warn(msg));
}

/// Launch the server (`argv`: the group's, or it wrapped in nsys) and wait
/// until it is ready.
fn start_server(ctx: &mut Ctx, group: &Group, argv: &[String]) -> Result<Start, Error> {
    let (host, port) = host_port(group)?;
    if let Err(e) = exec::check_port_free(&host, port) {
        // Someone else's server: it may be gone by the retry.
        return Ok(Start::failed(Status::StartupCrash, e.to_string(), false));
    }
    ctx.event(Event::Phase {
        id: group.id.clone(),
        phase: "starting server".into(),
    });
    let log = ctx.layout.server_log(&group.id);
    let spec = Spec::new(argv.to_vec(), log.as_std_path())
        .envs(&group.launch.env)
        .cpus(group.launch.cpus.as_deref());
    ctx.executed(group, None, crate::record::Role::Launch, &spec)?;
    let log_at = size_of(&log);
    let started = now();
    let mut server = match Child::spawn(&spec) {
        Ok(s) => s,
        // A program that cannot start (not installed) fails this group, not
        // the sweep, and fails the same way on a retry.
        Err(e) => {
            let cause = std::error::Error::source(&e)
                .map(|c| format!(": {c}"))
                .unwrap_or_default();
            let hint = FailureClass::NotFound.hint().unwrap_or_default();
            let msg = format!("{e}{cause}; hint: {hint}");
            return Ok(Start::failed(Status::StartupCrash, msg, true));
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
    let outcome = wait_ready(&mut server, &check, ctx.stop)?;
    ctx.counts.busy += started.1.elapsed();
    let failed = |status,
                  msg: String,
                  permanent,
                  server: &mut Child,
                  ctx: &mut Ctx|
     -> Result<Start, Error> {
        server.stop(ctx.opts.grace)?;
        let _ = exec::wait_port_free(&host, port, Duration::from_secs(30));
        Ok(Start::failed(status, msg, permanent))
    };
    // This launch's part of the log (server.log is appended to across
    // launches), its last lines.
    let own_tail = || last_lines(&read_from(&log, log_at), exec::ready::TAIL_LINES);
    match outcome {
        Readiness::Ready { after } => {
            ctx.event(Event::Ready {
                id: group.id.clone(),
                after,
            });
            Ok(Start::Up(server))
        }
        Readiness::Exited { status, .. } => {
            let f = Failure::read(&own_tail(), status.code());
            let kind = if f.class == FailureClass::OutOfMemory {
                Status::Oom
            } else {
                Status::StartupCrash
            };
            let msg = f.message(&format!("server exited while starting ({status})"));
            failed(kind, msg, f.class.permanent(), &mut server, ctx)
        }
        Readiness::TimedOut { .. } => failed(
            Status::StartupTimeout,
            format!("server not ready after {:.0} s", timeout.as_secs_f64()),
            false,
            &mut server,
            ctx,
        ),
        Readiness::Oom { .. } => {
            let f = Failure::read(&own_tail(), None);
            let msg = f.message("out of memory while starting");
            failed(Status::Oom, msg, true, &mut server, ctx)
        }
        Readiness::Interrupted => {
            server.stop(ctx.opts.grace)?;
            Ok(Start::Interrupted)
        }
    }
}

/// Stop the server (SIGTERM, grace, SIGKILL to its group) and wait until
/// its port is free for the next group.
fn shut_down(ctx: &mut Ctx, group: &Group, server: &mut Child) -> Result<(), Error> {
    let (host, port) = host_port(group)?;
    let t = std::time::Instant::now();
    server.stop(ctx.opts.grace)?;
    ctx.counts.busy += t.elapsed();
    if exec::wait_port_free(&host, port, Duration::from_secs(60)).is_err() {
        ctx.event(Event::Warn(format!(
            "port {port} still busy after stopping group {}",
            group.id
        )));
    }
    Ok(())
}

/// Run cells against a live server; returns the cells left for a relaunch
/// (the server died or hung), or none.
fn serve<'a>(
    ctx: &mut Ctx,
    group: &Group,
    server: &mut Child,
    cells: Vec<&'a PlanCell>,
    util: Option<&Utilisation<'_>>,
) -> Result<Vec<&'a PlanCell>, Error> {
    let total = cells.len();
    for (i, cell) in cells.iter().enumerate() {
        if ctx.stop.is_stopping() {
            return Ok(Vec::new());
        }
        if server.try_wait()?.is_some() {
            return Ok(cells[i..].to_vec());
        }
        ctx.event(Event::Cell {
            index: i + 1,
            total,
            id: cell.id.clone(),
            label: label(cell),
        });
        if let Some(call) = &group.admin.flush_cache {
            admin_call(ctx, group, "flush_cache", call, "{}", &cell.id);
        }
        match run_cell(ctx, group, cell, server, util)? {
            CellEnd::Next => {}
            CellEnd::Relaunch => return Ok(cells[i + 1..].to_vec()),
            CellEnd::Interrupted => return Ok(Vec::new()),
        }
    }
    Ok(Vec::new())
}

enum CellEnd {
    Next,
    Relaunch,
    Interrupted,
}

/// Run one cell's repeats and record it.
fn run_cell(
    ctx: &mut Ctx,
    group: &Group,
    cell: &PlanCell,
    server: &mut Child,
    util: Option<&Utilisation<'_>>,
) -> Result<CellEnd, Error> {
    let started = now();
    let Some(client) = &cell.client else {
        ctx.finish(
            group,
            cell,
            Status::ClientError,
            Some("the plan has no client command for this cell".into()),
            started,
            |_| {},
        )?;
        return Ok(CellEnd::Next);
    };
    let results = cell
        .results
        .as_ref()
        .map(|r| camino::Utf8PathBuf::from(&r.file));
    let results = results.unwrap_or_else(|| {
        ctx.layout
            .group_dir(&group.id)
            .join(format!("{}.jsonl", cell.id))
    });
    let log = ctx.layout.cell_log(&group.id, &cell.id);
    let offset = size_of(&results);
    let repeats = cell
        .workload
        .get("repeats")
        .and_then(|v| v.as_u64())
        .unwrap_or(1)
        .max(1);
    for _ in 0..repeats {
        let spec = Spec::new(client.argv.clone(), log.as_std_path())
            .envs(&client.env)
            .cpus(client.cpus.as_deref());
        ctx.executed(group, Some(cell), crate::record::Role::Client, &spec)?;
        let t = std::time::Instant::now();
        let outcome = exec::run_cmd(&spec, cell_timeout(group), ctx.opts.grace, ctx.stop)?;
        ctx.counts.busy += t.elapsed();
        match outcome {
            CmdOutcome::Exited(_) if server.try_wait()?.is_some() => {
                // bench_serving counts failed requests and still exits 0: a
                // server that died under the client is only seen here.
                let status = server
                    .try_wait()?
                    .map(|s| s.to_string())
                    .unwrap_or_default();
                let tail = exec::log_tail(server.log_path(), exec::ready::TAIL_LINES);
                let msg = Failure::read(&tail, None)
                    .message_engine_hint(&format!("the server died during the cell ({status})"));
                ctx.finish(group, cell, Status::ServerDied, Some(msg), started, |_| {})?;
                return Ok(CellEnd::Relaunch);
            }
            CmdOutcome::Exited(s) if s.success() => {}
            CmdOutcome::Interrupted => return Ok(CellEnd::Interrupted),
            CmdOutcome::TimedOut { after } => {
                let msg = format!("client ran past {:.0} s", after.as_secs_f64());
                ctx.finish(group, cell, Status::CellTimeout, Some(msg), started, |_| {})?;
                return Ok(if healthy(group) {
                    CellEnd::Next
                } else {
                    CellEnd::Relaunch
                });
            }
            CmdOutcome::Exited(s) => {
                let died = server.try_wait()?.is_some() || !healthy(group);
                let (status, what) = if died {
                    (Status::ServerDied, "the server died")
                } else {
                    (Status::ClientError, "the client failed")
                };
                let tail = exec::log_tail(log.as_std_path(), exec::ready::TAIL_LINES);
                let msg = Failure::read(&tail, None).message_engine_hint(&format!("{what} ({s})"));
                ctx.finish(group, cell, status, Some(msg), started, |_| {})?;
                return Ok(if died {
                    CellEnd::Relaunch
                } else {
                    CellEnd::Next
                });
            }
        }
    }
    let text = read_from(&results, offset);
    // Latency cells measured against a server (`batch`, or an engine whose
    // latency mode is a server) carry one_batch's result lines.
    if group.mode != "serving" {
        return record_batch(ctx, group, cell, &text, results.as_str(), started, util);
    }
    let runs = match parse_output_file(&text, results.as_str()) {
        Ok(r) if r.len() as u64 >= repeats => r,
        Ok(r) => {
            let msg = format!(
                "expected {repeats} result lines in {results}, found {}",
                r.len()
            );
            return parse_failed(ctx, group, cell, msg, started);
        }
        Err(e) => return parse_failed(ctx, group, cell, e.to_string(), started),
    };
    let chosen = select(&runs, cell);
    ctx.finish(group, cell, Status::Ok, None, started, |row| {
        fill_serving(row, &chosen)
    })?;
    Ok(CellEnd::Next)
}

/// Record a cell whose results could not be read, and go on.
fn parse_failed(
    ctx: &mut Ctx,
    group: &Group,
    cell: &PlanCell,
    msg: String,
    started: (jiff::Timestamp, std::time::Instant),
) -> Result<CellEnd, Error> {
    ctx.finish(group, cell, Status::ParseError, Some(msg), started, |_| {})?;
    Ok(CellEnd::Next)
}

/// Batch mode: `matrix bench batch` wrote one_batch-format lines; keep the
/// repeat with the lowest total latency (`best`) or the median one.
fn record_batch(
    ctx: &mut Ctx,
    group: &Group,
    cell: &PlanCell,
    text: &str,
    source: &str,
    started: (jiff::Timestamp, std::time::Instant),
    util: Option<&Utilisation<'_>>,
) -> Result<CellEnd, Error> {
    let mut runs = match crate::parse::one_batch::parse_result_jsonl(text, source) {
        Ok(r) if !r.is_empty() => r,
        Ok(_) => {
            return parse_failed(
                ctx,
                group,
                cell,
                format!("no result line in {source}"),
                started,
            );
        }
        Err(e) => return parse_failed(ctx, group, cell, e.to_string(), started),
    };
    runs.sort_by(|a, b| a.total_latency.total_cmp(&b.total_latency));
    let median = cell.workload.get("select").and_then(|v| v.as_str()) == Some("median");
    let chosen = runs[if median { runs.len() / 2 } else { 0 }].clone();
    ctx.finish(group, cell, Status::Ok, None, started, |row| {
        fill_latency(row, &chosen, util)
    })?;
    Ok(CellEnd::Next)
}

/// The repeat to record: `best` by the selection metric (lowest for
/// latencies, highest for throughputs), or the `median` by it.
pub fn select(runs: &[ServingResult], cell: &PlanCell) -> ServingResult {
    let rule = cell
        .workload
        .get("select")
        .and_then(|v| v.as_str())
        .unwrap_or("best");
    let name = cell
        .workload
        .get("select_metric")
        .and_then(|v| v.as_str())
        .unwrap_or("median_e2e_latency_ms");
    let mut scored: Vec<(f64, &ServingResult)> = runs
        .iter()
        .map(|r| (metric(r, name).unwrap_or(f64::NAN), r))
        .collect();
    let higher_is_better = name.contains("throughput");
    scored.sort_by(|a, b| {
        if higher_is_better {
            b.0.total_cmp(&a.0)
        } else {
            a.0.total_cmp(&b.0)
        }
    });
    let pick = if rule == "median" {
        scored.len() / 2
    } else {
        0
    };
    scored[pick].1.clone()
}

/// A metric of a serving result by its SGLang key name.
pub fn metric(r: &ServingResult, name: &str) -> Option<f64> {
    let pct = |p: &crate::parse::Percentiles, stat: &str| match stat {
        "mean" => p.mean,
        "median" => p.median,
        "p90" => p.p90,
        "p99" => p.p99,
        _ => None,
    };
    match name {
        "request_throughput" => r.request_throughput,
        "input_throughput" => r.input_throughput,
        "output_throughput" => r.output_throughput,
        "duration" => Some(r.duration),
        _ => {
            let (stat, rest) = name.split_once('_')?;
            match rest {
                "e2e_latency_ms" => pct(&r.e2e_latency_ms, stat),
                "ttft_ms" => pct(&r.ttft_ms, stat),
                "tpot_ms" => pct(&r.tpot_ms, stat),
                "itl_ms" => pct(&r.itl_ms, stat),
                _ => None,
            }
        }
    }
}

/// The names [`metric`] knows, for checking `select_metric` up front.
pub fn metric_known(name: &str) -> bool {
    let stats = ["mean", "median", "p90", "p99"];
    let series = ["e2e_latency_ms", "ttft_ms", "tpot_ms", "itl_ms"];
    [
        "request_throughput",
        "input_throughput",
        "output_throughput",
        "duration",
    ]
    .contains(&name)
        || name
            .split_once('_')
            .is_some_and(|(s, r)| stats.contains(&s) && series.contains(&r))
}

/// Does the server still answer its readiness URL?
fn healthy(group: &Group) -> bool {
    let Ok((host, port)) = host_port(group) else {
        return false;
    };
    let url = group
        .ready
        .as_ref()
        .map(|r| r.url.clone())
        .unwrap_or_else(|| format!("http://{host}:{port}/health"));
    Url::parse(&url)
        .ok()
        .and_then(|u| u.get_status(Duration::from_secs(5)))
        == Some(200)
}

fn label(cell: &PlanCell) -> String {
    crate::matrix::expand::describe(&cell.axes)
}
