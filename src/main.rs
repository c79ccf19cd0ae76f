//! The `matrix` binary: parse the command line, call the library, render
//! errors as `error:` / `caused by:` / `hint:` and map them to exit codes.

use std::process::ExitCode;

use clap::Parser;
use matrix::Error;

mod cli;

use cli::{BenchCommand, Cli, Command, SimCommand};

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
    if let Command::Bench(b) = cli.command {
        return bench(b);
    }
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
        Command::Bench(b) => bench(b),
        Command::Plan(_) | Command::ShowConfig(_) => Err(Error::Io {
            context: "not built yet".into(),
            source: std::io::Error::other("not built"),
        }),
    }
}

/// `matrix bench serving|batch`: clap args → plain request → client.
fn bench(cmd: BenchCommand) -> Result<i32, Error> {
    use matrix::client::{self, args};
    match cmd {
        BenchCommand::Serving(a) => Ok(client::serving(&serving_request(*a)?)?),
        BenchCommand::Batch(a) => Ok(client::batch(&args::BatchRequest {
            base_url: args::base_url(a.base_url.as_deref(), &a.host, a.port),
            ready_check_timeout_sec: a.ready_check_timeout_sec,
            run_name: a.run_name,
            batch_size: a.batch_size,
            input_len: a.input_len,
            output_len: a.output_len,
            result_filename: a.result_filename,
            skip_warmup: a.skip_warmup,
            seed: a.seed,
            vocab_size: a.vocab_size,
            temperature: a.temperature,
            disable_ignore_eos: a.disable_ignore_eos,
            request_timeout_sec: a.request_timeout_sec,
        })?),
    }
}

fn serving_request(
    a: cli::BenchServingArgs,
) -> Result<matrix::client::ServingRequest, matrix::client::ClientError> {
    use matrix::client::{ClientError, args};
    let extra = match a.extra_request_body.as_deref() {
        None => serde_json::Map::new(),
        Some(s) => match serde_json::from_str(s) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => {
                return Err(ClientError::bad_arg(
                    "--extra-request-body",
                    "must be a JSON object",
                ));
            }
        },
    };
    Ok(matrix::client::ServingRequest {
        backend: args::Backend::parse(&a.backend)?,
        base_url: args::base_url(a.base_url.as_deref(), &a.host, a.port),
        ready_check_timeout_sec: a.ready_check_timeout_sec,
        model: a.model.or(a.served_model_name),
        dataset: args::DatasetName::parse(&a.dataset_name)?,
        dataset_path: a.dataset_path,
        tokenizer: a.tokenizer,
        num_prompts: a.num_prompts,
        sharegpt_output_len: a.sharegpt_output_len,
        sharegpt_context_len: a.sharegpt_context_len,
        random_input_len: a.random_input_len,
        random_output_len: a.random_output_len,
        random_range_ratio: a.random_range_ratio,
        request_rate: args::parse_rate(&a.request_rate)?,
        max_concurrency: a.max_concurrency,
        warmup_requests: a.warmup_requests,
        seed: a.seed,
        disable_ignore_eos: a.disable_ignore_eos,
        disable_stream: a.disable_stream,
        temperature: a.temperature,
        top_p: a.top_p,
        extra_request_body: extra,
        output_file: a.output_file,
        output_details: a.output_details,
        disable_tqdm: a.disable_tqdm,
        request_timeout_sec: a.request_timeout_sec,
        vocab_size: a.vocab_size,
        tag: a.tag,
    })
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
