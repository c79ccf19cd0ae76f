//! How a cell and a template error read in messages.

use indexmap::IndexMap;
use serde_json::Value;

use super::scope;

/// `deploy=tp8 request_rate=4` for messages.
pub fn describe(axes: &IndexMap<String, Value>) -> String {
    if axes.is_empty() {
        return "(no axes)".into();
    }
    axes.iter()
        .map(|(k, v)| match v {
            Value::String(s) => format!("{k}={s}"),
            other => format!("{k}={other}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// minijinja's message without its own template-name decoration; an
/// undefined-variable error names the variables `ctx` lacks.
pub fn jinja_message(e: &minijinja::Error, src: &str, ctx: Option<&minijinja::Value>) -> String {
    let detail = e
        .detail()
        .map(str::to_string)
        .unwrap_or_else(|| e.kind().to_string());
    let names = ctx
        .map(|c| scope::undefined_names(src, c))
        .unwrap_or_default();
    match names.as_slice() {
        [] => detail,
        [one] => format!("undefined variable `{one}`"),
        many => format!(
            "undefined variables {}",
            many.iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}
