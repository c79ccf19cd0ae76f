//! The `matrix` binary: parse the command line, call the library, render
//! errors as `error:` / `caused by:` / `hint:` and map them to exit codes.

use std::process::ExitCode;

use clap::Parser;
use matrix::Error;

mod cli;

use cli::{Cli, Command, SimCommand};

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
        Command::Plan(_) | Command::ShowConfig(_) => Err(Error::Io {
            context: "not built yet".into(),
            source: std::io::Error::other("not built"),
        }),
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
