//! Checks of the cost model against the shipped configs and published numbers.
//! Every test compares counts or ratios; none times anything.

use super::*;

const LLAMA_8B: &str = include_str!("../../model_conf/llama/config_8b.json");
const LLAMA_70B: &str = include_str!("../../model_conf/llama/config_70b.json");
const QWEN: &str = include_str!("../../model_conf/qwen/config_full.json");
const QWEN_2L: &str = include_str!("../../model_conf/qwen/config_2l.json");
const DEEPSEEK: &str = include_str!("../../model_conf/deepseek/config_full.json");
const DEEPSEEK_2L: &str = include_str!("../../model_conf/deepseek/config_2l.json");
const GROK: &str = include_str!("../../model_conf/grok/config_full.json");

fn spec(text: &str) -> ModelSpec {
    ModelSpec::from_json_str(text, "test config").expect("shipped config parses")
}

/// `value` is within `pct` % of `published`.
fn near(value: u64, published: f64, pct: f64) -> bool {
    ((value as f64 - published) / published).abs() * 100.0 <= pct
}

#[test]
fn published_parameter_counts_within_two_percent() {
    let cases = [
        ("llama-8b", LLAMA_8B, 8.0e9, None),
        ("llama-70b", LLAMA_70B, 70.6e9, None),
        ("qwen3-235b", QWEN, 235.0e9, Some(22.0e9)),
        ("deepseek-v3", DEEPSEEK, 671.0e9, Some(37.0e9)),
        ("grok-1", GROK, 314.0e9, None),
    ];
    for (name, text, total, active) in cases {
        let s = spec(text);
        assert!(
            near(s.params_total(), total, 2.0),
            "{name} total {}",
            s.params_total()
        );
        match active {
            Some(a) => assert!(
                near(s.params_active(), a, 2.0),
                "{name} active {}",
                s.params_active()
            ),
            None if s.is_moe() => assert!(s.params_active() < s.params_total() / 2, "{name}"),
            None => assert_eq!(s.params_active(), s.params_total(), "{name}"),
        }
    }
}

#[test]
fn llama_8b_kv_bytes_per_token() {
    // 2 (K and V) · 32 layers · 8 KV heads · 128 dims · 2 bytes.
    assert_eq!(spec(LLAMA_8B).kv_bytes_per_token(), 131_072.0);
}

#[test]
fn mla_caches_latent_plus_rope_key() {
    // DeepSeek-V3: (512 latent + 64 rope) · 61 layers · 2 bytes (bf16 KV).
    assert_eq!(spec(DEEPSEEK).kv_bytes_per_token(), (576 * 61 * 2) as f64);
}

#[test]
fn fp8_checkpoint_stores_linear_weights_in_one_byte() {
    let s = spec(DEEPSEEK);
    assert!(s.is_fp8());
    let p = s.param_counts();
    let expected = p.linear_total() as f64 + 2.0 * (p.total() - p.linear_total()) as f64;
    assert_eq!(s.weight_bytes(), expected);
    assert!(s.weight_bytes() < 0.7 * 2.0 * s.params_total() as f64);
    assert!(!spec(QWEN).is_fp8());
    assert_eq!(
        spec(LLAMA_8B).weight_bytes(),
        2.0 * spec(LLAMA_8B).params_total() as f64
    );
}

#[test]
fn shipped_two_layer_variants_keep_dense_and_moe_layers() {
    let ds = spec(DEEPSEEK_2L);
    assert_eq!(
        (ds.architecture().layers, ds.architecture().moe_layers),
        (2, 1)
    );
    let q = spec(QWEN_2L);
    assert_eq!(
        (q.architecture().layers, q.architecture().moe_layers),
        (2, 2)
    );
}

#[test]
fn prefill_flops_are_two_per_active_param_per_token_plus_attention() {
    for text in [LLAMA_8B, QWEN, DEEPSEEK, GROK] {
        let s = spec(text);
        let (bsz, seq) = (4u64, 2048u64);
        let c = s.prefill_cost(bsz, seq);
        let linear = 2.0 * s.param_counts().active_matmul() as f64 * (bsz * seq) as f64;
        let attention =
            c.flops - linear - 2.0 * (s.vocab_size() * s.architecture().hidden * bsz) as f64;
        assert!(attention > 0.0, "{}", s.model_type());
        // Causal attention: quadratic in seq, so doubling seq more than doubles it.
        let c2 = s.prefill_cost(bsz, 2 * seq);
        let linear2 = 2.0 * linear;
        let attention2 =
            c2.flops - linear2 - 2.0 * (s.vocab_size() * s.architecture().hidden * bsz) as f64;
        assert!(
            (attention2 / attention - 4.0).abs() < 0.01,
            "{}",
            s.model_type()
        );
        // For short prompts the total is close to 2·active·tokens; below it by
        // at most the embedding share, since the input embedding is a lookup
        // and the lm_head only runs on the last token of each prompt.
        let short = s.prefill_cost(1, 128).flops / (2.0 * s.params_active() as f64 * 128.0);
        let embedding_share = s.param_counts().embeddings() as f64 / s.params_active() as f64;
        assert!(
            short > 1.0 - embedding_share && short < 1.1,
            "{} ratio {short}",
            s.model_type()
        );
    }
}

#[test]
fn llama_attention_flops_match_the_closed_form() {
    let s = spec(LLAMA_8B);
    let seq = 1000u64;
    let attention = s.prefill_cost(1, seq).flops
        - s.prefill_cost(1, 1).flops
        - 2.0 * s.param_counts().active_matmul() as f64 * (seq - 1) as f64;
    // 4 · heads · head_dim · layers per key; keys = seq(seq+1)/2 (minus the one key of seq = 1).
    let per_key = 4.0 * 32.0 * 128.0 * 32.0;
    let keys = (seq * (seq + 1) / 2 - 1) as f64;
    assert!((attention / (per_key * keys) - 1.0).abs() < 1e-9);
}

#[test]
fn dense_decode_reads_all_weights_and_the_kv_cache() {
    let s = spec(LLAMA_70B);
    let c = s.decode_cost(8, 4096);
    assert!(c.bytes >= s.weight_bytes());
    let kv = s.kv_bytes_per_token() * (8 * 4097) as f64;
    assert!((c.bytes - s.weight_bytes() - kv).abs() < 1.0);
    assert!(s.decode_cost(64, 4096).bytes > c.bytes);
}

#[test]
fn moe_decode_bytes_grow_with_batch_and_saturate_at_all_experts() {
    let s = spec(QWEN);
    let weights_only = |bsz: u64| s.decode_cost(bsz, 0).bytes - s.kv_bytes_per_token() * bsz as f64;
    let mut last = 0.0;
    for bsz in [1, 2, 4, 8, 16, 64, 256] {
        let b = weights_only(bsz);
        assert!(b > last, "bsz {bsz}");
        last = b;
    }
    assert!(weights_only(1) < 0.2 * s.weight_bytes());
    let saturated = weights_only(100_000);
    assert!((saturated / s.weight_bytes() - 1.0).abs() < 1e-6);
    assert!((s.expected_experts_touched(1) - 8.0).abs() < 1e-9);
    assert!((s.expected_experts_touched(1_000_000) - 128.0).abs() < 1e-9);
}

#[test]
fn step_cost_agrees_with_prefill_and_decode() {
    let s = spec(DEEPSEEK);
    let prefill = [SeqStep {
        new_tokens: 512,
        context: 0,
    }; 3];
    assert_eq!(s.step_cost(&prefill), s.prefill_cost(3, 512));
    let decode = [SeqStep {
        new_tokens: 1,
        context: 700,
    }; 5];
    assert_eq!(s.step_cost(&decode), s.decode_cost(5, 700));
    assert_eq!(s.step_cost(&[]), Cost::default());
    assert_eq!(
        s.step_cost(&[SeqStep {
            new_tokens: 0,
            context: 9
        }]),
        Cost::default()
    );
}

#[test]
fn mixed_step_costs_less_than_its_parts_run_apart() {
    // Chunked prefill + decode in one step reads the weights once.
    let s = spec(LLAMA_8B);
    let mixed = [
        SeqStep {
            new_tokens: 256,
            context: 1024,
        },
        SeqStep {
            new_tokens: 1,
            context: 3000,
        },
    ];
    let apart = s.step_cost(&mixed[..1]) + s.step_cost(&mixed[1..]);
    let together = s.step_cost(&mixed);
    assert!((together.flops / apart.flops - 1.0).abs() < 1e-12);
    assert!(together.bytes < apart.bytes);
}

#[test]
fn kv_cache_dtype_override() {
    let s = spec(LLAMA_8B)
        .with_kv_cache_dtype("fp8_e4m3")
        .expect("known dtype");
    assert_eq!(s.kv_bytes_per_token(), 65_536.0);
    assert!(spec(LLAMA_8B).with_kv_cache_dtype("fp7").is_err());
}

#[test]
fn alias_spellings_count_the_same_parameters() {
    let hf = r#"{"model_type":"mixtral","num_hidden_layers":4,"hidden_size":256,
        "num_attention_heads":8,"num_key_value_heads":2,"intermediate_size":512,
        "vocab_size":1000,"num_local_experts":8,"num_experts_per_tok":2}"#;
    let other = r#"{"model_type":"mixtral","n_layer":4,"n_embd":256,"n_head":8,
        "num_kv_heads":2,"ffn_dim":512,"vocab_size":1000,"num_experts":8,"moe_topk":2}"#;
    let (a, b) = (spec(hf), spec(other));
    assert_eq!(a.params_total(), b.params_total());
    assert_eq!(a.params_active(), b.params_active());
    assert_eq!(a.decode_cost(3, 10), b.decode_cost(3, 10));
}

#[test]
fn model_info_rejects_bad_requests() {
    let req = ModelInfoRequest {
        config_path: "does/not/exist.json".into(),
        gpu: "h100".into(),
        tp: 8,
        ep: 3,
        bsz: 1,
        seq: 1,
        json: false,
    };
    let err = model_info(&req).unwrap_err();
    assert!(err.to_string().contains("--ep 3"), "{err}");
    let err = model_info(&ModelInfoRequest { ep: 1, ..req }).unwrap_err();
    assert!(err.to_string().contains("does/not/exist.json"), "{err}");
}
