//! JSON lines written the way Python's `json.dumps` writes them: `", "` and
//! `": "` separators, and `Infinity` / `NaN` for non-finite floats (which
//! SGLang emits, e.g. `"request_rate": Infinity`). Parsers that accept
//! Python's output (Python, pandas, serde_json is *not* one of them for
//! `Infinity`) read these lines unchanged.

use serde_json::Value;
use serde_json::ser::Formatter;
use std::io;

/// A non-finite float, spelled as Python spells it, for use in a [`Value`]
/// tree; [`to_line`] turns the marker back into a bare literal.
pub fn float(x: f64) -> Value {
    if x.is_finite() {
        serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
    } else if x.is_nan() {
        Value::String(MARK_NAN.into())
    } else if x > 0.0 {
        Value::String(MARK_INF.into())
    } else {
        Value::String(MARK_NEG_INF.into())
    }
}

const MARK_NAN: &str = "\u{1}py:NaN";
const MARK_INF: &str = "\u{1}py:Infinity";
const MARK_NEG_INF: &str = "\u{1}py:-Infinity";

struct PyFormatter;

impl Formatter for PyFormatter {
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }
    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }
    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }
}

/// One line (no newline) in Python's `json.dumps` style.
pub fn to_line(v: &Value) -> String {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, PyFormatter);
    // Serializing a Value into a Vec cannot fail.
    let _ = serde::Serialize::serialize(v, &mut ser);
    let s = String::from_utf8(out).unwrap_or_default();
    s.replace("\"\\u0001py:NaN\"", "NaN")
        .replace("\"\\u0001py:Infinity\"", "Infinity")
        .replace("\"\\u0001py:-Infinity\"", "-Infinity")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn python_style_line() {
        let v = json!({"a": float(f64::INFINITY), "b": [1, 2], "c": null, "d": float(262.0)});
        assert_eq!(
            to_line(&v),
            r#"{"a": Infinity, "b": [1, 2], "c": null, "d": 262.0}"#
        );
    }
}
