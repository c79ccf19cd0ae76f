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

use cli::{BenchCommand, Cli, Command, LayerArgs, SimCommand};

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
        Command::Run(a) => run_sweep(&root, a),
        Command::Plan(a) => {
            let input = plan_input(&root, a.input);
            let plan = matrix::app::plan(&input)?;
            write_stdout(|out| {
                if a.json {
                    serde_json::to_writer_pretty(&mut *out, &plan)
                        .map_err(std::io::Error::other)?;
                    writeln!(out)
                } else {
                    out.write_all(matrix::plan::output::render(&plan).as_bytes())
                }
            })?;
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
        Command::Bench(b) => bench(b),
        Command::Parse(a) => parse(a),
    }
}

/// `matrix run`: plan (or read the plan of the run to resume), then run.
fn run_sweep(root: &camino::Utf8Path, a: cli::RunArgs) -> Result<i32, Error> {
    let target = match &a.resume {
        Some(id) => matrix::run::Target::Resume {
            id: id.clone(),
            results_dir: root.join("results"),
        },
        None => {
            let mut plan = matrix::app::plan(&plan_input(root, a.input.clone()))?;
            // Run ids have one-second resolution: a second run started in the
            // same second as the last waits for the next id rather than fail.
            for _ in 0..3 {
                if a.dry_run || !camino::Utf8Path::new(&plan.run_dir).exists() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(1000));
                plan = matrix::app::plan(&plan_input(root, a.input.clone()))?;
            }
            if a.dry_run {
                write_stdout(|out| out.write_all(matrix::plan::output::render(&plan).as_bytes()))?;
                return Ok(0);
            }
            matrix::run::Target::Fresh(Box::new(plan))
        }
    };
    let opts = matrix::run::RunOptions {
        profile: a.profile.as_deref().and_then(matrix::run::profile::phases),
        no_prune: a.no_prune,
        quiet: a.quiet,
        gpu: a.input.gpu,
        grace: std::time::Duration::from_secs_f64(a.grace.max(0.0)),
        startup_retries: a.startup_retries,
        argv: std::env::args().collect(),
        env_vars: std::env::vars().collect(),
    };
    let summary = matrix::run::run(root, target, opts)?;
    eprint!("{}", summary.render());
    Ok(summary.exit_code())
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
            only: a.layers.only,
            env_vars: std::env::vars().collect(),
            max_cells: a.max_cells.map(|n| n as u64),
            gpu: a.gpu,
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

/// `matrix parse`: clap args → plain request → CSV on stdout or `-o`.
fn parse(a: cli::ParseArgs) -> Result<i32, Error> {
    use matrix::parse::{Combos, Format, ParseRequest};
    let combos = (!a.batch_size.is_empty()).then_some(Combos {
        batch_size: a.batch_size,
        input_len: a.input_len,
        output_len: a.output_len,
    });
    let req = ParseRequest {
        format: match a.format {
            cli::ParseFormat::SglangOneBatch => Format::SglangOneBatch,
            cli::ParseFormat::SglangServing => Format::SglangServing,
        },
        files: a.files,
        output: a.output,
        run_id: a.run_id,
        combos,
    };
    let mut out = std::io::stdout().lock();
    matrix::parse::run(&req, &mut out)?;
    Ok(0)
}

/// `matrix bench serving|batch`: clap args → plain request → client.
fn bench(cmd: BenchCommand) -> Result<i32, Error> {
    use matrix::client::{self, args};
    match cmd {
        BenchCommand::Serving(a) => Ok(client::serving(&serving_request(*a)?)?),
        BenchCommand::Batch(a) => Ok(client::batch(&args::BatchRequest {
            backend: args::Backend::parse(&a.backend)?,
            model: a.model,
            flush_cache: !a.no_flush_cache,
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

/// Write to a buffered stdout: a 100 000-cell plan is hundreds of MB, and
/// unbuffered line writes would dominate planning time.
fn write_stdout<F>(f: F) -> Result<(), Error>
where
    F: FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
{
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    f(&mut out)
        .and_then(|_| out.flush())
        .map_err(|source| Error::Io {
            context: "cannot write to stdout".into(),
            source,
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
