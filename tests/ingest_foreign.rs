//! Result files made outside matrix (SGLang bench_serving / bench_one_batch
//! JSONL, sglang-ci's offline and online CSVs) → RunRecords, through the
//! library entry point `matrix::record::db::foreign::read`. Fixtures are in
//! tests/fixtures/foreign/ (sglang-ci layouts from michael-amd/sglang-ci at
//! 192c537e, numbers made up).

use camino::{Utf8Path, Utf8PathBuf};
use matrix::record::db::foreign::read;
use matrix::record::db::model::key_text;
use matrix::record::db::{CellRecord, DbError, RunRecord};

fn fixture(name: &str) -> Utf8PathBuf {
    Utf8PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/foreign")
        .join(name)
}

fn runs(name: &str) -> Vec<RunRecord> {
    match read(&fixture(name)) {
        Ok(Some(r)) => r,
        Ok(None) => panic!("{name}: not recognised"),
        Err(e) => panic!("{name}: {e}"),
    }
}

fn one(name: &str) -> RunRecord {
    let mut r = runs(name);
    assert_eq!(r.len(), 1, "{name}: one run");
    r.remove(0)
}

fn cell<'a>(run: &'a RunRecord, key: &str) -> &'a CellRecord {
    run.cells
        .iter()
        .find(|c| key_text(&c.key) == key)
        .unwrap_or_else(|| {
            let keys: Vec<String> = run.cells.iter().map(|c| key_text(&c.key)).collect();
            panic!("no cell {key}; cells: {keys:#?}")
        })
}

fn values(c: &CellRecord, metric: &str) -> Vec<f64> {
    c.samples
        .iter()
        .filter_map(|s| s.get(metric).copied())
        .collect()
}

/// Write `text` to a file named `name` in a fresh folder and read it.
fn read_text(name: &str, text: &[u8]) -> Result<Option<Vec<RunRecord>>, DbError> {
    let dir = tempfile::tempdir().unwrap();
    let path = Utf8PathBuf::try_from(dir.path().join(name)).unwrap();
    std::fs::write(&path, text).unwrap();
    read(&path)
}

fn bad_source(r: Result<Option<Vec<RunRecord>>, DbError>) -> (Option<u64>, String, String) {
    match r {
        Err(DbError::BadSource {
            line, reason, hint, ..
        }) => (line, reason, hint.unwrap_or_default()),
        other => panic!("expected BadSource, got {other:?}"),
    }
}

fn is_hex8(s: &str) -> bool {
    s.len() == 8 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[test]
fn bench_serving_lines_with_the_same_workload_are_repeats_of_one_cell() {
    let run = one("bench_serving.jsonl");
    assert_eq!(run.source, "bench_serving");
    let (stem, digest) = run.run_id.rsplit_once('-').unwrap();
    assert_eq!(stem, "bench_serving");
    assert!(is_hex8(digest), "{}", run.run_id);
    assert_eq!(run.engine.as_deref(), Some("sglang"));
    assert_eq!(run.engine_version.as_deref(), Some("0.5.23"));
    assert_eq!(run.model.as_deref(), Some("Qwen2.5-7B-Instruct"));
    // The file records no start time, and the file's mtime is not one.
    assert_eq!(run.started_at, None);
    assert_eq!(run.cells.len(), 2);
    let all = cell(
        &run,
        "bench_backend=sglang;dataset_name=random-ids;engine=sglang;input_len=32;mode=serving;\
         model=Qwen2.5-7B-Instruct;output_len=16;request_rate=inf",
    );
    assert_eq!(all.status, "ok");
    assert_eq!(values(all, "median_ttft_ms"), vec![205.5, 210.0]);
    assert_eq!(values(all, "median_e2e_ms"), vec![907.25, 915.5]);
    assert_eq!(values(all, "output_throughput"), vec![271.5, 268.0]);
    assert_eq!(values(all, "completed"), vec![20.0, 20.0]);
    let four = cell(
        &run,
        "bench_backend=sglang;dataset_name=random-ids;engine=sglang;input_len=32;\
         max_concurrency=8;mode=serving;model=Qwen2.5-7B-Instruct;output_len=16;request_rate=4",
    );
    assert_eq!(values(four, "median_ttft_ms"), vec![120.25]);
}

#[test]
fn reading_the_same_file_twice_gives_the_same_run_and_new_content_a_new_id() {
    let a = one("bench_serving.jsonl");
    let b = one("bench_serving.jsonl");
    assert_eq!(a, b);
    let text = std::fs::read_to_string(fixture("bench_serving.jsonl")).unwrap();
    let changed = text.replacen("205.5", "205.6", 1);
    assert_ne!(text, changed);
    let c = read_text("bench_serving.jsonl", changed.as_bytes())
        .unwrap()
        .unwrap()
        .remove(0);
    assert_ne!(a.run_id, c.run_id);
    assert!(c.run_id.starts_with("bench_serving-"));
}

#[test]
fn the_real_sglang_output_files_are_read() {
    for (file, cells) in [
        ("serving.sglang.jsonl", 1),
        ("serving.sglang-oai.jsonl", 1),
        ("one_batch.result.jsonl", 3),
    ] {
        let path = Utf8PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/foreign/sglang-0.5.23")
            .join(file);
        let runs = read(&path).unwrap().unwrap();
        assert_eq!(runs[0].cells.len(), cells, "{file}");
        assert!(
            runs[0]
                .cells
                .iter()
                .all(|c| c.status == "ok" && c.samples.len() == 1)
        );
    }
}

#[test]
fn a_pretty_printed_json_result_is_one_line() {
    let text = std::fs::read_to_string(fixture("bench_serving.jsonl")).unwrap();
    let first = text.lines().next().unwrap();
    let pretty = first.replace(", \"", ",\n  \"");
    assert!(pretty.lines().count() > 10);
    let run = read_text("result.json", pretty.as_bytes())
        .unwrap()
        .unwrap()
        .remove(0);
    assert_eq!(run.cells.len(), 1);
    assert_eq!(values(&run.cells[0], "median_ttft_ms"), vec![205.5]);
    let text = std::fs::read_to_string(fixture("one_batch.jsonl")).unwrap();
    let pretty = text.lines().next().unwrap().replace(", \"", ",\n  \"");
    let run = read_text("r.json", pretty.as_bytes())
        .unwrap()
        .unwrap()
        .remove(0);
    assert_eq!(
        values(&run.cells[0], "e2e_latency_s"),
        vec![0.7948858581003492]
    );
}

#[test]
fn random_lengths_are_in_the_key_only_for_random_datasets() {
    let text = std::fs::read_to_string(fixture("bench_serving.jsonl")).unwrap();
    let first = text.lines().next().unwrap();
    let sharegpt = first.replace("\"random-ids\"", "\"sharegpt\"");
    assert_ne!(sharegpt, first);
    let run = read_text("s.jsonl", format!("{sharegpt}\n").as_bytes())
        .unwrap()
        .unwrap()
        .remove(0);
    assert_eq!(
        key_text(&run.cells[0].key),
        "bench_backend=sglang;dataset_name=sharegpt;engine=sglang;mode=serving;\
         model=Qwen2.5-7B-Instruct;request_rate=inf"
    );
}

#[test]
fn one_batch_lines_map_to_latency_columns_and_repeats_merge() {
    let run = one("one_batch.jsonl");
    assert_eq!(run.source, "one_batch");
    assert!(run.run_id.starts_with("one_batch-"));
    assert_eq!(run.model, None);
    assert_eq!(run.cells.len(), 3);
    let bs1 = cell(
        &run,
        "bsz=1;engine=sglang;input_len=1024;mode=latency;output_len=128",
    );
    assert_eq!(
        values(bs1, "e2e_latency_s"),
        vec![0.7948858581003492, 0.8012]
    );
    assert_eq!(
        values(bs1, "prefill_latency_s"),
        vec![0.012947744465709557, 0.0131]
    );
    assert_eq!(
        values(bs1, "median_decode_throughput"),
        vec![162.47597211148792, 162.47597211148792]
    );
    // No model or GPU in the file: no MFU / MBU.
    assert!(bs1.samples.iter().all(|s| !s.contains_key("prefill_mfu")));
    let bs4 = cell(
        &run,
        "bsz=4;engine=sglang;input_len=1024;mode=latency;output_len=128",
    );
    assert_eq!(values(bs4, "e2e_throughput"), vec![5733.632937363463]);
}

#[test]
fn a_one_batch_run_name_other_than_default_is_part_of_the_key() {
    let line = r#"{"run_name": "nightly", "batch_size": 8, "input_len": 256, "output_len": 1, "prefill_latency": 0.02, "prefill_throughput": 102400.0, "total_latency": 0.02, "overall_throughput": 102450.0}"#;
    let run = read_text("r.jsonl", format!("{line}\n").as_bytes())
        .unwrap()
        .unwrap()
        .remove(0);
    let c = cell(
        &run,
        "bsz=8;engine=sglang;input_len=256;mode=latency;output_len=1;run_name=nightly",
    );
    // output_len 1: no decode step, no decode columns.
    assert!(!c.samples[0].contains_key("median_decode_latency_s"));
    assert_eq!(values(c, "e2e_latency_s"), vec![0.02]);
}

#[test]
fn sglang_ci_offline_csv_maps_columns_names_and_config() {
    let run = one("v0.5.5-rocm700-mi30x-20251110_GROK1_MOE-I4F8_offline/\
         v0.5.5-rocm700-mi30x-20251110_GROK1_MOE-I4F8_offline.csv");
    assert_eq!(run.source, "sglang_ci_offline");
    assert!(
        run.run_id
            .starts_with("v0.5.5-rocm700-mi30x-20251110_GROK1_MOE-I4F8_offline-")
    );
    assert_eq!(run.model.as_deref(), Some("GROK1"));
    assert_eq!(
        run.image.as_deref(),
        Some("rocm/sgl-dev:v0.5.5-rocm700-mi30x-20251110")
    );
    assert_eq!(run.started_at.as_deref(), Some("2025-11-10T00:00:00+00:00"));
    assert_eq!(run.cells.len(), 3);
    let base = "backend=aiter;bsz=1;deploy=tp8;engine=sglang;input_len=1024;mode=latency;\
                model=GROK1;model_variant=MOE-I4F8;output_len=128";
    let bs1 = cell(&run, base);
    assert_eq!(bs1.status, "ok");
    let s = &bs1.samples[0];
    assert_eq!(s["prefill_latency_s"], 0.0412);
    assert_eq!(s["median_decode_latency_s"], 0.01105);
    assert_eq!(s["e2e_latency_s"], 1.4538);
    assert_eq!(s["prefill_throughput"], 24854.37);
    assert_eq!(s["median_decode_throughput"], 90.5);
    assert_eq!(s["e2e_throughput"], 792.4);
    assert_eq!(bs1.row.get("tp").map(String::as_str), Some("8"));
    let failed = cell(&run, &base.replace("bsz=1", "bsz=256"));
    assert_eq!(failed.status, "failed");
    assert!(failed.samples.is_empty());
    assert!(failed.error.as_deref().unwrap_or("").contains("NA"));
}

#[test]
fn sglang_ci_offline_csv_without_backend_column_repeats_and_file_name_date() {
    let run = one("20250429_DeepSeek-V3-0324_FP8_offline.csv");
    assert_eq!(run.model.as_deref(), Some("DeepSeek-V3-0324"));
    assert_eq!(run.image, None);
    assert_eq!(run.started_at.as_deref(), Some("2025-04-29T00:00:00+00:00"));
    assert_eq!(run.cells.len(), 2);
    let bs32 = cell(
        &run,
        "bsz=32;deploy=tp8;engine=sglang;input_len=128;mode=latency;model=DeepSeek-V3-0324;\
         model_variant=FP8;output_len=32",
    );
    assert_eq!(values(bs32, "e2e_latency_s"), vec![1.5712, 1.5698]);
}

#[test]
fn sglang_ci_offline_summary_is_one_run_per_date() {
    let runs = runs("GROK1_summary_node-7.csv");
    assert_eq!(runs.len(), 2);
    let ids: Vec<&str> = runs.iter().map(|r| r.run_id.as_str()).collect();
    assert!(
        ids[0].starts_with("GROK1_summary_node-7-20251109-"),
        "{ids:?}"
    );
    assert!(
        ids[1].starts_with("GROK1_summary_node-7-20251110-"),
        "{ids:?}"
    );
    assert_eq!(
        runs[0].started_at.as_deref(),
        Some("2025-11-09T00:00:00+00:00")
    );
    assert_eq!(runs[1].host.as_deref(), Some("node-7"));
    let key = "backend=aiter;bsz=1;engine=sglang;input_len=1024;mode=latency;model=GROK1;\
               output_len=128";
    assert_eq!(values(cell(&runs[0], key), "e2e_latency_s"), vec![1.4601]);
    assert_eq!(values(cell(&runs[1], key), "e2e_throughput"), vec![792.4]);
    let empty = cell(&runs[1], &key.replace("bsz=1", "bsz=2"));
    assert_eq!(empty.status, "failed");
    // A night appended to the summary keeps the ids of the nights before.
    let text = std::fs::read_to_string(fixture("GROK1_summary_node-7.csv")).unwrap();
    let grown = format!("{text}20251111,1,aiter,node-7,1.45,793.1,1024,128\n");
    let again = read_text("GROK1_summary_node-7.csv", grown.as_bytes())
        .unwrap()
        .unwrap();
    assert_eq!(again.len(), 3);
    assert_eq!(again[0].run_id, runs[0].run_id);
    assert_eq!(again[1].run_id, runs[1].run_id);
}

#[test]
fn sglang_ci_online_sections_become_serving_cells_per_request_rate() {
    let run = one(
        "v0.5.5-rocm700-mi30x-20251110_GROK1_MOE-I4F8_online/v0.5.5-rocm700-mi30x-20251110_GROK1_MOE-I4F8_online.csv",
    );
    assert_eq!(run.source, "sglang_ci_online");
    assert_eq!(run.model.as_deref(), Some("GROK1"));
    assert_eq!(run.image.as_deref(), Some("v0.5.5-rocm700-mi30x-20251110"));
    assert_eq!(run.started_at.as_deref(), Some("2025-11-10T00:00:00+00:00"));
    assert_eq!(run.host.as_deref(), Some("node-7"));
    assert_eq!(run.cells.len(), 5);
    let key = "backend=aiter;engine=sglang;mode=serving;model=GROK1;request_rate=1";
    let r1 = cell(&run, key);
    assert_eq!(r1.status, "ok");
    assert_eq!(r1.samples.len(), 1);
    assert_eq!(r1.samples[0]["median_e2e_ms"], 13012.55);
    assert_eq!(r1.samples[0]["median_ttft_ms"], 71.02);
    assert_eq!(r1.samples[0]["median_itl_ms"], 12.61);
    let r8 = cell(&run, &key.replace("rate=1", "rate=8"));
    assert_eq!(r8.samples[0]["median_itl_ms"], 18.88);
    let r16 = cell(&run, &key.replace("rate=1", "rate=16"));
    assert_eq!(r16.status, "failed");
    assert!(r16.samples.is_empty());
}

#[test]
fn sglang_ci_online_accuracy_comes_from_the_gsm8k_log_next_to_it() {
    let run = one("v0.5.5-rocm700-mi30x-20251110_GROK1_MOE-I4F8_online/\
         v0.5.5-rocm700-mi30x-20251110_GROK1_MOE-I4F8_online.csv");
    // The log was appended to by two runs: the last result line (an early
    // exit) wins over the first run's average; single-run lines are not
    // results.
    assert_eq!(run.extras.get("gsm8k_accuracy"), Some(&0.823));
    assert_eq!(run.extras.len(), 1);
    // Two modes that disagree keep one value each.
    let dir = tempfile::tempdir().unwrap();
    let d = Utf8PathBuf::try_from(dir.path().to_path_buf()).unwrap();
    let csv = "Online mode - GROK1 (20251110)\n\nMedian TTFT (ms, lower better)\n\
               request rate\t1\nMI300x-aiter, n\t70.0\nMI300x-triton, n\t90.0\n";
    std::fs::write(d.join("o.csv"), csv).unwrap();
    std::fs::write(
        d.join("sglang_client_log_GROK1_gsm8k_aiter.log"),
        "Average Accuracy over 5 valid runs for mode aiter: 0.81\n",
    )
    .unwrap();
    std::fs::write(
        d.join("sglang_client_log_GROK1_gsm8k_triton.log"),
        "Average Accuracy over 5 valid runs for mode triton: 0.79\n",
    )
    .unwrap();
    // Another model's log in the same folder is not this run's.
    std::fs::write(
        d.join("sglang_client_log_GROK2_gsm8k_aiter.log"),
        "Average Accuracy over 5 valid runs for mode aiter: 0.5\n",
    )
    .unwrap();
    let run = read(&d.join("o.csv")).unwrap().unwrap().remove(0);
    assert_eq!(run.extras.get("gsm8k_accuracy_aiter"), Some(&0.81));
    assert_eq!(run.extras.get("gsm8k_accuracy_triton"), Some(&0.79));
    assert_eq!(run.extras.len(), 2);
    assert_eq!(run.cells.len(), 2);
}

#[test]
fn an_online_section_of_no_known_metric_is_skipped() {
    let text = "Online mode - GROK1 (20251110)\n\nMedian TTFT (ms, lower better)\n\
                request rate\t1\nMI300x-aiter, n\t70.0\n\n\
                Median Queue Time (ms, lower better)\nrequest rate\t1\t2\n\
                MI300x-aiter, n\t5.0\t6.0\n";
    let run = read_text("o.csv", text.as_bytes())
        .unwrap()
        .unwrap()
        .remove(0);
    assert_eq!(run.cells.len(), 1);
    assert_eq!(values(&run.cells[0], "median_ttft_ms"), vec![70.0]);
}

#[test]
fn sglang_ci_deepseek_serving_sections_use_concurrency_and_the_variant() {
    let run = one("20250915_DeepSeek-V3-0324_FP8_serving.csv");
    assert_eq!(run.model.as_deref(), Some("DeepSeek-V3-0324"));
    assert_eq!(run.started_at.as_deref(), Some("2025-09-15T00:00:00+00:00"));
    assert_eq!(run.host, None);
    // No accuracy line and no GSM8K log of this model next to it.
    assert!(run.extras.is_empty());
    assert_eq!(run.cells.len(), 3);
    let key = "engine=sglang;max_concurrency=16;mode=serving;model=DeepSeek-V3-0324;\
               model_variant=FP8";
    assert_eq!(values(cell(&run, key), "median_ttft_ms"), vec![512.3]);
    let c64 = cell(&run, &key.replace("=16", "=64"));
    assert_eq!(c64.status, "failed");
}

#[test]
fn sglang_ci_gsm8k_file_gives_the_accuracy_as_a_run_extra() {
    let run = one("20250915_DeepSeek-V3-0324_FP8_online.csv");
    assert!(run.cells.is_empty());
    assert_eq!(run.extras.get("gsm8k_accuracy"), Some(&0.942));
    assert_eq!(run.extras.get("gsm8k_output_throughput"), Some(&1830.5));
    // `N/A` is no value.
    assert_eq!(run.extras.get("gsm8k_latency_s"), None);
    assert_eq!(run.started_at.as_deref(), Some("2025-09-15T00:00:00+00:00"));
}

#[test]
fn sglang_ci_online_summary_is_one_run_per_date_with_gsm8k() {
    let runs = runs("GROK1_all_variants_all_modes_summary_node-7.csv");
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0].extras.get("gsm8k_accuracy"), Some(&0.815));
    assert_eq!(runs[1].extras.get("gsm8k_accuracy"), Some(&0.82));
    assert_eq!(runs[1].extras.get("kv_cache_tokens"), Some(&1234567.0));
    assert_eq!(runs[1].extras.get("kv_cache_gb"), Some(&98.5));
    let key = "backend=aiter;engine=sglang;mode=serving;model=GROK1;request_rate=2;\
               variant=standard";
    assert_eq!(values(cell(&runs[0], key), "median_e2e_ms"), vec![14022.9]);
    assert_eq!(values(cell(&runs[1], key), "median_itl_ms"), vec![13.49]);
}

#[test]
fn the_per_run_online_file_and_the_summary_give_the_same_cell_keys() {
    // Same night, two sglang-ci files: compare can match their cells only
    // when the keys agree (model, backend, request rate).
    let run = one(
        "v0.5.5-rocm700-mi30x-20251110_GROK1_MOE-I4F8_online/v0.5.5-rocm700-mi30x-20251110_GROK1_MOE-I4F8_online.csv",
    );
    let key = "backend=aiter;engine=sglang;mode=serving;model=GROK1;request_rate=1";
    assert_eq!(values(cell(&run, key), "median_e2e_ms"), vec![13012.55]);
    let sum = runs("GROK1_all_variants_all_modes_summary_node-7.csv");
    let skey = format!("{key};variant=standard");
    assert_eq!(
        values(cell(&sum[1], &skey), "median_e2e_ms"),
        vec![13012.55]
    );
}

#[test]
fn json_of_no_known_format_is_an_error_naming_line_and_expected_keys() {
    let (line, reason, hint) = bad_source(read_text("x.jsonl", b"\n{\"foo\": 1, \"bar\": 2}\n"));
    assert_eq!(line, Some(2));
    assert!(reason.contains("keys: foo, bar"), "{reason}");
    assert!(reason.contains("bench_serving"), "{reason}");
    assert!(hint.contains("--output-file"), "{hint}");
    let (line, reason, _) = bad_source(read_text("x.json", b"not json at all\n"));
    assert_eq!(line, Some(1));
    assert!(reason.starts_with("not a JSON object"), "{reason}");
}

#[test]
fn a_bench_serving_line_without_duration_names_its_line() {
    let text = std::fs::read_to_string(fixture("bench_serving.jsonl")).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines[1] = lines[1].replace("\"duration\":", "\"dur\":");
    let (line, reason, hint) = bad_source(read_text("s.jsonl", lines.join("\n").as_bytes()));
    assert_eq!(line, Some(2));
    assert_eq!(reason, "missing or non-numeric `duration`");
    assert!(hint.contains("docs/INGEST.md"), "{hint}");
}

#[test]
fn a_torn_last_bench_serving_line_is_left_out() {
    let text = std::fs::read_to_string(fixture("bench_serving.jsonl")).unwrap();
    let torn = format!("{}{}", text, &text[..100]);
    let run = read_text("s.jsonl", torn.as_bytes())
        .unwrap()
        .unwrap()
        .remove(0);
    let n: usize = run.cells.iter().map(|c| c.samples.len()).sum();
    assert_eq!(n, 3);
}

#[test]
fn empty_and_non_utf8_files_are_bad_sources() {
    let (_, reason, _) = bad_source(read_text("e.jsonl", b""));
    assert_eq!(reason, "the file is empty");
    let (_, reason, _) = bad_source(read_text("e.csv", b" \n\n"));
    assert_eq!(reason, "the file is empty");
    let (line, reason, _) = bad_source(read_text("b.csv", b"a,b\n\xff\xfe\n"));
    assert_eq!(line, Some(2));
    assert!(reason.contains("UTF-8"));
}

#[test]
fn a_bad_number_in_an_sglang_ci_csv_names_line_and_column() {
    let text = "TP,batch_size,IL,OL,Prefill_latency(s),Median_decode_latency(s),E2E_Latency(s),\
                Prefill_Throughput(token/s),Median_Decode_Throughput(token/s),E2E_Throughput(token/s)\n\
                8,1,128,32,0.2,0.04,1.5,20000,700,3000\n\
                8,2,128,32,0.2,0.04,fast,20000,700,3000\n";
    let (line, reason, _) = bad_source(read_text("x_offline.csv", text.as_bytes()));
    assert_eq!(line, Some(3));
    assert_eq!(reason, "column E2E_Latency(s): `fast` is not a number");
    let text = text.replace("8,2,128", "8,two,128");
    let (line, reason, _) = bad_source(read_text("x_offline.csv", text.as_bytes()));
    assert_eq!(line, Some(3));
    assert!(reason.starts_with("column batch_size"), "{reason}");
}

#[test]
fn an_sglang_ci_csv_missing_a_required_column_names_it() {
    let text = "TP,batch_size,OL,E2E_Latency(s)\n8,1,32,1.5\n";
    let (line, reason, hint) = bad_source(read_text("x.csv", text.as_bytes()));
    assert_eq!(line, Some(1));
    assert_eq!(reason, "an sglang-ci offline CSV without column IL");
    assert!(hint.contains("sglang-ci"));
    let text = "date,variant,mode,node_name,E2E_Latency_ms\n20251110,standard,aiter,n,1.0\n";
    let (_, reason, _) = bad_source(read_text("y.csv", text.as_bytes()));
    assert!(reason.contains("request_rate or concurrency"), "{reason}");
}

#[test]
fn a_row_with_a_wrong_field_count_names_its_line() {
    let text = "TP,batch_size,IL,OL,E2E_Latency(s)\n8,1,128,32,1.5\n8,2,128\n";
    let (line, _, _) = bad_source(read_text("x.csv", text.as_bytes()));
    assert_eq!(line, Some(3));
}

#[test]
fn an_online_series_with_more_values_than_loads_is_an_error() {
    let text = "Online mode - GROK1 (20251110)\n\nMedian TTFT (ms, lower better)\n\
                request rate\t1\t2\nMI300x-aiter, n\t1.0\t2.0\t3.0\n";
    let (line, reason, _) = bad_source(read_text("o.csv", text.as_bytes()));
    assert_eq!(line, Some(5));
    assert!(reason.contains("more values"), "{reason}");
    let text = "Median TTFT (ms, lower better)\nrate\t1\t2\n";
    let (line, reason, _) = bad_source(read_text("o.csv", text.as_bytes()));
    assert_eq!(line, Some(2));
    assert!(reason.contains("request rate"), "{reason}");
}

#[test]
fn files_that_are_none_of_the_formats_are_not_claimed() {
    assert!(read_text("other.csv", b"a,b,c\n1,2,3\n").unwrap().is_none());
    assert!(read_text("notes.txt", b"hello\n").unwrap().is_none());
    // A matrix run CSV is the caller's, not a foreign format.
    let matrix_csv =
        "run_id,cell_id,status,engine,mode,bsz,e2e_latency_s\nr,c,ok,sim,latency,1,1.5\n";
    assert!(
        read_text("run.csv", matrix_csv.as_bytes())
            .unwrap()
            .is_none()
    );
    // A file that does not exist is an I/O error, not "not mine".
    let missing = Utf8Path::new("/nonexistent/dir/x.jsonl");
    assert!(matches!(read(missing), Err(DbError::Io { .. })));
}
