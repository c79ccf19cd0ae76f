//! Generic SGLang-style argv parsing.
//!
//! The engine profile renders YAML into `--kebab-case` flags: bare booleans,
//! lists as one flag followed by several values, maps as one JSON argument.
//! SGLang has 500+ flags and the simulator uses a handful, so instead of a
//! full table we parse generically: a `--flag` takes every following token
//! that does not itself start with `--` (so `-1` is a value). `--flag=value`
//! works too. Typed accessors then validate the few flags we care about.

use indexmap::IndexMap;

use super::error::SimError;

/// Flags in command-line order, each with its values (empty for a bare flag).
#[derive(Debug, Clone, Default)]
pub struct RawArgs {
    flags: IndexMap<String, Vec<String>>,
}

impl RawArgs {
    /// Split argv into flags and their values. A later repeat of a flag wins,
    /// like argparse's store action.
    pub fn parse(argv: &[String]) -> Result<Self, SimError> {
        let mut flags: IndexMap<String, Vec<String>> = IndexMap::new();
        let mut current: Option<String> = None;
        for token in argv {
            if let Some(body) = token.strip_prefix("--") {
                let (name, inline) = match body.split_once('=') {
                    Some((n, v)) => (n, Some(v.to_string())),
                    None => (body, None),
                };
                let key = format!("--{name}");
                flags.insert(key.clone(), inline.into_iter().collect());
                current = Some(key);
            } else if let Some(key) = &current {
                if let Some(values) = flags.get_mut(key) {
                    values.push(token.clone());
                }
            } else {
                return Err(SimError::Positional(token.clone()));
            }
        }
        Ok(RawArgs { flags })
    }

    /// Whether any of the aliases was given (bare boolean flags).
    pub fn has(&self, aliases: &[&str]) -> bool {
        aliases.iter().any(|a| self.flags.contains_key(*a))
    }

    /// The values of the first alias present.
    pub fn values(&self, aliases: &[&str]) -> Option<(&str, &[String])> {
        aliases
            .iter()
            .find_map(|a| self.flags.get_key_value(*a))
            .map(|(k, v)| (k.as_str(), v.as_slice()))
    }

    /// A single-valued flag as a string.
    pub fn str(&self, aliases: &[&str]) -> Result<Option<&str>, SimError> {
        match self.values(aliases) {
            None => Ok(None),
            Some((_, [one])) => Ok(Some(one.as_str())),
            Some((flag, [])) => Err(SimError::bad_flag(flag, "", "expected one value")),
            Some((flag, many)) => Err(SimError::bad_flag(
                flag,
                &many.join(" "),
                "expected one value",
            )),
        }
    }

    /// A single-valued flag parsed with `parse`.
    pub fn parsed<T>(
        &self,
        aliases: &[&str],
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Option<T>, SimError> {
        let Some(raw) = self.str(aliases)? else {
            return Ok(None);
        };
        let flag = self.values(aliases).map(|(f, _)| f).unwrap_or(aliases[0]);
        parse(raw)
            .map(Some)
            .map_err(|why| SimError::bad_flag(flag, raw, why))
    }

    /// A list flag (`nargs='+'`), each value parsed with `parse`.
    pub fn list<T>(
        &self,
        aliases: &[&str],
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Option<Vec<T>>, SimError> {
        let Some((flag, raw)) = self.values(aliases) else {
            return Ok(None);
        };
        if raw.is_empty() {
            return Err(SimError::bad_flag(flag, "", "expected at least one value"));
        }
        raw.iter()
            .map(|v| parse(v).map_err(|why| SimError::bad_flag(flag, v, why)))
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    /// Every flag not in `known`, for the debug log of ignored flags.
    pub fn unknown<'a>(&'a self, known: &[&str]) -> Vec<&'a str> {
        self.flags
            .keys()
            .map(String::as_str)
            .filter(|k| !known.contains(k))
            .collect()
    }
}

/// argparse `type=int`.
pub fn int(raw: &str) -> Result<i64, String> {
    raw.trim()
        .parse::<i64>()
        .map_err(|_| "not an integer".to_string())
}

/// A positive integer (sizes, counts).
pub fn positive(raw: &str) -> Result<u64, String> {
    match int(raw)? {
        n if n >= 1 => Ok(n as u64),
        _ => Err("must be at least 1".into()),
    }
}

/// A non-negative integer (ranks, seeds).
pub fn non_negative(raw: &str) -> Result<u64, String> {
    match int(raw)? {
        n if n >= 0 => Ok(n as u64),
        _ => Err("must not be negative".into()),
    }
}

/// argparse `type=float`.
pub fn float(raw: &str) -> Result<f64, String> {
    match raw.trim().parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err("not a number".into()),
    }
}

/// SGLang's `human_readable_int`: `4096`, `128k` (×1000), `32K` (×1024).
pub fn human_int(raw: &str) -> Result<i64, String> {
    let raw = raw.trim();
    let Some(suffix) = raw.chars().last().filter(|c| c.is_ascii_alphabetic()) else {
        return int(raw);
    };
    let number = &raw[..raw.len() - suffix.len_utf8()];
    let decimal = match suffix {
        'k' => Some(1e3),
        'm' => Some(1e6),
        'g' => Some(1e9),
        't' => Some(1e12),
        _ => None,
    };
    if let Some(mult) = decimal {
        let v = float(number)?;
        return Ok((v * mult) as i64);
    }
    let shift = match suffix {
        'K' => 10,
        'M' => 20,
        'G' => 30,
        'T' => 40,
        _ => return Err("unknown size suffix".into()),
    };
    let v = number
        .parse::<i64>()
        .map_err(|_| "binary suffixes take whole numbers".to_string())?;
    v.checked_mul(1 << shift).ok_or_else(|| "too large".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn lists_bools_negatives_and_inline_values() {
        let a = RawArgs::parse(&argv(
            "--model-path /m --batch-size 1 2 4 --disable-cuda-graph --chunked-prefill-size -1 --port=31000",
        ))
        .unwrap();
        assert_eq!(a.str(&["--model-path"]).unwrap(), Some("/m"));
        assert_eq!(
            a.list(&["--batch-size"], positive).unwrap(),
            Some(vec![1, 2, 4])
        );
        assert!(a.has(&["--disable-cuda-graph"]));
        assert_eq!(
            a.parsed(&["--chunked-prefill-size"], int).unwrap(),
            Some(-1)
        );
        assert_eq!(a.parsed(&["--port"], int).unwrap(), Some(31000));
        assert_eq!(a.unknown(&["--model-path", "--port"]).len(), 3);
    }

    #[test]
    fn errors_name_the_flag() {
        let a = RawArgs::parse(&argv("--tp-size eight")).unwrap();
        let err = a.parsed(&["--tp-size"], positive).unwrap_err();
        assert!(err.to_string().contains("--tp-size"), "{err}");
        assert!(RawArgs::parse(&argv("stray --x")).is_err());
    }

    #[test]
    fn human_readable_ints() {
        assert_eq!(human_int("128k"), Ok(128_000));
        assert_eq!(human_int("32K"), Ok(32_768));
        assert_eq!(human_int("4096"), Ok(4096));
        assert!(human_int("1.5K").is_err());
    }
}
