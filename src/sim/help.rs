//! `--help` for the two entry points: what the simulator reads, not the
//! 500+ SGLang flags it accepts and ignores.

pub const LAUNCH: &str = "\
usage: matrix sim launch-server --model-path DIR [SGLang launch_server flags]

Simulated SGLang server (no GPU). Serves SGLang's HTTP API with timing from
a roofline cost model of DIR/config.json.

Read flags:  --model-path --host --port --tp-size --ep-size --dp-size
             --attn-dp-size --dist-init-addr --nnodes --node-rank
             --mem-fraction-static --max-running-requests --max-prefill-tokens
             --chunked-prefill-size --served-model-name --context-length
             --log-level
Simulator:   --sim-gpu NAME (h100)  --sim-seed N (0)  --sim-step-overhead-ms MS (0.5)
Environment: MATRIX_SIM_TIME_SCALE, MATRIX_SIM_FAULT, MATRIX_SIM_START_LOG
Every other SGLang flag is accepted and ignored. See docs/SIM.md.
";

pub const ONE_BATCH: &str = "\
usage: matrix sim one-batch --model-path DIR [--batch-size B...] [--input-len L...]
                            [--output-len O...] [--result-filename F] [--run-name N]
                            [--profile --profile-activities A... --profile-stage S]
                            [SGLang server flags]

Prints what `python -m sglang.benchmark.one_batch` prints, with simulated
latencies, and appends one JSON line per combination to --result-filename.
See docs/SIM.md.
";

/// Whether argv asks for help (argparse accepts both spellings).
pub fn wanted(argv: &[String]) -> bool {
    argv.iter().any(|a| a == "--help" || a == "-h")
}
