//! `--set key=value` and `MATRIX_<SECTION>__<KEY>` environment overrides.

use serde_json::Value;

use super::ConfigError;
use super::schema;
use super::sections::{KeyProblem, Section, check_key, server_key, yaml_to_json};

/// One overridden key and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    pub section: Section,
    pub key: String,
    pub value: Value,
    /// As shown in provenance: `--set tp_size=4`, `env MATRIX_RUN__PORT`.
    pub source: String,
    /// Applies to this engine's cells only (`--gpu` → the simulator's
    /// `sim_gpu`); `None`: every engine.
    pub engine: Option<String>,
}

impl Override {
    /// Whether this override applies to cells of `engine`.
    pub fn applies_to(&self, engine: &str) -> bool {
        self.engine.as_deref().is_none_or(|e| e == engine)
    }
}

/// Parse one `--set` argument.
///
/// `section.key=value` names the section; a bare `key=value` is a workload
/// key when `matrix` knows it as one, else a server key. Server keys may be
/// written as on the command line (`tp-size`): they are kept as `tp_size`. The value is read
/// as a YAML scalar or flow collection, so `8` is a number, `true` a bool and
/// `[1, 2]` a list.
pub fn parse_set(arg: &str) -> Result<Override, ConfigError> {
    let bad = |reason: String| ConfigError::BadSet {
        arg: arg.to_string(),
        reason,
    };
    let (lhs, rhs) = arg
        .split_once('=')
        .ok_or_else(|| bad("expected KEY=VALUE".into()))?;
    let lhs = lhs.trim();
    let (section, key) = split_section(lhs);
    if key.is_empty() {
        return Err(bad("the key is empty".into()));
    }
    let key = match section {
        Section::Server => server_key(key),
        _ => key.to_string(),
    };
    let value = parse_value(rhs).map_err(bad)?;
    check_key(section, &key, &value).map_err(|p| bad(problem_text(p, section)))?;
    Ok(Override {
        section,
        key,
        value,
        source: format!("--set {lhs}"),
        engine: None,
    })
}

/// Overrides from `MATRIX_SERVER__*`, `MATRIX_RUN__*`, `MATRIX_WORKLOAD__*`
/// and `MATRIX_ENV__*` variables. Other `MATRIX_*` variables (such as
/// `MATRIX_ROOT` or the simulator's `MATRIX_SIM_*`) are not settings.
pub fn from_env<I>(vars: I) -> Result<Vec<Override>, ConfigError>
where
    I: IntoIterator<Item = (String, String)>,
{
    let mut out = Vec::new();
    for (name, raw) in vars {
        let Some(rest) = name.strip_prefix("MATRIX_") else {
            continue;
        };
        let Some((sec, key)) = rest.split_once("__") else {
            continue;
        };
        let section = match sec {
            "SERVER" => Section::Server,
            "RUN" => Section::Run,
            "WORKLOAD" => Section::Workload,
            "ENV" => Section::Env,
            _ => continue,
        };
        let key = match section {
            Section::Env => key.to_string(),
            Section::Server => server_key(&key.to_ascii_lowercase()),
            _ => key.to_ascii_lowercase(),
        };
        let bad = |reason: String| ConfigError::BadEnv {
            name: name.clone(),
            reason,
        };
        let value = parse_value(&raw).map_err(bad)?;
        check_key(section, &key, &value).map_err(|p| bad(problem_text(p, section)))?;
        out.push(Override {
            section,
            key,
            value,
            source: format!("env {name}"),
            engine: None,
        });
    }
    out.sort_by(|a, b| a.source.cmp(&b.source));
    Ok(out)
}

fn split_section(lhs: &str) -> (Section, &str) {
    if let Some((sec, key)) = lhs.split_once('.') {
        if let Some(s) = Section::ALL.iter().find(|s| s.name() == sec) {
            return (*s, key);
        }
    }
    if schema::is_workload_key(lhs) {
        (Section::Workload, lhs)
    } else {
        (Section::Server, lhs)
    }
}

/// A YAML scalar or flow collection, as JSON.
pub fn parse_value(raw: &str) -> Result<Value, String> {
    if raw.trim().is_empty() {
        return Ok(Value::String(String::new()));
    }
    let y: serde_yaml::Value =
        serde_yaml::from_str(raw).map_err(|e| format!("cannot read value `{raw}`: {e}"))?;
    yaml_to_json(&y)
}

fn problem_text(p: KeyProblem, section: Section) -> String {
    match p {
        KeyProblem::Unknown { suggestion, .. } => match suggestion {
            Some(s) => format!("unknown {} key (did you mean `{s}`?)", section.name()),
            None => format!("unknown {} key", section.name()),
        },
        KeyProblem::Invalid { expected } => format!("expected {expected}"),
        KeyProblem::EnvValue => "environment values must be scalars".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn set_routes_keys_to_sections() {
        let o = parse_set("tp_size=4").unwrap();
        assert_eq!(
            (o.section, o.key.as_str(), o.value),
            (Section::Server, "tp_size", json!(4))
        );
        let o = parse_set("run.port=31000").unwrap();
        assert_eq!(o.section, Section::Run);
        let o = parse_set("request_rate=inf").unwrap();
        assert_eq!((o.section, o.value), (Section::Workload, json!("inf")));
        let o = parse_set("env.NCCL_DEBUG=INFO").unwrap();
        assert_eq!((o.section, o.key.as_str()), (Section::Env, "NCCL_DEBUG"));
        let o = parse_set("cuda_graph_bs_decode=[1, 2, 4]").unwrap();
        assert_eq!(o.value, json!([1, 2, 4]));
    }

    #[test]
    fn server_keys_have_one_spelling_env_names_keep_theirs() {
        for arg in ["tp-size=4", "server.tp-size=4", "tp_size=4"] {
            let o = parse_set(arg).unwrap();
            assert_eq!((o.section, o.key.as_str()), (Section::Server, "tp_size"));
        }
        assert_eq!(parse_set("tp-size=4").unwrap().source, "--set tp-size");
        let o = parse_set("env.MY-VAR=1").unwrap();
        assert_eq!((o.section, o.key.as_str()), (Section::Env, "MY-VAR"));
        let o = from_env(vec![("MATRIX_SERVER__TP-SIZE".into(), "4".into())]).unwrap();
        assert_eq!(o[0].key, "tp_size");
    }

    #[test]
    fn set_rejects_bad_input() {
        assert!(parse_set("tp_size").is_err());
        assert!(
            parse_set("run.prot=1")
                .unwrap_err()
                .to_string()
                .contains("did you mean `port`")
        );
        assert!(parse_set("run.port=abc").is_err());
    }

    #[test]
    fn env_reads_only_setting_vars() {
        let vars = vec![
            (
                "MATRIX_SERVER__MEM_FRACTION_STATIC".to_string(),
                "0.8".to_string(),
            ),
            ("MATRIX_SIM_TIME_SCALE".to_string(), "0.01".to_string()),
            ("MATRIX_ENV__NCCL_DEBUG".to_string(), "INFO".to_string()),
            ("PATH".to_string(), "/bin".to_string()),
        ];
        let o = from_env(vars).unwrap();
        assert_eq!(o.len(), 2);
        assert_eq!(o[1].key, "mem_fraction_static");
        assert_eq!(o[0].key, "NCCL_DEBUG");
        assert!(from_env(vec![("MATRIX_RUN__PORT".into(), "x".into())]).is_err());
    }
}
