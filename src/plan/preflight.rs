//! Pre-flight: everything that would make every launch of a run fail,
//! checked once before anything is started or written.
//!
//! Two kinds, in one place:
//!
//! - **static** ([`static_checks`]), part of planning, so `matrix plan`
//!   catches them on a laptop: tokenizer files a client needs, and whether
//!   the model fits the simulator's GPU memory;
//! - **environment** ([`run_checks`], [`memory_warnings`]), for `matrix run`
//!   only: the engine's programs are runnable, `nsys` is on PATH when
//!   profiling, the servers' ports are free, and a real engine's model fits
//!   the GPU (a warning; only when the GPU is known).
//!
//! Every failure is a [`PreflightError`] (exit code 2) with a hint.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use camino::{Utf8Path, Utf8PathBuf};
use serde_json::Value;
use thiserror::Error;

use crate::config::engine::Exec;
use crate::exec::ExecError;

use super::model::{Group, Plan};

#[derive(Debug, Error)]
pub enum PreflightError {
    #[error("no conf/ found in {dir}: it is not a matrix project folder")]
    NoProject { dir: String },
    #[error("engine `{engine}`: the {role} program `{program}` cannot run: {problem}")]
    Program {
        engine: String,
        role: &'static str,
        program: String,
        problem: String,
        /// The interpreter, when a Python module is missing.
        python: Option<String>,
    },
    #[error("--profile captures with Nsight Systems, but `nsys` is not on PATH")]
    NoNsys,
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
        source: ExecError,
    },
    #[error("{who} needs the tokenizer file {file}, which is missing from the model folder {dir}")]
    Tokenizer {
        who: String,
        file: String,
        dir: String,
    },
    #[error("group {group} ({model}/{mconf} on the simulator): {message}")]
    NoMemory {
        group: String,
        model: String,
        mconf: String,
        message: String,
    },
}

impl PreflightError {
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            PreflightError::NoProject { .. } => "run matrix in a project folder (one holding conf/, model_conf/ and matrices/), or name one with --root DIR or MATRIX_ROOT=DIR".into(),
            PreflightError::Program { engine, python: Some(py), .. } => format!(
                "install {engine} for `{py}` (the interpreter is `vars.python` of conf/engine/{engine}.yaml), or run on the simulator with `--engine sim` (no GPU needed)"
            ),
            PreflightError::Program { program, .. } => format!(
                "put `{}` on PATH, or run on the simulator with `--engine sim` (no GPU needed)",
                program.split(' ').next().unwrap_or(program)
            ),
            PreflightError::NoNsys => "install Nsight Systems and put `nsys` on PATH, or run without --profile (`matrix plan --profile ...` shows the nsys command lines)".into(),
            PreflightError::PortInUse { .. } => "stop whatever listens there, or give the servers another port: --set run.port=N".into(),
            PreflightError::Port { .. } => "check run.host, or set another: --set run.host=127.0.0.1".into(),
            PreflightError::Tokenizer { dir, .. } => format!(
                "put the model's tokenizer.json and tokenizer_config.json in {dir}, or send random token ids with matrix's built-in client, which need no tokenizer (--set workload.dataset=random-ids)"
            ),
            PreflightError::NoMemory { .. } => "raise mem_fraction_static or tp_size, pick a simulated GPU with more memory (sim_gpu), or use a smaller --mconf".into(),
        })
    }
}

/// `matrix plan`/`run`/`show-config` need a project: `root` must hold conf/.
pub fn check_project(root: &Utf8Path) -> Result<(), PreflightError> {
    if root.join("conf").is_dir() {
        Ok(())
    } else {
        Err(PreflightError::NoProject {
            dir: root.to_string(),
        })
    }
}

/// The checks planning makes: tokenizer files and, on the simulator, GPU
/// memory. `matrix_exe` tells matrix's own client from other programs.
pub fn static_checks(plan: &Plan, root: &Utf8Path, matrix_exe: &str) -> Result<(), PreflightError> {
    check_tokenizers(plan, root, matrix_exe)?;
    let mut fits = FitCache::default();
    for g in plan.groups.iter().filter(|g| is_sim(g)) {
        if let Some(message) = fits.problem(g, root, &g.launch.argv[3..]) {
            return Err(PreflightError::NoMemory {
                group: g.id.clone(),
                model: g.model.clone(),
                mconf: g.mconf.clone(),
                message,
            });
        }
    }
    Ok(())
}

/// The checks of `matrix run` before its run folder exists: every distinct
/// program of the plan runs, `nsys` is on PATH when the plan profiles, and
/// every server's port is free.
pub fn run_checks(plan: &Plan) -> Result<(), PreflightError> {
    check_programs(plan)?;
    if plan.profile.is_some() && find_program("nsys").is_none() {
        return Err(PreflightError::NoNsys);
    }
    check_ports(plan)
}

/// Real engines whose weights leave no room for KV cache on `gpu` (the
/// simulator's arithmetic with the group's tp/dp and mem_fraction_static):
/// one warning each, with the numbers. Nothing for groups that do not set
/// mem_fraction_static (the engine picks its own).
pub fn memory_warnings(plan: &Plan, root: &Utf8Path, gpu: &str) -> Vec<String> {
    let mut fits = FitCache::default();
    let mut out = Vec::new();
    for g in plan.groups.iter().filter(|g| !is_sim(g)) {
        let Some(frac) = g.server.get("mem_fraction_static").and_then(Value::as_f64) else {
            continue;
        };
        // Sizes read back from the argv; unreadable ones: no estimate.
        let (Some(tp), Some(dp)) = (g.tp, g.dp) else {
            continue;
        };
        let (tp, dp) = (tp.max(1), dp.max(1));
        let mut flags: Vec<String> = [
            "--model-path",
            "model",
            "--tp-size",
            &tp.to_string(),
            "--dp-size",
            &dp.to_string(),
            "--mem-fraction-static",
            &frac.to_string(),
            "--sim-gpu",
            gpu,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if g.server.get("enable_dp_attention").and_then(Value::as_bool) == Some(true) {
            flags.extend(["--attn-dp-size".into(), dp.to_string()]);
        }
        if let Some(message) = fits.problem(g, root, &flags) {
            out.push(format!(
                "group {} ({}/{}, {} on {} x {gpu}, mem_fraction_static {frac}): {message}",
                g.id,
                g.model,
                g.mconf,
                g.engine,
                tp * dp
            ));
        }
    }
    out
}

/// The simulator's launch: `<matrix> sim launch-server|one-batch FLAGS`.
fn is_sim(g: &Group) -> bool {
    g.launch.argv.len() >= 3
        && g.launch.argv[1] == "sim"
        && matches!(g.launch.argv[2].as_str(), "launch-server" | "one-batch")
}

/// The simulator's start-up memory check, once per config and flags.
#[derive(Default)]
struct FitCache {
    seen: HashMap<(Utf8PathBuf, Vec<String>), Option<String>>,
}

impl FitCache {
    /// The "not enough memory" message, if the model does not fit. Other
    /// problems of the flags or config are left to the engine's start-up.
    fn problem(&mut self, g: &Group, root: &Utf8Path, flags: &[String]) -> Option<String> {
        let config = root.join(&g.model_dir.source);
        self.seen
            .entry((config.clone(), flags.to_vec()))
            .or_insert_with(|| match crate::sim::check_fit(flags, &config) {
                Err(e @ crate::sim::SimError::NoKvRoom { .. }) => Some(e.to_string()),
                _ => None,
            })
            .clone()
    }
}

/// Tokenizer files a client's `--tokenizer` names: the staged model folder
/// (files from `model_conf/<model>/`) or, for matrix's own client, any
/// local path. matrix's client reads tokenizer.json; Python clients load
/// the folder with Hugging Face, which wants tokenizer_config.json too.
fn check_tokenizers(plan: &Plan, root: &Utf8Path, matrix_exe: &str) -> Result<(), PreflightError> {
    let mut present: HashMap<Utf8PathBuf, bool> = HashMap::new();
    let mut exists = |p: Utf8PathBuf| *present.entry(p.clone()).or_insert_with(|| p.is_file());
    for g in &plan.groups {
        let source_dir = root
            .join(&g.model_dir.source)
            .parent()
            .map(Utf8Path::to_owned)
            .unwrap_or_else(|| root.to_owned());
        for c in &g.cells {
            let Some(client) = &c.client else { continue };
            let argv = &client.argv;
            let own = argv.first().is_some_and(|a| a == matrix_exe);
            let files: &[&str] = if own {
                &["tokenizer.json"]
            } else {
                &["tokenizer.json", "tokenizer_config.json"]
            };
            for (i, a) in argv.iter().enumerate() {
                let Some(value) = argv.get(i + 1).filter(|_| a == "--tokenizer") else {
                    continue;
                };
                let dir = if *value == g.model_dir.dir {
                    source_dir.clone()
                } else if own {
                    let p = Utf8PathBuf::from(value);
                    if !p.is_dir() {
                        if exists(p.clone()) {
                            continue;
                        }
                        return Err(PreflightError::Tokenizer {
                            who: who(g, &c.id, argv),
                            file: shown(root, &p),
                            dir: p.parent().map(|d| shown(root, d)).unwrap_or_default(),
                        });
                    }
                    p
                } else {
                    // A Hub id or the served model name: not a local folder.
                    continue;
                };
                for f in files {
                    if !exists(dir.join(f)) {
                        return Err(PreflightError::Tokenizer {
                            who: who(g, &c.id, argv),
                            file: (*f).to_string(),
                            dir: format!("{}/", shown(root, &dir)),
                        });
                    }
                }
            }
        }
    }
    Ok(())
}

fn who(g: &Group, cell: &str, argv: &[String]) -> String {
    let name = argv
        .first()
        .map(|a| Utf8Path::new(a).file_name().unwrap_or(a).to_string());
    let program = name
        .into_iter()
        .chain(
            argv.iter()
                .skip(1)
                .take_while(|a| !a.starts_with("--"))
                .cloned(),
        )
        .collect::<Vec<_>>()
        .join(" ");
    format!(
        "the client `{program}` of cell {cell} (group {g_id})",
        g_id = g.id
    )
}

fn shown(root: &Utf8Path, p: &Utf8Path) -> String {
    p.strip_prefix(root)
        .map(|r| r.to_string())
        .unwrap_or_else(|_| p.to_string())
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

/// Each distinct program of the plan (launches and clients) once.
fn check_programs(plan: &Plan) -> Result<(), PreflightError> {
    let mut seen: HashSet<Program> = HashSet::new();
    for g in &plan.groups {
        let role = match g.exec {
            Exec::Process => "benchmark",
            Exec::Server => "server",
        };
        let clients = g
            .cells
            .iter()
            .filter_map(|c| c.client.as_ref())
            .map(|c| ("client", &c.argv));
        for (role, argv) in std::iter::once((role, &g.launch.argv)).chain(clients) {
            let Some(p) = program_of(argv) else { continue };
            if seen.contains(&p) {
                continue;
            }
            check_program(&g.engine, role, &p)?;
            seen.insert(p);
        }
    }
    Ok(())
}

fn check_program(
    engine: &str,
    role: &'static str,
    (prog, module): &Program,
) -> Result<(), PreflightError> {
    let fail = |problem: String, python: Option<String>| PreflightError::Program {
        engine: engine.to_string(),
        role,
        program: match module {
            Some(m) => format!("{prog} -m {m}"),
            None => prog.clone(),
        },
        problem,
        python,
    };
    let Some(path) = find_program(prog) else {
        let problem = if prog.contains('/') {
            format!("{prog} is not an executable file")
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
    let status = std::process::Command::new(&path)
        .args([
            "-c",
            "import importlib.util, sys; sys.exit(importlib.util.find_spec(sys.argv[1]) is None)",
            module,
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    match status {
        Ok(s) if s.success() => Ok(()),
        Ok(_) => Err(fail(
            format!("the Python module `{module}` is not importable by {prog}"),
            Some(prog.clone()),
        )),
        Err(e) => Err(fail(format!("{prog} does not start: {e}"), None)),
    }
}

/// `name` resolved like execvp: a path with `/` as it is, else the first
/// executable file of that name in PATH.
pub fn find_program(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &std::path::Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if name.contains('/') {
        let p = PathBuf::from(name);
        return executable(&p).then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| executable(p))
}

/// Each distinct host:port of the plan's server groups.
fn check_ports(plan: &Plan) -> Result<(), PreflightError> {
    let mut seen = HashSet::new();
    for g in plan.groups.iter().filter(|g| g.exec == Exec::Server) {
        let host = g
            .run
            .get("host")
            .and_then(Value::as_str)
            .unwrap_or("127.0.0.1")
            .to_string();
        let port = g.run.get("port").and_then(Value::as_u64).unwrap_or(30000) as u16;
        if !seen.insert((host.clone(), port)) {
            continue;
        }
        match crate::exec::check_port_free(&host, port) {
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
                    source,
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
        assert_eq!(find_program(f.to_str().unwrap()), None, "not executable");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(find_program(f.to_str().unwrap()), Some(f.clone()));
        assert_eq!(find_program(tmp.path().to_str().unwrap()), None, "a folder");
    }
}
