//! The keys `matrix` itself understands in the `run:` and `workload:`
//! sections, with their kinds and built-in defaults.
//!
//! Server keys are not listed here: they are whatever the engine accepts and
//! are checked against the engine's flag table when the plan is rendered.

use serde_json::Value;

/// What values a key accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A non-negative integer.
    UInt,
    /// A number.
    Float,
    /// A positive number or `inf` (request rates).
    Rate,
    /// A string.
    Str,
    /// One of a fixed set of strings.
    Choice(&'static [&'static str]),
    /// CPUs as `taskset -c` writes them: `3` or `"0-3,8"` (`config::cpus`).
    CpuList,
}

/// One known key of a section.
#[derive(Debug, Clone, Copy)]
pub struct KeySpec {
    pub name: &'static str,
    pub kind: Kind,
    /// Built-in default (JSON text), shown by show-config as `(default)`.
    pub default: Option<&'static str>,
    /// May be `null` (explicitly unset).
    pub nullable: bool,
    pub doc: &'static str,
}

const fn key(
    name: &'static str,
    kind: Kind,
    default: Option<&'static str>,
    doc: &'static str,
) -> KeySpec {
    KeySpec {
        name,
        kind,
        default,
        nullable: false,
        doc,
    }
}

/// A key that may be unset: it defaults to `null`, so templates can test
/// `is none` instead of tripping over an undefined variable.
const fn nullable(name: &'static str, kind: Kind, doc: &'static str) -> KeySpec {
    KeySpec {
        name,
        kind,
        default: Some("null"),
        nullable: true,
        doc,
    }
}

/// `run:` — how `matrix` drives the engine; never passed to it as flags.
pub const RUN_KEYS: &[KeySpec] = &[
    key(
        "host",
        Kind::Str,
        Some("\"127.0.0.1\""),
        "address the server listens on and the client targets",
    ),
    key("port", Kind::UInt, Some("30000"), "server port"),
    key(
        "dist_init_port",
        Kind::UInt,
        Some("5000"),
        "port of --dist-init-addr on multi-node deployments",
    ),
    key(
        "gpus_per_node",
        Kind::UInt,
        Some("8"),
        "GPUs on one node (the `gpus` constraint variable is this × nnodes)",
    ),
    nullable(
        "server_cpus",
        Kind::CpuList,
        "CPUs the server's processes may run on (`taskset -c` syntax, e.g. \"0-7\"); unset: no pinning",
    ),
    nullable(
        "client_cpus",
        Kind::CpuList,
        "CPUs the client may run on (e.g. away from the server's front-end); unset: no pinning",
    ),
    key(
        "startup_timeout_s",
        Kind::Float,
        Some("1200"),
        "seconds a server may take to become ready",
    ),
    key(
        "cell_timeout_s",
        Kind::Float,
        Some("3600"),
        "seconds one cell may take",
    ),
    key(
        "max_cells",
        Kind::UInt,
        Some("100000"),
        "refuse to expand more cells than this",
    ),
    key(
        "results_dir",
        Kind::Str,
        Some("\"results\""),
        "output root, relative to the project root",
    ),
];

/// `workload:` — what is measured in each cell.
pub const WORKLOAD_KEYS: &[KeySpec] = &[
    key("bsz", Kind::UInt, None, "batch size (latency mode)"),
    key("seq", Kind::UInt, None, "input length in tokens"),
    key("output_len", Kind::UInt, None, "output length in tokens"),
    nullable(
        "request_rate",
        Kind::Rate,
        "requests per second, or inf (serving mode)",
    ),
    nullable(
        "max_concurrency",
        Kind::UInt,
        "cap on in-flight requests (serving mode)",
    ),
    nullable(
        "num_prompts",
        Kind::UInt,
        "requests per cell (serving mode)",
    ),
    key(
        "range_ratio",
        Kind::Float,
        Some("1.0"),
        "input/output lengths drawn from [len × ratio, len]",
    ),
    key(
        "dataset",
        Kind::Choice(&["random", "random-ids", "sharegpt"]),
        Some("\"random-ids\""),
        "prompt source (serving mode)",
    ),
    nullable("dataset_path", Kind::Str, "local dataset file (sharegpt)"),
    key(
        "warmup_requests",
        Kind::UInt,
        Some("1"),
        "requests sent before measuring (serving mode)",
    ),
    key(
        "repeats",
        Kind::UInt,
        Some("1"),
        "times each cell is measured",
    ),
    key(
        "select",
        Kind::Choice(&["best", "median"]),
        Some("\"best\""),
        "which repeat is recorded",
    ),
    key(
        "select_metric",
        Kind::Str,
        Some("\"median_e2e_latency_ms\""),
        "metric `select` ranks repeats by",
    ),
    key("seed", Kind::UInt, Some("1"), "random seed of the workload"),
    key(
        "client",
        Kind::Str,
        Some("\"builtin\""),
        "client kind: builtin (matrix bench) or another client of the engine profile (sglang: engine; vllm: sglang)",
    ),
];

/// Workload keys whose values can be swept as axes (all of them).
pub fn is_workload_key(name: &str) -> bool {
    WORKLOAD_KEYS.iter().any(|k| k.name == name)
}

/// The spec of `name` in a section table.
pub fn find(section: &'static [KeySpec], name: &str) -> Option<&'static KeySpec> {
    section.iter().find(|k| k.name == name)
}

/// Check one value against its key's kind; `Err` is what was expected.
pub fn check(spec: &KeySpec, value: &Value) -> Result<(), String> {
    if value.is_null() {
        return if spec.nullable || spec.default.is_some() {
            Ok(())
        } else {
            Err(expected(spec.kind))
        };
    }
    let ok = match spec.kind {
        Kind::UInt => value.as_u64().is_some(),
        Kind::Float => value.is_number(),
        Kind::Rate => value.as_f64().is_some_and(|v| v > 0.0) || value.as_str().is_some_and(is_inf),
        Kind::Str => value.is_string(),
        Kind::Choice(c) => value.as_str().is_some_and(|s| c.contains(&s)),
        Kind::CpuList => {
            return super::cpus::parse(value)
                .map(drop)
                .map_err(|e| format!("{} ({e})", expected(spec.kind)));
        }
    };
    if ok { Ok(()) } else { Err(expected(spec.kind)) }
}

fn is_inf(s: &str) -> bool {
    matches!(s.to_ascii_lowercase().as_str(), "inf" | "infinity" | ".inf")
}

fn expected(kind: Kind) -> String {
    match kind {
        Kind::UInt => "a non-negative integer".into(),
        Kind::Float => "a number".into(),
        Kind::Rate => "a positive number or `inf`".into(),
        Kind::Str => "a string".into(),
        Kind::Choice(c) => format!("one of: {}", c.join(", ")),
        Kind::CpuList => "a CPU list such as \"1\" or \"0-3,8\"".into(),
    }
}

/// The built-in defaults of a section as a JSON object.
pub fn defaults(section: &[KeySpec]) -> serde_json::Map<String, Value> {
    section
        .iter()
        .filter_map(|k| {
            let v = serde_json::from_str(k.default?).expect("built-in defaults are valid JSON");
            Some((k.name.to_string(), v))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kinds_accept_and_reject() {
        let rate = find(WORKLOAD_KEYS, "request_rate").unwrap();
        assert!(check(rate, &json!(4)).is_ok());
        assert!(check(rate, &json!("inf")).is_ok());
        assert!(check(rate, &json!(0)).is_err());
        assert!(check(rate, &json!("fast")).is_err());
        let port = find(RUN_KEYS, "port").unwrap();
        assert!(check(port, &json!(30000)).is_ok());
        assert!(check(port, &json!(-1)).is_err());
        assert!(check(port, &json!("30000")).is_err());
        let ds = find(WORKLOAD_KEYS, "dataset").unwrap();
        assert!(check(ds, &json!("sharegpt")).is_ok());
        assert!(
            check(ds, &json!("wiki"))
                .unwrap_err()
                .contains("random-ids")
        );
    }

    #[test]
    fn defaults_parse() {
        assert_eq!(defaults(RUN_KEYS)["port"], json!(30000));
        assert_eq!(defaults(WORKLOAD_KEYS)["repeats"], json!(1));
    }
}
