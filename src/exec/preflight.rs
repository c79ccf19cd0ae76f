//! Runtime pre-flight of `matrix run`: what would make every launch fail
//! in *this* environment, checked once before anything is started or
//! written. The static checks (tokenizer files, the simulator's memory fit)
//! belong to planning ([`crate::plan::preflight`]); these ones spawn
//! interpreters and bind sockets, so they live in the process layer:
//!
//! - every distinct program of the plan (launches and clients) runs, and a
//!   `PY -m MODULE` finds its module, each checked with the environment its
//!   real spawn gets (`launch.env` / the client's `env`: PATH, PYTHONPATH);
//! - `nsys` is on PATH when the plan profiles;
//! - every server's `run.port` is a port (1..=65535) and is free.
//!
//! Every failure is a [`PreflightError`] (exit code 2) with a hint.

use std::collections::HashSet;
use std::ffi::OsString;
use std::path::PathBuf;

use indexmap::IndexMap;
use serde_json::Value;
use thiserror::Error;

use crate::config::engine::Exec;
use crate::plan::{Group, Plan};

use super::ExecError;

#[derive(Debug, Error)]
pub enum PreflightError {
    #[error("engine `{engine}`: the {role} program `{program}` cannot run: {problem}")]
    Program {
        engine: String,
        role: &'static str,
        program: String,
        problem: String,
        /// The interpreter and the top-level package, when a Python module
        /// is missing.
        python: Option<(String, String)>,
    },
    #[error("--profile captures with Nsight Systems, but `nsys` is not on PATH")]
    NoNsys,
    #[error("run.port {port} of group {group} is not a TCP port (1 to 65535)")]
    BadPort { port: u64, group: String },
    #[error("port {port} on {host} is already in use (needed by group {group})")]
    PortInUse {
        host: String,
        port: u16,
        group: String,
    },
    #[error("cannot check the port of group {group}")]
    Port {
        group: String,
        #[source]
        source: Box<ExecError>,
    },
}

impl PreflightError {
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            PreflightError::Program { engine, python: Some((py, package)), .. } => format!(
                "install {package} for `{py}` (the interpreter is `vars.python` of conf/engine/{engine}.yaml), or run on the simulator with `--engine sim` (no GPU needed)"
            ),
            PreflightError::Program { program, .. } => format!(
                "put `{}` on PATH, or run on the simulator with `--engine sim` (no GPU needed)",
                program.split(' ').next().unwrap_or(program)
            ),
            PreflightError::NoNsys => "install Nsight Systems and put `nsys` on PATH, or run without --profile (`matrix plan --profile ...` shows the nsys command lines)".into(),
            PreflightError::BadPort { .. } => "give the servers a port from 1 to 65535: --set run.port=N".into(),
            PreflightError::PortInUse { .. } => "stop whatever listens there, or give the servers another port: --set run.port=N".into(),
            PreflightError::Port { .. } => "check run.host, or set another: --set run.host=127.0.0.1".into(),
        })
    }
}

/// The checks of `matrix run` before its run folder exists.
pub fn run_checks(plan: &Plan) -> Result<(), PreflightError> {
    check_programs(plan)?;
    if plan.profile.is_some() && find_program("nsys", None).is_none() {
        return Err(PreflightError::NoNsys);
    }
    check_ports(plan)
}

/// The server address of a group: `run.host` (default 127.0.0.1) and
/// `run.port` (default 30000), refused when the port does not fit a u16.
pub fn host_port(g: &Group) -> Result<(String, u16), PreflightError> {
    let host = g
        .run
        .get("host")
        .and_then(Value::as_str)
        .unwrap_or("127.0.0.1")
        .to_string();
    let port = g.run.get("port").and_then(Value::as_u64).unwrap_or(30000);
    match u16::try_from(port) {
        Ok(p) if p > 0 => Ok((host, p)),
        _ => Err(PreflightError::BadPort {
            port,
            group: g.id.clone(),
        }),
    }
}

/// A program and, for `PY -m MODULE`, the module.
type Program = (String, Option<String>);

fn program_of(argv: &[String]) -> Option<Program> {
    let prog = argv.first()?.clone();
    let module = (argv.get(1).map(String::as_str) == Some("-m"))
        .then(|| argv.get(2).cloned())
        .flatten();
    Some((prog, module))
}

/// Each distinct (program, environment) of the plan, launches and clients,
/// once.
fn check_programs(plan: &Plan) -> Result<(), PreflightError> {
    let mut seen: HashSet<(Program, Vec<(String, String)>)> = HashSet::new();
    for g in &plan.groups {
        let role = match g.exec {
            Exec::Process => "benchmark",
            Exec::Server => "server",
        };
        let clients = g
            .cells
            .iter()
            .filter_map(|c| c.client.as_ref())
            .map(|c| ("client", &c.argv, &c.env));
        let launch = (role, &g.launch.argv, &g.launch.env);
        for (role, argv, env) in std::iter::once(launch).chain(clients) {
            let Some(p) = program_of(argv) else { continue };
            let key = (p, env_key(env));
            if seen.contains(&key) {
                continue;
            }
            check_program(&g.engine, role, &key.0, env)?;
            seen.insert(key);
        }
    }
    Ok(())
}

fn env_key(env: &IndexMap<String, String>) -> Vec<(String, String)> {
    let mut v: Vec<_> = env.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    v.sort();
    v
}

fn check_program(
    engine: &str,
    role: &'static str,
    (prog, module): &Program,
    env: &IndexMap<String, String>,
) -> Result<(), PreflightError> {
    let fail = |problem: String, python: Option<(String, String)>| PreflightError::Program {
        engine: engine.to_string(),
        role,
        program: match module {
            Some(m) => format!("{prog} -m {m}"),
            None => prog.clone(),
        },
        problem,
        python,
    };
    // The spawn (std::process::Command) searches the child's PATH when the
    // environment sets one: so does the check.
    let path_var = env.get("PATH").map(OsString::from);
    let Some(path) = find_program(prog, path_var) else {
        let problem = if prog.contains('/') {
            format!("{prog} is not an executable file")
        } else if env.contains_key("PATH") {
            format!("{prog} is not on PATH (the PATH its env sets)")
        } else {
            format!("{prog} is not on PATH")
        };
        return Err(fail(problem, None));
    };
    let Some(module) = module else {
        return Ok(());
    };
    // find_spec imports only the parent packages, not the module itself
    // (no torch start-up); the name travels as an argument, not as code.
    let output = std::process::Command::new(&path)
        .args([
            "-c",
            "import importlib.util, sys; sys.exit(importlib.util.find_spec(sys.argv[1]) is None)",
            module,
        ])
        .envs(env)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .output();
    match output {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => {
            let stderr = String::from_utf8_lossy(&o.stderr);
            let last = stderr.lines().map(str::trim).rfind(|l| !l.is_empty());
            let mut problem = format!("the Python module `{module}` is not importable by {prog}");
            if let Some(line) = last {
                problem.push_str(": ");
                problem.push_str(line);
            }
            let package = module.split('.').next().unwrap_or(module).to_string();
            Err(fail(problem, Some((prog.clone(), package))))
        }
        Err(e) => Err(fail(format!("{prog} does not start: {e}"), None)),
    }
}

/// `name` resolved like execvp: a path with `/` as it is, else the first
/// executable file of that name in `path` (matrix's own PATH when `None`).
pub fn find_program(name: &str, path: Option<OsString>) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &std::path::Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if name.contains('/') {
        let p = PathBuf::from(name);
        return executable(&p).then_some(p);
    }
    let path = path.or_else(|| std::env::var_os("PATH"))?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| executable(p))
}

/// Each distinct host:port of the plan's server groups.
fn check_ports(plan: &Plan) -> Result<(), PreflightError> {
    let mut seen = HashSet::new();
    for g in plan.groups.iter().filter(|g| g.exec == Exec::Server) {
        let (host, port) = host_port(g)?;
        if !seen.insert((host.clone(), port)) {
            continue;
        }
        match super::check_port_free(&host, port) {
            Ok(()) => {}
            Err(ExecError::PortInUse { host, port }) => {
                return Err(PreflightError::PortInUse {
                    host,
                    port,
                    group: g.id.clone(),
                });
            }
            Err(source) => {
                return Err(PreflightError::Port {
                    group: g.id.clone(),
                    source: Box::new(source),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn program_and_module_of_an_argv() {
        let argv = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            program_of(&argv(&[
                "python3",
                "-m",
                "sglang.launch_server",
                "--port",
                "1"
            ])),
            Some(("python3".into(), Some("sglang.launch_server".into())))
        );
        assert_eq!(
            program_of(&argv(&["/bin/matrix", "sim", "launch-server"])),
            Some(("/bin/matrix".into(), None))
        );
        assert_eq!(program_of(&[]), None);
    }

    #[test]
    fn find_program_needs_an_executable_file() {
        let tmp = tempfile::tempdir().unwrap();
        let f = tmp.path().join("prog");
        std::fs::write(&f, "#!/bin/sh\n").unwrap();
        assert_eq!(
            find_program(f.to_str().unwrap(), None),
            None,
            "not executable"
        );
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(find_program(f.to_str().unwrap(), None), Some(f.clone()));
        assert_eq!(
            find_program(tmp.path().to_str().unwrap(), None),
            None,
            "a folder"
        );
    }

    #[test]
    fn find_program_searches_the_given_path() {
        let tmp = tempfile::tempdir().unwrap();
        let f = tmp.path().join("only-here-prog");
        std::fs::write(&f, "#!/bin/sh\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(
            find_program("only-here-prog", Some(tmp.path().into())),
            Some(f)
        );
        assert_eq!(
            find_program("only-here-prog", Some("/nonexistent".into())),
            None
        );
    }
}
