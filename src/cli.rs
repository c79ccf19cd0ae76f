//! Command-line interface: clap derive types only.
//!
//! Nothing outside this file sees clap. `main.rs` turns these structs into the
//! library's plain request types (see `matrix::app`).

use camino::Utf8PathBuf;
use clap::{Args, Parser, Subcommand};

/// Declarative, reproducible benchmark sweeps of LLM inference servers.
#[derive(Debug, Parser)]
#[command(name = "matrix", version, about, long_about = None)]
pub struct Cli {
    /// Project root holding conf/, model_conf/ and matrices/ (default: the
    /// current directory, or $MATRIX_ROOT).
    #[arg(long, global = true, env = "MATRIX_ROOT", value_name = "DIR")]
    pub root: Option<Utf8PathBuf>,

    /// The results database [default: <root>/results/matrix.db, or
    /// $MATRIX_DB].
    #[arg(long, global = true, env = "MATRIX_DB", value_name = "PATH")]
    pub db: Option<Utf8PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a sweep: launch each group once, run every cell, record a CSV row per cell.
    Run(RunArgs),
    /// Expand the matrix and print every group, cell and exact command line.
    Plan(PlanArgs),
    /// Print the merged server settings with the layer file that set each one.
    ShowConfig(ShowConfigArgs),
    /// Parameters, FLOPs, bytes and roofline latencies of a model config.
    ModelInfo(ModelInfoArgs),
    /// The built-in SGLang simulator (no GPU needed).
    #[command(subcommand)]
    Sim(SimCommand),
    /// The built-in load generator (SGLang bench_serving / one_batch_server).
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Print a run's results table, or one cell's row, commands and logs.
    Show(ShowArgs),
    /// Turn SGLang result files or logs made outside matrix into the CSV rows
    /// `matrix run` writes.
    Parse(ParseArgs),
    /// Add runs to the results database: run folders, results folders,
    /// matrix CSVs, SGLang result JSONL, sglang-ci CSVs (docs/DATABASE.md).
    Ingest(IngestArgs),
    /// List the runs in the results database.
    Runs(RunsArgs),
    /// Manage the results database.
    #[command(subcommand)]
    Db(DbCommand),
    /// Compare two runs cell by cell: verdicts that know the noise, the
    /// set-up differences on top. Exit 1 when anything regressed.
    Compare(CompareArgs),
    /// Steps in every cell's history in the results database: open
    /// regressions (exit 1 while one is open).
    Regressions(RegressionsArgs),
    /// Draw charts of runs as SVG / PNG files: latency or serving sweeps,
    /// throughput per GPU against interactivity (pareto), a metric's trend
    /// over the database's runs (docs/PLOTS.md).
    Plot(PlotArgs),
    /// A read-only web dashboard of the results database: runs, run pages,
    /// comparisons, trends (docs/DASHBOARD.md).
    Serve(ServeArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on; anything but loopback prints a warning (the
    /// dashboard has no authentication).
    #[arg(long, default_value = "127.0.0.1", value_name = "ADDR")]
    pub host: String,
    /// Port to listen on (0: a free one; the first line of output says which).
    #[arg(long, default_value_t = 8750)]
    pub port: u16,
    /// The results folder: log links are served from inside it only
    /// [default: <root>/results].
    #[arg(long, value_name = "DIR")]
    pub results: Option<Utf8PathBuf>,
    /// Cells per page of a run's results table: a larger run is shown a
    /// page at a time (`/runs/<id>?page=N`).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=1_000_000), value_name = "N")]
    pub page_cells: u64,
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Files or folders to ingest.
    #[arg(value_name = "PATH", required = true)]
    pub paths: Vec<Utf8PathBuf>,
}

#[derive(Debug, Args)]
pub struct RunsArgs {
    /// One JSON object per run, as an array.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Recreate the database from the CSVs and run folders (a new file,
    /// renamed over the old one; the CSVs are never touched).
    Rebuild {
        /// The results folder [default: <root>/results].
        #[arg(long, value_name = "DIR")]
        results: Option<Utf8PathBuf>,
    },
    /// Print the database's path.
    Path,
}

#[derive(Debug, Args)]
pub struct RegressionsArgs {
    /// Report steps at runs since then: an age (`7d`, `12h`) or a date
    /// (`2026-11-01`, RFC 3339); earlier runs still make the baseline.
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// Smallest step (percent) reported.
    #[arg(long, default_value_t = 3.0, value_name = "PCT")]
    pub min_effect: f64,
    /// Keep only cells with these values of an axis (repeatable).
    #[arg(long = "only", value_name = "AXIS=VALUES")]
    pub only: Vec<String>,
    /// Only these metrics (comma list).
    #[arg(long, value_delimiter = ',', value_name = "M")]
    pub metric: Vec<String>,
    /// Closed regressions and improvements too.
    #[arg(long)]
    pub all: bool,
    /// Print as JSON (`{"format":1,"regressions":[...]}`).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PlotArgs {
    /// Runs: run ids (or unique starts), `latest`, `latest~N`, or paths (a
    /// run folder, a results folder, a CSV). Trend: the runs whose cells
    /// are followed through the database.
    #[arg(value_name = "RUN", required = true)]
    pub runs: Vec<String>,
    /// What to draw.
    #[arg(long, value_parser = ["latency", "serving", "pareto", "trend"])]
    pub kind: String,
    /// Keep only cells with these values of an axis (repeatable), e.g.
    /// `--only input_len=1024`.
    #[arg(long = "only", value_name = "AXIS=VALUES")]
    pub only: Vec<String>,
    /// Only these metric columns (repeatable or a comma list), e.g.
    /// `--metric e2e_latency_s`.
    #[arg(long, value_delimiter = ',', value_name = "NAME")]
    pub metric: Vec<String>,
    /// Folder the files are written to (created).
    #[arg(short = 'o', long = "output", value_name = "DIR")]
    pub output: Utf8PathBuf,
    /// File format.
    #[arg(long, default_value = "svg", value_parser = ["svg", "png", "both"])]
    pub format: String,
    /// Width of each chart (pixels).
    #[arg(long, default_value_t = 960, value_parser = clap::value_parser!(u32).range(320..=8000))]
    pub width: u32,
    /// Height of each chart (pixels).
    #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u32).range(240..=8000))]
    pub height: u32,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The base run: a run id (or unique start), `latest`, `latest~N`, or a
    /// path (a folder of CSVs, a run folder, a CSV).
    #[arg(value_name = "BASE")]
    pub base: String,
    /// The new run, in the same forms as BASE.
    #[arg(value_name = "NEW")]
    pub new: String,
    /// Smallest change (percent) reported as a regression or improvement.
    #[arg(long, default_value_t = 3.0, value_name = "PCT")]
    pub min_effect: f64,
    /// False discovery rate of the verdicts (Benjamini-Hochberg).
    #[arg(long, default_value_t = 0.05)]
    pub alpha: f64,
    /// Only these metrics (comma list).
    #[arg(long, value_delimiter = ',', value_name = "M")]
    pub metric: Vec<String>,
    /// Keep only cells with these values of an axis (repeatable), e.g.
    /// `--only bsz=1,64`.
    #[arg(long = "only", value_name = "AXIS=VALUES")]
    pub only: Vec<String>,
    /// Output format.
    #[arg(long, default_value = "term", value_parser = ["term", "md", "html", "json"])]
    pub format: String,
    /// Same as `--format json`.
    #[arg(long)]
    pub json: bool,
    /// Write the report to this file instead of stdout.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<Utf8PathBuf>,
    /// Seed of any resampling (results are reproducible).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Colour the terminal table: auto (on a TTY), always, never.
    #[arg(long, default_value = "auto", value_parser = ["auto", "always", "never"])]
    pub color: String,
}

/// Layer choices shared by `plan`, `run` and `show-config`. Each accepts a
/// comma list; a list sweeps that axis.
#[derive(Debug, Args, Clone, Default)]
pub struct LayerArgs {
    /// Model directory under model_conf/ (comma list sweeps).
    #[arg(long, value_delimiter = ',')]
    pub model: Vec<String>,
    /// Model config variant: model_conf/<model>/config_<mconf>.json [default: full].
    #[arg(long, value_delimiter = ',')]
    pub mconf: Vec<String>,
    /// Base layer: conf/<base>.yaml [default: base].
    #[arg(long, value_delimiter = ',')]
    pub base: Vec<String>,
    /// Deployment layer: conf/deploy/<name>.yaml.
    #[arg(long, value_delimiter = ',')]
    pub deploy: Vec<String>,
    /// Kernel backend layer: conf/backend/<name>.yaml.
    #[arg(long, value_delimiter = ',')]
    pub backend: Vec<String>,
    /// Optional extras layer: conf/optional/<name>.yaml [default: default].
    #[arg(long, value_delimiter = ',')]
    pub optional: Vec<String>,
    /// Engine profile: conf/engine/<name>.yaml [default: sglang].
    #[arg(long, value_delimiter = ',')]
    pub engine: Vec<String>,
    /// What is measured: latency (one static batch per bsz x seq) or serving.
    #[arg(long, value_delimiter = ',')]
    pub mode: Vec<String>,
    /// Matrix file with axes, overrides, derived values and constraints.
    #[arg(long, value_name = "FILE")]
    pub matrix: Option<Utf8PathBuf>,
    /// Override a setting: `key=value` (server key), or `run.key=value`,
    /// `workload.key=value`, `env.NAME=value`. Repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Keep only these values of a swept axis (repeatable; a zip by any of
    /// its members), e.g. `--only request_rate=inf,4`: a slice of a matrix
    /// without editing it.
    #[arg(long = "only", value_name = "AXIS=VALUES")]
    pub only: Vec<String>,
}

/// Everything `plan` (and later `run`) needs to build a plan.
#[derive(Debug, Args, Clone, Default)]
pub struct PlanInputArgs {
    #[command(flatten)]
    pub layers: LayerArgs,
    /// Batch-size x sequence-length sweep, one `bszs;seqs` product per line
    /// [default: matrices/bsz_seq.csv in latency mode].
    #[arg(long, value_name = "FILE")]
    pub bsz_seq: Option<Utf8PathBuf>,
    /// Master node address for multi-node deployments.
    #[arg(long)]
    pub ip: Option<String>,
    /// This node's rank in a multi-node deployment (0 = master).
    #[arg(long)]
    pub rank: Option<u32>,
    /// Refuse to expand more cells than this.
    #[arg(long, value_name = "N")]
    pub max_cells: Option<usize>,
    /// Name the run (default: the model and mconf).
    #[arg(long, value_name = "NAME")]
    pub run_name: Option<String>,
    /// The accelerator (h100, h200, b200, a100, mi300x, mi325x, mi355x): the
    /// simulated GPU of `--engine sim` (its `sim_gpu`) and the peaks of the
    /// MFU/MBU columns [default: the simulator's `sim_gpu` (h100), or the
    /// first GPU nvidia-smi reports].
    #[arg(long, value_name = "NAME")]
    pub gpu: Option<String>,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub input: PlanInputArgs,
    /// Print the plan as JSON.
    #[arg(long)]
    pub json: bool,
    /// Show the Nsight Systems command lines `matrix run --profile` would
    /// run: prefill, decode or both.
    #[arg(long, value_parser = ["prefill", "decode", "both"])]
    pub profile: Option<String>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub input: PlanInputArgs,
    /// Resume a stopped or killed run: its id, or `latest`. Re-plans from the
    /// run's manifest; finished cells are skipped.
    #[arg(long, value_name = "RUN_ID")]
    pub resume: Option<String>,
    /// Print the plan and run nothing (same as `matrix plan`).
    #[arg(long, conflicts_with = "resume")]
    pub dry_run: bool,
    /// Capture a phase with Nsight Systems: prefill, decode or both.
    #[arg(long, value_parser = ["prefill", "decode", "both"])]
    pub profile: Option<String>,
    /// Keep running larger batch sizes after an out-of-memory failure.
    #[arg(long)]
    pub no_prune: bool,
    /// Only warnings and the final summary.
    #[arg(long, short)]
    pub quiet: bool,
    /// Seconds between SIGTERM and SIGKILL when stopping a process.
    #[arg(long, default_value_t = 10.0, value_name = "SECONDS")]
    pub grace: f64,
    /// Extra launches after a server fails to start.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub startup_retries: u32,
    /// Print the run's events on stdout, one JSON object per line (a stable
    /// format: docs/EVENTS.md); the display stays on stderr.
    #[arg(long)]
    pub json: bool,
    /// Colour on stderr: auto (on a terminal, unless NO_COLOR is set),
    /// always or never.
    #[arg(long, value_name = "WHEN", default_value = "auto", value_parser = ["auto", "always", "never"])]
    pub color: String,
    /// Do not write the run into the results database.
    #[arg(long)]
    pub no_db: bool,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The run: its id, `latest`, or the path of its run folder.
    #[arg(value_name = "RUN")]
    pub run: String,
    /// A cell id (or a unique start of one): print its CSV row, the
    /// commands that produced it and its log paths.
    #[arg(value_name = "CELL")]
    pub cell: Option<String>,
    /// Keep only rows with these values of an axis column (repeatable),
    /// e.g. `--only bsz=1,64`.
    #[arg(long = "only", value_name = "AXIS=VALUES")]
    pub only: Vec<String>,
    /// The results folder [default: <root>/results].
    #[arg(long, value_name = "DIR")]
    pub results: Option<Utf8PathBuf>,
}

#[derive(Debug, Args)]
pub struct ShowConfigArgs {
    #[command(flatten)]
    pub layers: LayerArgs,
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ModelInfoArgs {
    /// Model directory under model_conf/.
    #[arg(long, required_unless_present = "config")]
    pub model: Option<String>,
    /// Model config variant [default: full].
    #[arg(long, default_value = "full")]
    pub mconf: String,
    /// Any HF config.json instead of --model/--mconf.
    #[arg(long, value_name = "PATH", conflicts_with = "model")]
    pub config: Option<Utf8PathBuf>,
    /// Accelerator for roofline estimates (h100, h200, b200, mi300x, ...).
    #[arg(long, default_value = "h100")]
    pub gpu: String,
    /// Tensor-parallel degree (GPUs the model is spread over).
    #[arg(long, default_value_t = 1)]
    pub tp: u32,
    /// Expert-parallel degree.
    #[arg(long, default_value_t = 1)]
    pub ep: u32,
    /// Batch size for the per-phase numbers.
    #[arg(long, default_value_t = 1)]
    pub bsz: u64,
    /// Sequence length (prompt tokens; decode context).
    #[arg(long, default_value_t = 1024)]
    pub seq: u64,
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// Serve SGLang's HTTP API with simulated timing. Takes SGLang's
    /// `launch_server` flags.
    #[command(disable_help_flag = true)]
    LaunchServer {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Print what `sglang.benchmark.one_batch` prints, with simulated timing.
    #[command(disable_help_flag = true)]
    OneBatch {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

/// `matrix bench ...`: the built-in load generator.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Online serving benchmark (SGLang `bench_serving` flags and output).
    Serving(Box<BenchServingArgs>),
    /// One static batch per bsz x input x output (SGLang
    /// `bench_one_batch_server` semantics) against a running server.
    Batch(Box<BenchBatchArgs>),
}

/// Flags of `matrix bench serving`; names mirror SGLang's `bench_serving`.
#[derive(Debug, Args)]
pub struct BenchServingArgs {
    /// API: sglang (/generate), openai (/v1/completions), openai-chat;
    /// SGLang's names sglang-native, sglang-oai, sglang-oai-chat, vllm,
    /// vllm-chat are accepted too.
    #[arg(long, default_value = "sglang")]
    pub backend: String,
    /// Server URL, e.g. http://127.0.0.1:30000 (overrides --host/--port).
    #[arg(long)]
    pub base_url: Option<String>,
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    #[arg(long, default_value_t = 30000)]
    pub port: u16,
    /// Seconds to wait for /v1/models or /health to answer 200.
    #[arg(long, default_value_t = 60.0)]
    pub ready_check_timeout_sec: f64,
    /// random | random-ids | sharegpt.
    #[arg(long, default_value = "random-ids")]
    pub dataset_name: String,
    /// Local ShareGPT JSON (nothing is downloaded).
    #[arg(long)]
    pub dataset_path: Option<Utf8PathBuf>,
    /// Served model name [default: the first id of /v1/models].
    #[arg(long)]
    pub model: Option<String>,
    /// Alias of --model (SGLang spelling).
    #[arg(long, conflicts_with = "model")]
    pub served_model_name: Option<String>,
    /// Directory holding tokenizer.json (needed for text prompts).
    #[arg(long)]
    pub tokenizer: Option<Utf8PathBuf>,
    #[arg(long, default_value_t = 1000)]
    pub num_prompts: usize,
    #[arg(long)]
    pub sharegpt_output_len: Option<u32>,
    #[arg(long)]
    pub sharegpt_context_len: Option<u32>,
    #[arg(long, default_value_t = 1024)]
    pub random_input_len: u32,
    #[arg(long, default_value_t = 1024)]
    pub random_output_len: u32,
    /// Lengths are uniform in [max(int(L*ratio), 1), L].
    #[arg(long, default_value_t = 0.0)]
    pub random_range_ratio: f64,
    /// Requests per second (Poisson arrivals) or inf (all at once).
    #[arg(long, default_value = "inf")]
    pub request_rate: String,
    #[arg(long)]
    pub max_concurrency: Option<usize>,
    /// Append one JSON line of results to this file.
    #[arg(long)]
    pub output_file: Option<Utf8PathBuf>,
    /// Add per-request arrays to the JSON line.
    #[arg(long)]
    pub output_details: bool,
    /// No progress bar.
    #[arg(long)]
    pub disable_tqdm: bool,
    /// Ask for whole responses instead of streams (TTFT = latency).
    #[arg(long)]
    pub disable_stream: bool,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Let requests stop at EOS (ignore_eos is on by default).
    #[arg(long)]
    pub disable_ignore_eos: bool,
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f64,
    #[arg(long, default_value_t = 1.0)]
    pub top_p: f64,
    /// JSON object merged into every request body.
    #[arg(long, value_name = "JSON")]
    pub extra_request_body: Option<String>,
    #[arg(long, default_value_t = 1)]
    pub warmup_requests: usize,
    /// Per-request timeout in seconds.
    #[arg(long, default_value_t = 21600.0)]
    pub request_timeout_sec: f64,
    /// Vocabulary size for random ids when no --tokenizer is given.
    #[arg(long, default_value_t = 32000)]
    pub vocab_size: u32,
    #[arg(long)]
    pub tag: Option<String>,
}

/// Flags of `matrix bench batch`; names mirror SGLang's one_batch_server.
#[derive(Debug, Args)]
pub struct BenchBatchArgs {
    /// API: `sglang` (native /generate with input_ids) or `openai`
    /// (/v1/completions with a token-id prompt; aliases sglang-oai, vllm).
    #[arg(long, default_value = "sglang")]
    pub backend: String,
    /// Model name sent with OpenAI-compatible requests (vLLM's
    /// --served-model-name).
    #[arg(long, default_value = "default")]
    pub model: String,
    /// Do not POST /flush_cache before each combination (servers without
    /// that route, e.g. vLLM with prefix caching off).
    #[arg(long)]
    pub no_flush_cache: bool,
    #[arg(long)]
    pub base_url: Option<String>,
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    #[arg(long, default_value_t = 30000)]
    pub port: u16,
    #[arg(long, default_value_t = 60.0)]
    pub ready_check_timeout_sec: f64,
    #[arg(long, default_value = "default")]
    pub run_name: String,
    #[arg(long, num_args = 1.., default_values_t = [1])]
    pub batch_size: Vec<u32>,
    #[arg(long, num_args = 1.., default_values_t = [1024])]
    pub input_len: Vec<u32>,
    #[arg(long, num_args = 1.., default_values_t = [16])]
    pub output_len: Vec<u32>,
    /// Append one JSON line per combination to this file.
    #[arg(long)]
    pub result_filename: Option<Utf8PathBuf>,
    #[arg(long)]
    pub skip_warmup: bool,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    #[arg(long, default_value_t = 32000)]
    pub vocab_size: u32,
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f64,
    #[arg(long)]
    pub disable_ignore_eos: bool,
    #[arg(long, default_value_t = 600.0)]
    pub request_timeout_sec: f64,
}

/// `matrix parse`.
#[derive(Debug, Args)]
pub struct ParseArgs {
    /// What the files are.
    #[arg(long, value_enum)]
    pub format: ParseFormat,
    /// Result files (`.jsonl`) or, for sglang-one-batch, stdout logs.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<Utf8PathBuf>,
    /// Write the CSV to this file (replaced) instead of stdout.
    #[arg(short, long, value_name = "OUT")]
    pub output: Option<Utf8PathBuf>,
    /// Value of the run_id column.
    #[arg(long, value_name = "ID")]
    pub run_id: Option<String>,
    /// one_batch logs: the --batch-size list it ran with (comma list).
    /// With --input-len and --output-len, names each printed result's
    /// combination; without, they are inferred from the printed numbers.
    #[arg(long, value_delimiter = ',', value_name = "N,..", requires_all = ["input_len", "output_len"])]
    pub batch_size: Vec<u64>,
    /// one_batch logs: the --input-len list (comma list).
    #[arg(long, value_delimiter = ',', value_name = "N,..", requires_all = ["batch_size", "output_len"])]
    pub input_len: Vec<u64>,
    /// one_batch logs: the --output-len list (comma list).
    #[arg(long, value_delimiter = ',', value_name = "N,..", requires_all = ["batch_size", "input_len"])]
    pub output_len: Vec<u64>,
}

/// Formats `matrix parse` reads.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ParseFormat {
    /// sglang.benchmark.one_batch --result-filename lines or stdout.
    SglangOneBatch,
    /// sglang.benchmark.serving / matrix bench serving --output-file lines.
    SglangServing,
}
