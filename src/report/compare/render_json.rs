//! `matrix compare --json`: `{"format":1, ...CompareReport}`, a stable
//! shape (docs/COMPARE.md, "Usage").

use serde_json::{Map, Value};

use crate::report::compare::model::CompareReport;

/// Version of the JSON shape; bumped on any incompatible change.
pub const FORMAT: u64 = 1;

pub fn render_json(r: &CompareReport) -> String {
    let mut obj = Map::new();
    obj.insert("format".into(), Value::from(FORMAT));
    if let Ok(Value::Object(body)) = serde_json::to_value(r) {
        obj.extend(body);
    }
    let mut s = serde_json::to_string_pretty(&Value::Object(obj)).unwrap_or_default();
    s.push('\n');
    s
}
