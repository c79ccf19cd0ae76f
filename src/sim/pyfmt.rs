//! Python's text formats, so our output parses like SGLang's: `repr(float)`,
//! `json.dumps` (`", "` and `": "` separators, Python float repr) and a
//! `Namespace(...)`-style repr for the `server_args=` log line.

use serde_json::Value;

/// `repr(x)` for a float: shortest round-trip digits, scientific notation
/// below 1e-4 and from 1e16 on (`1e-05`, `1.5e+16`), `.0` on whole numbers.
pub fn float_repr(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    if x == 0.0 {
        return if x.is_sign_negative() {
            "-0.0".into()
        } else {
            "0.0".into()
        };
    }
    let sci = format!("{:e}", x.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let sign = if x < 0.0 { "-" } else { "" };
    if (-4..16).contains(&exp) {
        format!("{sign}{}", fixed(&digits, exp))
    } else {
        let (head, tail) = digits.split_at(1);
        let frac = if tail.is_empty() {
            String::new()
        } else {
            format!(".{tail}")
        };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{head}{frac}e{esign}{:02}", exp.abs())
    }
}

fn fixed(digits: &str, exp: i32) -> String {
    let n = digits.len() as i32;
    if exp < 0 {
        return format!("0.{}{digits}", "0".repeat((-exp - 1) as usize));
    }
    let int_len = exp + 1;
    if n <= int_len {
        format!("{digits}{}.0", "0".repeat((int_len - n) as usize))
    } else {
        let (i, f) = digits.split_at(int_len as usize);
        format!("{i}.{f}")
    }
}

/// `json.dumps(value)` with Python's default separators and float repr.
pub fn json_dumps(v: &Value) -> String {
    let mut out = String::new();
    dump(v, &mut out);
    out
}

fn dump(v: &Value, out: &mut String) {
    match v {
        Value::Number(n) if n.is_f64() => out.push_str(&float_repr(n.as_f64().unwrap_or(f64::NAN))),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                dump(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push_str(": ");
                dump(item, out);
            }
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// `Name(k=v, ...)` in Python repr style, for `server_args=ServerArgs(...)`.
pub fn namespace_repr(name: &str, v: &Value) -> String {
    let fields: Vec<String> = v
        .as_object()
        .map(|m| m.iter().map(|(k, x)| format!("{k}={}", repr(x))).collect())
        .unwrap_or_default();
    format!("{name}({})", fields.join(", "))
}

fn repr(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::String(s) => format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'")),
        Value::Number(n) if n.is_f64() => float_repr(n.as_f64().unwrap_or(f64::NAN)),
        Value::Array(a) => format!("[{}]", a.iter().map(repr).collect::<Vec<_>>().join(", ")),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_float_repr() {
        for (x, want) in [
            (0.012947744465709557, "0.012947744465709557"),
            (79087.1338797219, "79087.1338797219"),
            (1.0, "1.0"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (1.5e16, "1.5e+16"),
            (1234567.0, "1234567.0"),
            (-2.5, "-2.5"),
        ] {
            assert_eq!(float_repr(x), want, "{x}");
        }
    }

    #[test]
    fn json_dumps_like_python() {
        let v = serde_json::json!({"run_name": "default", "batch_size": 1, "total_latency": 0.5});
        assert_eq!(
            json_dumps(&v),
            r#"{"run_name": "default", "batch_size": 1, "total_latency": 0.5}"#
        );
    }
}
