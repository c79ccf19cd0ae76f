//! The `matrix` binary: parse the command line, turn clap's types into the
//! library's plain request types, call the subcommand's glue in
//! [`matrix::app`], render errors as `error:` / `caused by:` / `hint:` and
//! map them to exit codes.

#![allow(clippy::result_large_err)] // see src/lib.rs

use std::process::ExitCode;

use clap::Parser;
use matrix::Error;
use matrix::app;

mod cli;

/// Planning allocates many small maps and strings; mimalloc does that
/// several times faster than glibc's allocator (see docs/PERFORMANCE.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    let root = app::project_root(cli.root)?;
    let db = cli.db;
    if matches!(
        cli.command,
        Command::Run(_) | Command::Plan(_) | Command::ShowConfig(_)
    ) {
        app::require_project(&root)?;
    }
    match cli.command {
        Command::Run(a) => app::run::run(
            &root,
            app::run::RunRequest {
                input: plan_input(a.input),
                resume: a.resume,
                dry_run: a.dry_run,
                profile: a.profile,
                no_prune: a.no_prune,
                quiet: a.quiet,
                grace: a.grace,
                startup_retries: a.startup_retries,
                json: a.json,
                color: match a.color.as_str() {
                    "always" => matrix::report::display::ColorChoice::Always,
                    "never" => matrix::report::display::ColorChoice::Never,
                    _ => matrix::report::display::ColorChoice::Auto,
                },
                db: (!a.no_db).then(|| app::db_path(&root.join("results"), db.as_deref())),
            },
        ),
        Command::Plan(a) => app::plan::run(
            &root,
            app::plan::PlanRequest {
                input: plan_input(a.input),
                profile: a.profile,
                json: a.json,
            },
        ),
        Command::ShowConfig(a) => app::show_config::run(&app::show_config::ShowConfigRequest::new(
            root,
            layers(a.layers),
            a.json,
        )),
        Command::ModelInfo(a) => app::model_info::run(
            &root,
            app::model_info::ModelInfoRequest {
                model: a.model,
                mconf: a.mconf,
                config: a.config,
                gpu: a.gpu,
                tp: a.tp,
                ep: a.ep,
                bsz: a.bsz,
                seq: a.seq,
                json: a.json,
            },
        ),
        Command::Sim(SimCommand::LaunchServer { args }) => {
            app::sim::run(&app::sim::SimRequest::LaunchServer(args))
        }
        Command::Sim(SimCommand::OneBatch { args }) => {
            app::sim::run(&app::sim::SimRequest::OneBatch(args))
        }
        Command::Bench(BenchCommand::Serving(a)) => app::bench::run(
            app::bench::BenchRequest::Serving(Box::new(bench_serving(*a))),
        ),
        Command::Bench(BenchCommand::Batch(a)) => {
            app::bench::run(app::bench::BenchRequest::Batch(Box::new(bench_batch(*a))))
        }
        Command::Parse(a) => app::parse::run(&parse_request(a)),
        Command::Ingest(a) => app::ingest::run(
            &app::db_path(&root.join("results"), db.as_deref()),
            &a.paths,
        ),
        Command::Runs(a) => {
            app::runs::run(&app::db_path(&root.join("results"), db.as_deref()), a.json)
        }
        Command::Db(cli::DbCommand::Rebuild { results }) => {
            let results = results.unwrap_or_else(|| root.join("results"));
            app::db::rebuild(
                &app::db_path(&root.join("results"), db.as_deref()),
                &results,
            )
        }
        Command::Db(cli::DbCommand::Path) => {
            app::db::path(&app::db_path(&root.join("results"), db.as_deref()))
        }
        Command::Show(a) => app::show::run(
            &root,
            app::show::ShowRequest {
                run: a.run,
                cell: a.cell,
                only: a.only,
                results: a.results,
            },
        ),
        Command::Compare(a) => app::compare::run(
            &root,
            app::compare::CompareRequest {
                base: a.base,
                new: a.new,
                min_effect_pct: a.min_effect,
                alpha: a.alpha,
                metrics: a.metric,
                only: a.only,
                format: match (a.json, a.format.as_str()) {
                    (true, _) | (_, "json") => app::compare::Format::Json,
                    (_, "md") => app::compare::Format::Md,
                    (_, "html") => app::compare::Format::Html,
                    _ => app::compare::Format::Term,
                },
                output: a.output,
                seed: a.seed,
                color: match a.color.as_str() {
                    "always" => Some(true),
                    "never" => Some(false),
                    _ => None,
                },
                db: db.clone(),
            },
        ),
        Command::Regressions(a) => app::regressions::run(
            &root,
            app::regressions::RegressionsRequest {
                since: a.since,
                min_effect_pct: a.min_effect,
                only: a.only,
                metrics: a.metric,
                all: a.all,
                json: a.json,
                db: db.clone(),
            },
        ),
        Command::Serve(a) => app::serve::run(
            &root,
            app::serve::ServeRequest {
                host: a.host,
                port: a.port,
                results: a.results,
                db: db.clone(),
                page_cells: a.page_cells as usize,
            },
        ),
        Command::Plot(a) => app::plot::run(
            &root,
            app::plot::PlotRequest {
                runs: a.runs,
                kind: a.kind,
                only: a.only,
                metrics: a.metric,
                out: a.output,
                format: a.format,
                width: a.width,
                height: a.height,
                db: db.clone(),
                command: app::plot::command_line(std::env::args().skip(1)),
            },
        ),
    }
}

fn layers(l: cli::LayerArgs) -> app::Layers {
    app::Layers {
        model: l.model,
        mconf: l.mconf,
        base: l.base,
        deploy: l.deploy,
        backend: l.backend,
        optional: l.optional,
        engine: l.engine,
        mode: l.mode,
        matrix: l.matrix,
        set: l.set,
        only: l.only,
    }
}

fn plan_input(a: cli::PlanInputArgs) -> app::PlanInputRequest {
    app::PlanInputRequest {
        layers: layers(a.layers),
        bsz_seq: a.bsz_seq,
        ip: a.ip,
        rank: a.rank,
        max_cells: a.max_cells,
        run_name: a.run_name,
        gpu: a.gpu,
    }
}

fn parse_request(a: cli::ParseArgs) -> app::parse::ParseRequest {
    use app::parse::Format;
    let combos = (!a.batch_size.is_empty()).then_some(matrix::parse::Combos {
        batch_size: a.batch_size,
        input_len: a.input_len,
        output_len: a.output_len,
    });
    app::parse::ParseRequest {
        format: match a.format {
            cli::ParseFormat::SglangOneBatch => Format::SglangOneBatch,
            cli::ParseFormat::SglangServing => Format::SglangServing,
        },
        files: a.files,
        output: a.output,
        run_id: a.run_id,
        combos,
    }
}

fn bench_serving(a: cli::BenchServingArgs) -> app::bench::ServingArgs {
    app::bench::ServingArgs {
        backend: a.backend,
        base_url: a.base_url,
        host: a.host,
        port: a.port,
        ready_check_timeout_sec: a.ready_check_timeout_sec,
        dataset_name: a.dataset_name,
        dataset_path: a.dataset_path,
        model: a.model,
        served_model_name: a.served_model_name,
        tokenizer: a.tokenizer,
        num_prompts: a.num_prompts,
        sharegpt_output_len: a.sharegpt_output_len,
        sharegpt_context_len: a.sharegpt_context_len,
        random_input_len: a.random_input_len,
        random_output_len: a.random_output_len,
        random_range_ratio: a.random_range_ratio,
        request_rate: a.request_rate,
        max_concurrency: a.max_concurrency,
        output_file: a.output_file,
        output_details: a.output_details,
        disable_tqdm: a.disable_tqdm,
        disable_stream: a.disable_stream,
        seed: a.seed,
        disable_ignore_eos: a.disable_ignore_eos,
        temperature: a.temperature,
        top_p: a.top_p,
        extra_request_body: a.extra_request_body,
        warmup_requests: a.warmup_requests,
        request_timeout_sec: a.request_timeout_sec,
        vocab_size: a.vocab_size,
        tag: a.tag,
    }
}

fn bench_batch(a: cli::BenchBatchArgs) -> app::bench::BatchArgs {
    app::bench::BatchArgs {
        backend: a.backend,
        model: a.model,
        no_flush_cache: a.no_flush_cache,
        base_url: a.base_url,
        host: a.host,
        port: a.port,
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
    }
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
    app::write_stderr(&text);
}
