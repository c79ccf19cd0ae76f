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
    if matches!(
        cli.command,
        Command::Run(_) | Command::Plan(_) | Command::ShowConfig(_)
    ) {
        matrix::app::require_project(&root)?;
    }
    match cli.command {
        Command::Run(a) => run_sweep(&root, a),
        Command::Plan(a) => {
            let input = plan_input(&root, a.input);
            let profile = a.profile.as_deref().and_then(matrix::plan::profile::phases);
            let plan = matrix::app::plan(&input, profile.as_deref())?;
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
            let text = matrix::app::show_config(&req)?;
            write_stdout(|out| out.write_all(text.as_bytes()))?;
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
            let text = matrix::model::model_info(&req)?;
            write_stdout(|out| out.write_all(text.as_bytes()))?;
            Ok(0)
        }
        Command::Sim(SimCommand::LaunchServer { args }) => Ok(matrix::sim::launch_server(&args)?),
        Command::Sim(SimCommand::OneBatch { args }) => Ok(matrix::sim::one_batch(&args)?),
        Command::Bench(b) => bench(b),
        Command::Parse(a) => parse(a),
        Command::Show(a) => {
            let text = matrix::report::show::show(&matrix::report::show::ShowRequest {
                results_dir: a.results.unwrap_or_else(|| root.join("results")),
                run: a.run,
                cell: a.cell,
                only: a.only,
            })?;
            write_stdout(|out| out.write_all(text.as_bytes()))?;
            Ok(0)
        }
    }
}

/// `matrix run`: plan (or read the plan of the run to resume), then run.
/// The run folder is claimed when the run opens its records: a run started
/// in the same second gets the next id, nobody waits.
fn run_sweep(root: &camino::Utf8Path, a: cli::RunArgs) -> Result<i32, Error> {
    let profile = a.profile.as_deref().and_then(matrix::plan::profile::phases);
    let target = match &a.resume {
        Some(id) => {
            let ignored = ignored_on_resume(&a);
            if !ignored.is_empty() {
                write_stderr(&format!(
                    "warning: {}: a resumed run uses the plan and options in its manifest; \
                     ignoring them\n",
                    ignored.join(", ")
                ));
            }
            matrix::run::Target::Resume {
                id: id.clone(),
                results_dir: root.join("results"),
            }
        }
        None => {
            let plan = matrix::app::plan(&plan_input(root, a.input.clone()), profile.as_deref())?;
            if a.dry_run {
                write_stdout(|out| out.write_all(matrix::plan::output::render(&plan).as_bytes()))?;
                return Ok(0);
            }
            matrix::run::Target::Fresh(Box::new(plan))
        }
    };
    let opts = matrix::run::RunOptions {
        no_prune: a.no_prune,
        quiet: a.quiet,
        gpu: a.input.gpu,
        grace: std::time::Duration::from_secs_f64(a.grace.max(0.0)),
        startup_retries: a.startup_retries,
        argv: std::env::args().collect(),
        env_vars: std::env::vars().collect(),
    };
    let quiet = opts.quiet;
    let lines = Box::new(matrix::run::lines::Lines::stderr(quiet));
    let summary = matrix::run::run(root, target, opts, vec![lines])?;
    write_stderr(&summary.render());
    Ok(summary.exit_code())
}

/// The flags of `matrix run --resume` that a resume does not use: what to
/// plan (the plan is the manifest's), and `--gpu` / `--profile` (they
/// change what a run measures, so a resume keeps the run's own). `--quiet`,
/// `--grace`, `--startup-retries` and `--no-prune` do apply. See
/// docs/RESULTS.md.
fn ignored_on_resume(a: &cli::RunArgs) -> Vec<&'static str> {
    let i = &a.input;
    let l = &i.layers;
    let given = [
        ("--model", !l.model.is_empty()),
        ("--mconf", !l.mconf.is_empty()),
        ("--base", !l.base.is_empty()),
        ("--deploy", !l.deploy.is_empty()),
        ("--backend", !l.backend.is_empty()),
        ("--optional", !l.optional.is_empty()),
        ("--engine", !l.engine.is_empty()),
        ("--mode", !l.mode.is_empty()),
        ("--matrix", l.matrix.is_some()),
        ("--set", !l.set.is_empty()),
        ("--only", !l.only.is_empty()),
        ("--bsz-seq", i.bsz_seq.is_some()),
        ("--ip", i.ip.is_some()),
        ("--rank", i.rank.is_some()),
        ("--max-cells", i.max_cells.is_some()),
        ("--run-name", i.run_name.is_some()),
        ("--gpu", i.gpu.is_some()),
        ("--profile", a.profile.is_some()),
    ];
    given.iter().filter(|(_, g)| *g).map(|(f, _)| *f).collect()
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
/// unbuffered line writes would dominate planning time. A reader that went
/// away (`matrix plan | head -1`: EPIPE) is not an error: the output it
/// did not want is dropped and matrix exits as it would have.
fn write_stdout<F>(f: F) -> Result<(), Error>
where
    F: FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
{
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match f(&mut out).and_then(|_| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            // Drop what is still buffered rather than retry it on drop.
            let _ = out.into_parts();
            Ok(())
        }
        Err(source) => Err(Error::Io {
            context: "cannot write to stdout".into(),
            source,
        }),
    }
}

/// Write to stderr, ignoring every error: a closed or full stderr must not
/// stop a run or change its exit code (println!/eprintln! would panic).
fn write_stderr(text: &str) {
    use std::io::Write;
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// Print the error, its chain of causes, and a hint when the stage has one.
fn report(err: &Error) {
    let mut text = format!("error: {err}\n");
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(&format!("  caused by: {cause}\n"));
        source = cause.source();
    }
    if let Some(hint) = err.hint() {
        text.push_str(&format!("  hint: {hint}\n"));
    }
    write_stderr(&text);
}
