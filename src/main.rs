//! The `matrix` binary: parse the command line, call the library, render
//! errors as `error:` / `caused by:` / `hint:` and map them to exit codes.

#![allow(clippy::result_large_err)] // see src/lib.rs

use std::process::ExitCode;

use clap::Parser;
use indexmap::IndexMap;
use matrix::Error;
use matrix::matrix::CliChoices;
use matrix::matrix::axis::Choice;

mod cli;

/// Planning allocates many small maps and strings; mimalloc does that
/// several times faster than glibc's allocator (see docs/PERFORMANCE.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use cli::{Cli, Command, LayerArgs, SimCommand};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => ExitCode::from(code as u8),
        Err(err) => {
            report(&err);
            ExitCode::from(err.exit_code() as u8)
        }
    }
}

fn run(cli: Cli) -> Result<i32, Error> {
    let root = matrix::app::project_root(cli.root)?;
    match cli.command {
        Command::Plan(a) => {
            let input = plan_input(&root, a.input);
            let plan = matrix::app::plan(&input)?;
            if a.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&plan).unwrap_or_default()
                );
            } else {
                print!("{}", matrix::plan::output::render(&plan));
            }
            Ok(0)
        }
        Command::ShowConfig(a) => {
            let req = matrix::app::ShowConfigRequest {
                root,
                choices: choices(&a.layers),
                matrix: a.layers.matrix,
                sets: a.layers.set,
                env_vars: std::env::vars().collect(),
                json: a.json,
            };
            print!("{}", matrix::app::show_config(&req)?);
            Ok(0)
        }
        Command::ModelInfo(a) => {
            let config_path = match a.config {
                Some(p) => p,
                None => matrix::config::model_dir::config_path(
                    &root,
                    a.model.as_deref().unwrap_or_default(),
                    &a.mconf,
                )?,
            };
            let req = matrix::model::ModelInfoRequest {
                config_path,
                gpu: a.gpu,
                tp: a.tp,
                ep: a.ep,
                bsz: a.bsz,
                seq: a.seq,
                json: a.json,
            };
            print!("{}", matrix::model::model_info(&req)?);
            Ok(0)
        }
        Command::Sim(SimCommand::LaunchServer { args }) => Ok(matrix::sim::launch_server(&args)?),
        Command::Sim(SimCommand::OneBatch { args }) => Ok(matrix::sim::one_batch(&args)?),
    }
}

fn choices(l: &LayerArgs) -> CliChoices {
    let mut values = IndexMap::new();
    let pairs = [
        (Choice::Mode, &l.mode),
        (Choice::Model, &l.model),
        (Choice::Mconf, &l.mconf),
        (Choice::Base, &l.base),
        (Choice::Deploy, &l.deploy),
        (Choice::Backend, &l.backend),
        (Choice::Optional, &l.optional),
        (Choice::Engine, &l.engine),
    ];
    for (c, v) in pairs {
        values.insert(c, v.clone());
    }
    CliChoices { values }
}

fn plan_input(root: &camino::Utf8Path, a: cli::PlanInputArgs) -> matrix::plan::PlanInput {
    matrix::plan::PlanInput {
        expand: matrix::matrix::ExpandInput {
            root: root.to_owned(),
            choices: choices(&a.layers),
            matrix: a.layers.matrix,
            bsz_seq: a.bsz_seq,
            sets: a.layers.set,
            env_vars: std::env::vars().collect(),
            max_cells: a.max_cells.map(|n| n as u64),
        },
        ip: a.ip,
        rank: a.rank,
        run_name: a.run_name,
        matrix_exe: matrix::app::matrix_exe(),
        timestamp: matrix::app::timestamp(),
        flags: matrix::plan::source::Preference::from_env_value(
            std::env::var("MATRIX_FLAGS").ok().as_deref(),
        ),
    }
}

/// Print the error, its chain of causes, and a hint when the stage has one.
fn report(err: &Error) {
    eprintln!("error: {err}");
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        eprintln!("  caused by: {cause}");
        source = cause.source();
    }
    if let Some(hint) = err.hint() {
        eprintln!("  hint: {hint}");
    }
}
