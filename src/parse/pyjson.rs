//! Reading JSON written by Python's `json.dumps`, which spells non-finite
//! floats as bare `Infinity`, `-Infinity` and `NaN` (SGLang writes
//! `"request_rate": Infinity`). serde_json rejects those, so [`parse_object`]
//! first quotes every bare number and non-finite spelling (outside strings
//! only), and [`number`] / [`count`] read the quoted text with Rust's
//! correctly rounded `str::parse`. That also keeps every float bit-exact:
//! serde_json's default float parser can be off by one ulp, and the CSV
//! should print back exactly what Python wrote.

use serde_json::{Map, Value};

/// Parse one line into a JSON object, accepting Python's non-finite floats.
pub fn parse_object(line: &str) -> Result<Map<String, Value>, String> {
    let text = quote_non_finite(line);
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(other) => Err(format!("expected an object, found {}", kind(&other))),
        Err(e) => Err(e.to_string()),
    }
}

/// A number, or one of the quoted non-finite spellings; `None` for null,
/// missing or anything else.
pub fn number(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.as_str() {
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            "NaN" => Some(f64::NAN),
            other => other.parse().ok().filter(|x: &f64| x.is_finite()),
        },
        _ => None,
    }
}

/// A number that is finite: NaN and infinities become `None` (a CSV
/// cell that is empty rather than `NaN`).
pub fn finite(v: Option<&Value>) -> Option<f64> {
    number(v).filter(|x| x.is_finite())
}

/// A non-negative integer (`20` or `20.0`).
pub fn count(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Number(n) => n.as_u64().or_else(|| integral(n.as_f64()?)),
        Value::String(s) => s.parse().ok().or_else(|| integral(s.parse().ok()?)),
        _ => None,
    }
}

fn integral(x: f64) -> Option<u64> {
    (x >= 0.0 && x.fract() == 0.0 && x < u64::MAX as f64).then_some(x as u64)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Quote bare numbers and `Infinity`, `-Infinity`, `NaN` outside strings.
fn quote_non_finite(line: &str) -> String {
    let mut out = String::with_capacity(line.len() + 16);
    let mut in_str = false;
    let mut escaped = false;
    let mut rest = line;
    while let Some(c) = rest.chars().next() {
        if in_str {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_str = false;
            }
            rest = &rest[c.len_utf8()..];
            continue;
        }
        if c == '"' {
            in_str = true;
            out.push(c);
            rest = &rest[1..];
            continue;
        }
        let token = ["-Infinity", "Infinity", "NaN"]
            .into_iter()
            .find(|t| rest.starts_with(t));
        let number_len = if c == '-' || c.is_ascii_digit() {
            rest.find(|x: char| !(x.is_ascii_digit() || "+-.eE".contains(x)))
                .unwrap_or(rest.len())
        } else {
            0
        };
        if let Some(t) = token {
            out.push('"');
            out.push_str(t);
            out.push('"');
            rest = &rest[t.len()..];
        } else if number_len > 0 {
            out.push('"');
            out.push_str(&rest[..number_len]);
            out.push('"');
            rest = &rest[number_len..];
        } else {
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_python_non_finite_floats_outside_strings_only() {
        let m = parse_object(
            r#"{"a": Infinity, "b": -Infinity, "c": NaN, "d": "NaN Infinity \" x", "e": [1, NaN]}"#,
        )
        .unwrap();
        assert_eq!(number(m.get("a")), Some(f64::INFINITY));
        assert_eq!(number(m.get("b")), Some(f64::NEG_INFINITY));
        assert!(number(m.get("c")).unwrap().is_nan());
        assert_eq!(finite(m.get("c")), None);
        assert_eq!(m["d"], "NaN Infinity \" x");
        assert_eq!(number(m.get("missing")), None);
    }

    #[test]
    fn floats_are_bit_exact() {
        let m = parse_object(r#"{"d": 0.11181188499995187, "n": -1.5e-3}"#).unwrap();
        assert_eq!(number(m.get("d")), Some(0.11181188499995187));
        assert_eq!(
            number(m.get("d")).unwrap().to_string(),
            "0.11181188499995187"
        );
        assert_eq!(number(m.get("n")), Some(-0.0015));
    }

    #[test]
    fn counts_accept_integral_floats_only() {
        let m = parse_object(r#"{"a": 20, "b": 20.0, "c": 2.5, "d": -1}"#).unwrap();
        assert_eq!(count(m.get("a")), Some(20));
        assert_eq!(count(m.get("b")), Some(20));
        assert_eq!(count(m.get("c")), None);
        assert_eq!(count(m.get("d")), None);
    }

    #[test]
    fn non_objects_are_errors() {
        assert!(parse_object("[1, 2]").unwrap_err().contains("an array"));
        assert!(parse_object("{\"a\": ").is_err());
    }
}
