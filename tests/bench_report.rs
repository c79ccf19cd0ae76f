//! The summary block is byte-for-byte SGLang's: fed the numbers of the
//! fixture run, `report::summary` reproduces the fixture's stdout block.

mod support;

use matrix::client::args::{Backend, DatasetName, ServingRequest};
use matrix::client::metrics::Metrics;
use matrix::client::report;
use matrix::client::stats::Summary;
use serde_json::Value;

fn summary(v: &Value, name: &str, max: f64) -> Summary {
    let g = |stat: &str| v[format!("{stat}_{name}")].as_f64().expect("key");
    Summary {
        mean: g("mean"),
        median: g("median"),
        std: g("std"),
        p90: g("p90"),
        p95: g("p95"),
        p99: g("p99"),
        max,
    }
}

#[test]
fn summary_block_matches_sglang_fixture_exactly() {
    let line =
        std::fs::read_to_string("tests/fixtures/bench/serving.sglang.jsonl").expect("fixture");
    let v = support::bench::parse_py_json(line.trim());
    let stdout =
        std::fs::read_to_string("tests/fixtures/bench/serving.sglang.stdout.txt").expect("fixture");
    let start = stdout.find("\n============ Serving").expect("block");
    let want = &stdout[start..];
    let f = |k: &str| v[k].as_f64().expect("key");
    let m = Metrics {
        completed: 20,
        total_input: 640,
        total_output: 320,
        duration_s: f("duration"),
        request_throughput: f("request_throughput"),
        input_throughput: f("input_throughput"),
        output_throughput: f("output_throughput"),
        total_throughput: f("total_throughput"),
        ttft: summary(&v, "ttft_ms", 0.0),
        tpot: summary(&v, "tpot_ms", 0.0),
        itl: summary(&v, "itl_ms", 274.37),
        e2e: summary(&v, "e2e_latency_ms", 0.0),
        concurrency: f("concurrency"),
        max_output_tokens_per_s: f("max_output_tokens_per_s"),
        max_concurrent_requests: 20,
        ..Default::default()
    };
    let req = ServingRequest {
        backend: Backend::parse("sglang").expect("backend"),
        base_url: "http://127.0.0.1:18080".into(),
        ready_check_timeout_sec: 60.0,
        model: None,
        dataset: DatasetName::RandomIds,
        dataset_path: None,
        tokenizer: None,
        num_prompts: 20,
        sharegpt_output_len: None,
        sharegpt_context_len: None,
        random_input_len: 32,
        random_output_len: 16,
        random_range_ratio: 1.0,
        request_rate: f64::INFINITY,
        max_concurrency: None,
        warmup_requests: 1,
        seed: 42,
        disable_ignore_eos: false,
        disable_stream: false,
        temperature: 0.0,
        top_p: 1.0,
        extra_request_body: Default::default(),
        output_file: None,
        output_details: false,
        disable_tqdm: true,
        request_timeout_sec: 60.0,
        vocab_size: 32000,
        tag: None,
    };
    assert_eq!(report::summary(&req, &m), want);
}
