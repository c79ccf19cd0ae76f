//! YAML → flags, and command templates → argv.
//!
//! Flags: `null` skipped, `false` omitted (`--no-x` for argparse's
//! BooleanOptionalAction), `true` a bare flag, lists one flag followed by its
//! values, maps one JSON argument, `snake_case` keys `--kebab-case`. Each key
//! is checked against the engine's flag table first.

use indexmap::IndexMap;
use minijinja::value::Value as Mj;
use serde_json::Value;

use crate::config::engine::{ArgItem, CommandSpec};
use crate::config::yaml::Origin;
use crate::matrix::jinja_message;

use super::PlanError;
use super::flags::{Arity, Flag, FlagTable};

/// Where a server key came from, for messages.
pub trait KeyOrigin {
    /// The layer (file or override) that set `server.<key>`.
    fn source(&self, key: &str) -> String;
    /// The file, line and column of `server.<key>` where known.
    fn origin(&self, key: &str) -> Origin;
}

/// Render the server map as flags, checking each against `table`.
pub fn server_flags(
    server: &serde_json::Map<String, Value>,
    table: &FlagTable,
    engine: &str,
    extra: &[String],
    managed: &IndexMap<String, String>,
    origins: &dyn KeyOrigin,
) -> Result<Vec<String>, PlanError> {
    let mut out = Vec::new();
    for (key, value) in server {
        if value.is_null() {
            continue;
        }
        check_managed(key, managed, origins)?;
        let name = key.replace('_', "-");
        let flag = format!("--{name}");
        if extra.contains(key) {
            push_untyped(&mut out, &flag, value);
            continue;
        }
        let Some(spec) = table.get(&flag) else {
            let keys: Vec<String> = table.keys().chain(extra.iter().cloned()).collect();
            return Err(PlanError::UnknownFlag {
                origin: origins.origin(key),
                engine: engine.to_string(),
                key: key.clone(),
                flag: name,
                source_name: origins.source(key),
                suggestion: crate::suggest::did_you_mean(key, keys.iter().map(String::as_str)),
                table: table.source.clone(),
                note: None,
            });
        };
        push_checked(&mut out, &flag, spec, value).map_err(|(problem, choices)| {
            PlanError::BadValue {
                origin: origins.origin(key),
                key: key.clone(),
                value: value.to_string(),
                source_name: origins.source(key),
                problem,
                choices,
            }
        })?;
    }
    Ok(out)
}

/// A key `matrix` renders itself, set by a layer: an error with the hint.
pub fn check_managed(
    key: &str,
    managed: &IndexMap<String, String>,
    origins: &dyn KeyOrigin,
) -> Result<(), PlanError> {
    match managed.get(key) {
        Some(how) => Err(PlanError::Managed {
            origin: origins.origin(key),
            key: key.to_string(),
            source_name: origins.source(key),
            how: how.clone(),
        }),
        None => Ok(()),
    }
}

type Problem = (String, Option<Vec<String>>);

fn push_checked(
    out: &mut Vec<String>,
    flag: &str,
    spec: &Flag,
    value: &Value,
) -> Result<(), Problem> {
    let plain = |m: &str| (m.to_string(), None);
    match (spec.arity, value) {
        (Arity::Switch, Value::Bool(true)) => out.push(flag.to_string()),
        (Arity::Switch, Value::Bool(false)) => {}
        (Arity::Switch, _) => return Err(plain("this flag is a switch: use true or false")),
        (Arity::BoolPair, Value::Bool(true)) => out.push(flag.to_string()),
        (Arity::BoolPair, Value::Bool(false)) => out.push(format!("--no-{}", &flag[2..])),
        (Arity::BoolPair, _) => return Err(plain("this flag is a switch: use true or false")),
        (_, Value::Bool(false)) => {}
        (Arity::Optional, Value::Bool(true)) => out.push(flag.to_string()),
        (_, Value::Bool(true)) => return Err(plain("this flag takes a value, not `true`")),
        (Arity::One | Arity::Optional, Value::Array(_)) => {
            return Err(plain("this flag takes one value, not a list"));
        }
        (Arity::OneOrMore, Value::Array(items)) if items.is_empty() => {
            return Err(plain("this flag needs at least one value"));
        }
        (Arity::OneOrMore | Arity::Many, Value::Array(items)) => {
            out.push(flag.to_string());
            for v in items {
                check_one(spec, v)?;
                out.push(scalar_arg(v));
            }
        }
        (_, v) => {
            check_one(spec, v)?;
            out.push(flag.to_string());
            out.push(scalar_arg(v));
        }
    }
    Ok(())
}

/// Type and choice checks of one value.
fn check_one(spec: &Flag, v: &Value) -> Result<(), Problem> {
    if let Some(choices) = &spec.choices {
        let s = scalar_arg(v);
        if !choices.contains(&s) {
            return Err((
                format!("`{s}` is not one of the flag's choices"),
                Some(choices.clone()),
            ));
        }
        return Ok(());
    }
    let ok = match spec.value_type.as_deref() {
        Some("int") => v.is_i64() || v.is_u64(),
        Some("float") => v.is_number(),
        Some("human_readable_int") => v.is_i64() || v.is_u64() || v.is_string(),
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        let t = spec.value_type.clone().unwrap_or_default();
        Err((format!("expected a value of type {t}"), None))
    }
}

fn push_untyped(out: &mut Vec<String>, flag: &str, value: &Value) {
    match value {
        Value::Bool(true) => out.push(flag.to_string()),
        Value::Bool(false) | Value::Null => {}
        Value::Array(items) => {
            out.push(flag.to_string());
            out.extend(items.iter().map(scalar_arg));
        }
        v => {
            out.push(flag.to_string());
            out.push(scalar_arg(v));
        }
    }
}

/// One argument: strings as they are, numbers as written, maps and lists as
/// compact JSON (one argument).
pub fn scalar_arg(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => {
            if *b {
                "True".into()
            } else {
                "False".into()
            }
        }
        Value::Null => "None".into(),
        other => other.to_string(),
    }
}

/// A command spec with every template compiled once.
pub struct Compiled<'env> {
    items: Vec<Item<'env>>,
    env: Vec<(String, Item<'env>)>,
}

enum Item<'env> {
    Literal(String),
    /// Literal text and `{{ a.b.c }}` lookups only: rendered without the
    /// template VM (same output), since most argv items are just that.
    Parts(Vec<Part>, String, Origin),
    Template(minijinja::Template<'env, 'env>, String, Origin),
    Splice(minijinja::Expression<'env, 'env>, String, Origin),
}

/// Compile `spec` (found at `path` of the engine profile).
pub fn compile<'env>(
    env: &'env minijinja::Environment<'env>,
    spec: &'env CommandSpec,
    origin: &dyn Fn(&str) -> Origin,
    path: &str,
) -> Result<Compiled<'env>, PlanError> {
    let mut items = Vec::new();
    for (i, item) in spec.argv.iter().enumerate() {
        let p = format!("{path}.argv.{i}");
        items.push(compile_item(env, item, origin(&p))?);
    }
    let mut envs = Vec::new();
    for (k, v) in &spec.env {
        let p = format!("{path}.env.{k}");
        envs.push((k.clone(), compile_text(env, v, origin(&p))?));
    }
    Ok(Compiled { items, env: envs })
}

/// A single template (e.g. a results path) as a one-argument command.
pub fn compile_one<'env>(
    env: &'env minijinja::Environment<'env>,
    text: &'env str,
    origin: Origin,
) -> Result<Compiled<'env>, PlanError> {
    Ok(Compiled {
        items: vec![compile_text(env, text, origin)?],
        env: Vec::new(),
    })
}

fn compile_item<'env>(
    env: &'env minijinja::Environment<'env>,
    item: &'env ArgItem,
    origin: Origin,
) -> Result<Item<'env>, PlanError> {
    match item {
        ArgItem::Text(s) => compile_text(env, s, origin),
        ArgItem::Splice { splice } => Ok(Item::Splice(
            env.compile_expression(splice)
                .map_err(|e| template_error(splice, e, origin.clone(), None))?,
            splice.clone(),
            origin,
        )),
    }
}

fn compile_text<'env>(
    env: &'env minijinja::Environment<'env>,
    s: &'env str,
    origin: Origin,
) -> Result<Item<'env>, PlanError> {
    if !s.contains("{{") && !s.contains("{%") && !s.contains("{#") {
        return Ok(Item::Literal(s.to_string()));
    }
    if let Some(parts) = simple_parts(s) {
        // Still compile it, so syntax is checked the same way.
        env.template_from_str(s)
            .map_err(|e| template_error(s, e, origin.clone(), None))?;
        return Ok(Item::Parts(parts, s.to_string(), origin));
    }
    let t = env
        .template_from_str(s)
        .map_err(|e| template_error(s, e, origin.clone(), None))?;
    Ok(Item::Template(t, s.to_string(), origin))
}

fn template_error(src: &str, e: minijinja::Error, origin: Origin, ctx: Option<&Mj>) -> PlanError {
    PlanError::Template {
        origin,
        template: src.to_string(),
        message: jinja_message(&e, src, ctx),
    }
}

impl Compiled<'_> {
    /// Render argv and environment with the variables `ctx`.
    pub fn render(&self, ctx: &Mj) -> Result<(Vec<String>, IndexMap<String, String>), PlanError> {
        let mut argv = Vec::with_capacity(self.items.len() + 16);
        for item in &self.items {
            render_item(item, ctx, &mut argv)?;
        }
        let mut env = IndexMap::new();
        for (k, item) in &self.env {
            let mut v = Vec::new();
            render_item(item, ctx, &mut v)?;
            env.insert(k.clone(), v.concat());
        }
        Ok((argv, env))
    }
}

fn render_item(item: &Item<'_>, ctx: &Mj, out: &mut Vec<String>) -> Result<(), PlanError> {
    let err = |src: &str, e: minijinja::Error, origin: &Origin| {
        template_error(src, e, origin.clone(), Some(ctx))
    };
    match item {
        Item::Literal(s) => out.push(s.clone()),
        Item::Parts(parts, src, origin) => {
            let mut text = String::new();
            for part in parts {
                match part {
                    Part::Text(t) => text.push_str(t),
                    Part::Path(path) => {
                        let v = lookup(ctx, path).map_err(|e| err(src, e, origin))?;
                        use std::fmt::Write;
                        let _ = write!(text, "{v}");
                    }
                }
            }
            out.push(text);
        }
        Item::Template(t, src, origin) => out.push(t.render(ctx).map_err(|e| err(src, e, origin))?),
        Item::Splice(expr, src, origin) => {
            let v = expr.eval(ctx).map_err(|e| err(src, e, origin))?;
            if v.is_none() || v.is_undefined() {
                return Ok(());
            }
            let iter = v.try_iter().map_err(|e| err(src, e, origin))?;
            for x in iter {
                if x.is_undefined() {
                    let e = minijinja::Error::new(
                        minijinja::ErrorKind::UndefinedError,
                        "a list item is undefined",
                    );
                    return Err(err(src, e, origin));
                }
                out.push(mj_arg(&x));
            }
        }
    }
    Ok(())
}

/// One piece of a simple template.
enum Part {
    Text(String),
    Path(Vec<String>),
}

/// Split a template into literal text and `{{ a.b }}` lookups; `None` when
/// it uses anything else (filters, expressions, blocks, comments).
fn simple_parts(s: &str) -> Option<Vec<Part>> {
    if s.contains("{%") || s.contains("{#") {
        return None;
    }
    let mut parts = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find("{{") {
        if start > 0 {
            parts.push(Part::Text(rest[..start].to_string()));
        }
        let end = rest[start..].find("}}")? + start;
        parts.push(Part::Path(simple_path(rest[start + 2..end].trim())?));
        rest = &rest[end + 2..];
    }
    if rest.contains("}}") {
        return None;
    }
    if !rest.is_empty() {
        parts.push(Part::Text(rest.to_string()));
    }
    Some(parts)
}

/// `name` or `a.b.c`: the dotted path, else `None`.
fn simple_path(inner: &str) -> Option<Vec<String>> {
    let ok = !inner.is_empty()
        && inner.split('.').all(|seg| {
            let mut c = seg.chars();
            c.next()
                .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
                && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
        });
    ok.then(|| inner.split('.').map(str::to_string).collect())
}

/// Follow a dotted path; undefined anywhere is an error (strict templates).
fn lookup(ctx: &Mj, path: &[String]) -> Result<Mj, minijinja::Error> {
    let mut v = ctx.clone();
    for seg in path {
        v = v.get_attr(seg)?;
        if v.is_undefined() {
            return Err(minijinja::Error::new(
                minijinja::ErrorKind::UndefinedError,
                "undefined value",
            ));
        }
    }
    Ok(v)
}

/// A template value as one argument.
fn mj_arg(v: &Mj) -> String {
    match v.as_str() {
        Some(s) => s.to_string(),
        None => v.to_string(),
    }
}

/// Check every `--flag` of a rendered argv against a table (the program
/// tokens before the first flag never start with `--`). Values are not
/// checked here: server values were checked when rendered.
pub fn check_argv(
    argv: &[String],
    table: &FlagTable,
    extra: &[String],
    origin: &Origin,
) -> Result<(), PlanError> {
    for tok in argv {
        if !tok.starts_with("--") || tok.len() < 3 {
            continue;
        }
        let name = tok.split('=').next().unwrap_or(tok);
        let key = name[2..].replace('-', "_");
        if table.get(name).is_some() || extra.contains(&key) {
            continue;
        }
        let keys: Vec<String> = table.flags.iter().flat_map(|f| f.options.clone()).collect();
        return Err(PlanError::UnknownArgvFlag {
            origin: origin.clone(),
            flag: name.to_string(),
            table: table.source.clone(),
            suggestion: crate::suggest::did_you_mean(name, keys.iter().map(String::as_str)),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct NoOrigin;
    impl KeyOrigin for NoOrigin {
        fn source(&self, _: &str) -> String {
            "test.yaml".into()
        }
        fn origin(&self, _: &str) -> Origin {
            Origin {
                file: "test.yaml".into(),
                location: None,
            }
        }
    }

    fn table() -> FlagTable {
        let text = include_str!("../../conf/engine/flags/sglang-0.5.23.json");
        FlagTable::from_json(text, "launch_server", "t".into()).unwrap()
    }

    fn render(v: Value) -> Result<Vec<String>, PlanError> {
        server_flags(
            v.as_object().unwrap(),
            &table(),
            "sglang",
            &[],
            &IndexMap::new(),
            &NoOrigin,
        )
    }

    #[test]
    fn yaml_to_flags_rules() {
        let argv = render(json!({
            "a_null": null,
            "disable_radix_cache": true,
            "enable_torch_compile": false,
            "tp_size": 8,
            "mem_fraction_static": 0.5,
            "chunked_prefill_size": -1,
            "cuda_graph_bs_decode": [1, 2, 4],
            "json_model_override_args": {"a": 1},
            "enable_tf32_matmul": false,
            "served_model_name": "my model; rm -rf /",
        }))
        .unwrap();
        assert_eq!(
            argv,
            vec![
                "--disable-radix-cache",
                "--tp-size",
                "8",
                "--mem-fraction-static",
                "0.5",
                "--chunked-prefill-size",
                "-1",
                "--cuda-graph-bs-decode",
                "1",
                "2",
                "4",
                "--json-model-override-args",
                "{\"a\":1}",
                "--no-enable-tf32-matmul",
                "--served-model-name",
                "my model; rm -rf /",
            ]
        );
    }

    #[test]
    fn simple_paths_render_like_templates() {
        assert_eq!(
            simple_path("run.host"),
            Some(vec!["run".into(), "host".into()])
        );
        assert!(simple_parts("{{x}}").is_some());
        assert!(simple_parts("{{ a }}/{{ b.c }}.jsonl").is_some());
        assert!(simple_parts("{{ x | default(1) }}").is_none());
        assert!(simple_parts("{% if a %}b{% endif %}").is_none());
        assert!(simple_parts("a }} b").is_none());
        let env = crate::matrix::scope::environment();
        let spec = CommandSpec {
            argv: vec![
                ArgItem::Text("{{ a.b }}".into()),
                ArgItem::Text("{{ a.b }}!/{{f}}".into()),
                ArgItem::Text("{{ f }}".into()),
            ],
            env: IndexMap::new(),
        };
        let origin = |_: &str| Origin {
            file: "t".into(),
            location: None,
        };
        let c = compile(&env, &spec, &origin, "x").unwrap();
        let ctx = Mj::from_serialize(json!({"a": {"b": 3}, "f": 0.5}));
        let fast = c.render(&ctx).unwrap().0;
        assert_eq!(fast, vec!["3", "3!/0.5", "0.5"]);
        // Same output as the template VM.
        for (item, out) in spec.argv.iter().zip(&fast) {
            let ArgItem::Text(t) = item else {
                unreachable!()
            };
            assert_eq!(&env.render_str(t, &ctx).unwrap(), out);
        }
        let bad = Mj::from_serialize(json!({"a": {}}));
        assert!(c.render(&bad).is_err());
    }

    #[test]
    fn bad_flags_are_errors() {
        let e = render(json!({"tp_sise": 8})).unwrap_err();
        assert!(
            matches!(&e, PlanError::UnknownFlag { suggestion: Some(s), .. } if s == "tp_size"),
            "{e:?}"
        );
        let e = render(json!({"attention_backend": "fa9"})).unwrap_err();
        assert!(
            matches!(&e, PlanError::BadValue { choices: Some(c), .. } if c.contains(&"fa3".to_string()))
        );
        assert!(render(json!({"tp_size": "eight"})).is_err());
        assert!(render(json!({"disable_radix_cache": "yes"})).is_err());
        assert!(render(json!({"tp_size": true})).is_err());
        assert!(render(json!({"tp_size": [1, 2]})).is_err());
    }
}
