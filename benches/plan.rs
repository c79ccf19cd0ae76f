//! Planning speed, stage by stage: expansion, then the whole plan (render,
//! group, check), then JSON serialisation, for 100 000 cells in serving and
//! latency mode. Run with `cargo bench --bench plan`; numbers go to
//! docs/PERFORMANCE.md. Not a test: nothing here asserts a time.

use std::time::Instant;

use camino::Utf8PathBuf;
use indexmap::IndexMap;
use matrix::matrix::axis::Choice;
use matrix::matrix::{CliChoices, ExpandInput};
use matrix::plan::PlanInput;
use matrix::plan::source::Preference;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let root = Utf8PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().expect("tempdir");
    let tmp = Utf8PathBuf::from_path_buf(dir.path().to_path_buf()).expect("utf-8 temp dir");
    let rates: Vec<String> = (1..=100).map(|r| r.to_string()).collect();
    let seqs: Vec<String> = (1..=100).map(|i| (128 * i).to_string()).collect();
    let ols: Vec<String> = (1..=10).map(|i| (16 * i).to_string()).collect();
    let serving = format!(
        "axes:\n  model: qwen\n  mconf: 2l\n  mode: serving\n  deploy: tp8ep8\n  request_rate: [{}]\n  seq: [{}]\n  output_len: [{}]\nderive:\n  num_prompts: \"{{{{ [300 * request_rate, 2400] | min }}}}\"\n",
        rates.join(", "),
        seqs.join(", "),
        ols.join(", ")
    );
    std::fs::write(tmp.join("serving.yaml"), serving).unwrap();
    let bszs: Vec<String> = (1..=1000).map(|b| b.to_string()).collect();
    std::fs::write(
        tmp.join("bsz_seq.csv"),
        format!("{};{}\n", bszs.join(","), seqs.join(",")),
    )
    .unwrap();

    let base = |choices: CliChoices, matrix: Option<Utf8PathBuf>, bsz_seq: Option<Utf8PathBuf>| {
        PlanInput {
            expand: ExpandInput {
                root: root.clone(),
                choices,
                matrix,
                bsz_seq,
                sets: Vec::new(),
                only: Vec::new(),
                env_vars: Vec::new(),
                max_cells: Some(100_000),
                gpu: None,
            },
            ip: None,
            rank: None,
            run_name: Some("bench".into()),
            matrix_exe: "matrix".into(),
            timestamp: "20260101-000000".into(),
            flags: Preference::Table,
        }
    };
    let serving = base(CliChoices::default(), Some(tmp.join("serving.yaml")), None);
    let mut latency_choices = IndexMap::new();
    latency_choices.insert(Choice::Model, vec!["qwen".to_string()]);
    latency_choices.insert(Choice::Mconf, vec!["2l".to_string()]);
    latency_choices.insert(Choice::Deploy, vec!["tp8ep8".to_string()]);
    let latency = base(
        CliChoices {
            values: latency_choices,
        },
        None,
        Some(tmp.join("bsz_seq.csv")),
    );

    for (label, input) in [("serving", &serving), ("latency", &latency)] {
        let mut expand_ms = Vec::new();
        let mut plan_ms = Vec::new();
        let mut json_ms = Vec::new();
        let mut cells = 0;
        for _ in 0..5 {
            let t = Instant::now();
            let exp = matrix::matrix::expand(&input.expand).expect("expands");
            expand_ms.push(t.elapsed().as_secs_f64() * 1e3);
            cells = exp.cells.len();
            drop(exp);
            let t = Instant::now();
            let plan = matrix::plan::build(input).expect("plans");
            plan_ms.push(t.elapsed().as_secs_f64() * 1e3);
            let t = Instant::now();
            let text = serde_json::to_vec_pretty(&plan).unwrap();
            json_ms.push(t.elapsed().as_secs_f64() * 1e3);
            std::hint::black_box(text);
        }
        let med = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        println!(
            "{label:8} {cells:6} cells  expand {:7.1} ms  plan (expand+render+group+check) {:7.1} ms  json {:7.1} ms  (median of 5)",
            med(&mut expand_ms),
            med(&mut plan_ms),
            med(&mut json_ms)
        );
    }
}
