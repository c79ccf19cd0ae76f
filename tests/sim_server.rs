//! `matrix sim launch-server`: readiness, endpoints, streaming, trace.

mod support;

use serde_json::Value;
use support::sim::*;
use support::{bin, model_dir, timing_lock};

const SLOW: &[(&str, &str)] = &[("MATRIX_SIM_FAULT", "slow_start=0.3")];

#[test]
fn health_is_503_while_loading_then_200() {
    let p = server(&["--tp-size", "8"], SLOW);
    let seen = wait_healthy(p.port, SOON);
    assert!(seen.contains(&503), "never saw 503: {seen:?}");
    assert_eq!(seen.last(), Some(&200), "{seen:?}\n{}", p.stderr());
    let log = p.stderr();
    for needle in [
        "Load weight begin",
        "KV Cache is allocated. #tokens: ",
        "The server is fired up and ready to roll!",
    ] {
        assert!(log.contains(needle), "missing {needle:?} in\n{log}");
    }
}

#[test]
fn streaming_generate_counts_and_orders_tokens() {
    let p = healthy_server(&["--tp-size", "8"], &[]);
    let body = r#"{"input_ids": [1,2,3,4,5], "sampling_params": {"max_new_tokens": 12, "ignore_eos": true}, "stream": true}"#;
    let r = post(p.port, "/generate", body);
    assert_eq!(r.status, 200);
    let events = r.events();
    assert_eq!(events.last().map(|e| e.1.as_str()), Some("[DONE]"));
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(&e.1).unwrap())
        .collect();
    assert_eq!(chunks.len(), 12);
    for (i, c) in chunks.iter().enumerate() {
        assert_eq!(c["meta_info"]["completion_tokens"], i as u64 + 1);
        assert_eq!(c["meta_info"]["prompt_tokens"], 5);
        assert_eq!(
            c["text"].as_str().unwrap().split_whitespace().count(),
            i + 1,
            "cumulative text"
        );
    }
    assert_eq!(chunks[11]["meta_info"]["finish_reason"]["type"], "length");
    assert!(chunks[10]["meta_info"]["finish_reason"].is_null());
    assert!(
        events.windows(2).all(|w| w[0].0 <= w[1].0),
        "arrival instants increase"
    );
    let e2e: Vec<f64> = chunks
        .iter()
        .map(|c| c["meta_info"]["e2e_latency"].as_f64().unwrap())
        .collect();
    assert!(
        e2e.windows(2).all(|w| w[0] < w[1]),
        "simulated times increase: {e2e:?}"
    );
    let trace = get(p.port, "/sim/trace").json();
    let rec = &trace["requests"][0];
    let times: Vec<f64> = rec["token_times"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_f64().unwrap())
        .collect();
    assert_eq!(times.len(), 12);
    assert!(times.windows(2).all(|w| w[0] <= w[1]));
    assert!(rec["first_token"].as_f64().unwrap() >= rec["arrival"].as_f64().unwrap());
}

#[test]
fn streaming_completions_with_usage() {
    let p = healthy_server(&[], &[]);
    let body = r#"{"model": "m", "prompt": "one two three", "max_tokens": 7, "stream": true, "stream_options": {"include_usage": true}, "ignore_eos": true}"#;
    let r = post(p.port, "/v1/completions", body);
    assert_eq!(r.status, 200);
    let events = r.events();
    assert_eq!(events.last().unwrap().1, "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(&e.1).unwrap())
        .collect();
    let tokens: Vec<&Value> = chunks
        .iter()
        .filter(|c| !c["choices"].as_array().unwrap().is_empty())
        .collect();
    assert_eq!(tokens.len(), 7);
    assert_eq!(tokens[6]["choices"][0]["finish_reason"], "length");
    assert!(
        tokens[0]["choices"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with(' ')
    );
    let usage = &chunks.last().unwrap()["usage"];
    assert_eq!(usage["prompt_tokens"], 3);
    assert_eq!(usage["completion_tokens"], 7);
    assert_eq!(usage["total_tokens"], 10);
    assert!(events.windows(2).all(|w| w[0].0 <= w[1].0));
}

#[test]
fn batched_generate_and_non_stream_shapes() {
    let p = healthy_server(&[], &[]);
    let r = post(
        p.port,
        "/generate",
        r#"{"text": ["a b", "c d e"], "sampling_params": {"max_new_tokens": 3}}"#,
    );
    let v = r.json();
    let list = v.as_array().expect("batched input returns a list");
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["meta_info"]["prompt_tokens"], 2);
    assert_eq!(list[1]["meta_info"]["prompt_tokens"], 3);
    assert_eq!(list[1]["meta_info"]["completion_tokens"], 3);
    let one = post(
        p.port,
        "/generate",
        r#"{"input_ids": [[1,2],[3]], "sampling_params": {"max_new_tokens": 2}}"#,
    )
    .json();
    assert_eq!(one.as_array().unwrap().len(), 2);
    let c = post(
        p.port,
        "/v1/completions",
        r#"{"prompt": ["x", "y z"], "max_tokens": 2}"#,
    )
    .json();
    assert_eq!(c["choices"].as_array().unwrap().len(), 2);
    assert_eq!(c["usage"]["completion_tokens"], 4);
    let chat = post(
        p.port,
        "/v1/chat/completions",
        r#"{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 3}"#,
    )
    .json();
    assert_eq!(chat["choices"][0]["message"]["role"], "assistant");
    assert_eq!(chat["usage"]["completion_tokens"], 3);
    let stats = get(p.port, "/sim/stats").json();
    assert_eq!(stats["requests"], 4);
    assert_eq!(stats["finished"], 7);
}

#[test]
fn info_flush_profile_and_errors() {
    let p = healthy_server(
        &[
            "--served-model-name",
            "tiny",
            "--disable-radix-cache",
            "--cuda-graph-bs-decode",
            "1",
            "2",
        ],
        &[],
    );
    let info = get(p.port, "/server_info").json();
    assert_eq!(info["simulated"], true);
    assert!(info["max_total_num_tokens"].as_u64().unwrap() > 0);
    assert_eq!(get(p.port, "/get_server_info").json()["simulated"], true);
    assert_eq!(get(p.port, "/v1/models").json()["data"][0]["id"], "tiny");
    assert_eq!(get(p.port, "/model_info").json()["is_generation"], true);
    assert_eq!(
        get(p.port, "/get_model_info").json()["architectures"][0],
        "Qwen3ForCausalLM"
    );
    assert_eq!(get(p.port, "/flush_cache").status, 200);
    assert_eq!(post(p.port, "/flush_cache", "").status, 200);
    assert_eq!(get(p.port, "/sim/stats").json()["flushes"], 2);
    assert_eq!(
        post(
            p.port,
            "/start_profile",
            r#"{"activities": ["CUDA_PROFILER"]}"#
        )
        .status,
        200
    );
    assert_eq!(post(p.port, "/stop_profile", "").status, 200);
    assert_eq!(post(p.port, "/generate", "not json").status, 400);
    assert_eq!(post(p.port, "/generate", r#"{"text": ""}"#).status, 400);
    let too_long = r#"{"text": "x", "sampling_params": {"max_new_tokens": 100000000}}"#;
    assert_eq!(post(p.port, "/generate", too_long).status, 400);
    assert!(p.stderr().contains("CUDA Profiler started"));
}

/// The curl examples in docs/SIM.md, run verbatim against a live server.
#[test]
fn docs_curl_examples_work() {
    let p = healthy_server(&[], &[]);
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/SIM.md")).unwrap();
    let examples: Vec<&str> = doc.lines().filter(|l| l.starts_with("curl ")).collect();
    assert!(examples.len() >= 8, "docs lost their examples");
    for ex in examples {
        let cmd = ex.replace("127.0.0.1:30000", &format!("127.0.0.1:{}", p.port));
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("{cmd} -f"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{cmd}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        if !ex.contains("/health") {
            assert!(!text.trim().is_empty(), "{cmd} printed nothing");
        }
    }
}

/// |client − trace| of every inter-chunk gap of one 20-token stream,
/// sorted: the client's read instants against the simulator's emission
/// timestamps.
fn itl_diffs() -> Vec<f64> {
    let p = healthy_server(&["--sim-step-overhead-ms", "20"], &[]);
    let r = post(
        p.port,
        "/generate",
        r#"{"text": "a b c", "sampling_params": {"max_new_tokens": 20}, "stream": true}"#,
    );
    let events = r.events();
    let client: Vec<f64> = events[..events.len() - 1]
        .windows(2)
        .map(|w| w[1].0.duration_since(w[0].0).as_secs_f64())
        .collect();
    let trace = get(p.port, "/sim/trace").json();
    let times: Vec<f64> = trace["requests"][0]["token_times"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_f64().unwrap())
        .collect();
    let server: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    assert_eq!(client.len(), 19, "one gap per token after the first");
    assert_eq!(client.len(), server.len());
    let mut diffs: Vec<f64> = client
        .iter()
        .zip(&server)
        .map(|(c, s)| (c - s).abs())
        .collect();
    diffs.sort_by(f64::total_cmp);
    diffs
}

/// Client-observed inter-chunk gaps match the server's emission timestamps:
/// the median on any machine (a single gap can meet a multi-ms wake-up of a
/// halted vCPU; the tier below bounds the tail).
#[test]
fn trace_matches_client_itl() {
    let _serial = timing_lock();
    let diffs = itl_diffs();
    let median = diffs[diffs.len() / 2];
    assert!(
        median < 0.001,
        "client vs trace ITL differ by {median}s at the median"
    );
}

/// The tail too (p99 of 19 gaps: the worst but one), with the CPU latency
/// QoS request held as in tests/bench_sim.rs; fails, naming the reason,
/// where the request cannot be made.
#[test]
#[ignore = "needs root (CPU latency QoS on /dev/cpu_dma_latency); run by .ci/run"]
fn trace_matches_client_itl_p99_under_cpu_latency_qos() {
    let _serial = timing_lock();
    let _qos = cpu_latency_qos().unwrap_or_else(|e| panic!("no CPU latency QoS: {e}"));
    let diffs = itl_diffs();
    let p99 = diffs[(diffs.len() * 99 / 100).min(diffs.len() - 1)];
    assert!(p99 < 0.001, "client vs trace ITL differ by {p99}s at p99");
}

/// Concurrency costs latency: the simulated e2e latency of a request grows
/// when 32 others share its batches.
#[test]
fn latency_responds_to_load() {
    let p = healthy_server(&["--tp-size", "1"], &[]);
    let body = r#"{"text": "a b c d", "sampling_params": {"max_new_tokens": 16}}"#;
    let alone = post(p.port, "/generate", body).json()["meta_info"]["e2e_latency"]
        .as_f64()
        .unwrap();
    let batch: String = format!(
        r#"{{"input_ids": {}, "sampling_params": {{"max_new_tokens": 16}}}}"#,
        serde_json::to_string(&vec![vec![7u32; 2000]; 32]).unwrap()
    );
    let loaded = post(p.port, "/generate", &batch).json();
    let worst = loaded
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["meta_info"]["e2e_latency"].as_f64().unwrap())
        .fold(0.0, f64::max);
    assert!(worst > alone, "loaded {worst} vs alone {alone}");
}

#[test]
fn bad_flags_exit_2() {
    let model = model_dir();
    let m = model.to_str().unwrap();
    for args in [
        vec!["--model-path", m, "--tp-size", "eight"],
        vec!["--model-path", m, "--sim-gpu", "tpu9"],
        vec!["--tp-size", "2"],
        vec!["--model-path", "/nonexistent/model"],
        vec!["--model-path", m, "--tp-size", "8", "--ep-size", "3"],
    ] {
        let out = std::process::Command::new(bin())
            .args(["sim", "launch-server"])
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stderr).contains("error:"));
    }
    let help = std::process::Command::new(bin())
        .args(["sim", "launch-server", "--help"])
        .output()
        .unwrap();
    assert!(help.status.success());
}

#[test]
fn nonzero_rank_serves_nothing_and_exits_0_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("starts.jsonl");
    let log_s = log.to_str().unwrap();
    let mut p = server(
        &[
            "--tp-size",
            "16",
            "--nnodes",
            "2",
            "--node-rank",
            "1",
            "--dist-init-addr",
            "10.0.0.1:5000",
        ],
        &[("MATRIX_SIM_START_LOG", log_s)],
    );
    assert!(
        p.wait_log("Non-zero rank: no HTTP server", SOON),
        "rank 1 finished loading:\n{}",
        p.stderr()
    );
    assert!(
        request(p.port, "GET", "/health", None).is_err(),
        "rank 1 must not listen"
    );
    p.signal(nix::sys::signal::Signal::SIGTERM);
    let status = p.wait_exit(SOON).expect("exits on SIGTERM");
    assert_eq!(status.code(), Some(0));
    let line: Value = serde_json::from_str(std::fs::read_to_string(&log).unwrap().trim()).unwrap();
    assert_eq!(line["rank"], 1);
    assert_eq!(line["port"], p.port);
}

#[test]
fn start_log_counts_launches() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("starts.jsonl");
    let env = [("MATRIX_SIM_START_LOG", log.to_str().unwrap())];
    for _ in 0..2 {
        let p = healthy_server(&[], &env);
        drop(p);
    }
    assert_eq!(std::fs::read_to_string(&log).unwrap().lines().count(), 2);
}
