//! Typed reads of an HF config.json object with key aliases.
//!
//! Model families spell the same quantity differently (`num_hidden_layers`,
//! `n_layer`, `num_layers`, ...). Every read takes the list of accepted
//! spellings, canonical one first; the first present, non-null key wins, and
//! errors name the canonical key and the file.

use serde_json::{Map, Value};

use super::ModelError;

/// A config object plus the file name used in error messages.
pub(crate) struct Keys<'a> {
    map: &'a Map<String, Value>,
    origin: &'a str,
}

impl<'a> Keys<'a> {
    pub(crate) fn new(map: &'a Map<String, Value>, origin: &'a str) -> Self {
        Keys { map, origin }
    }

    pub(crate) fn origin(&self) -> &str {
        self.origin
    }

    /// The first present, non-null value among `aliases`, with its key.
    pub(crate) fn find(&self, aliases: &[&'static str]) -> Option<(&'static str, &'a Value)> {
        aliases
            .iter()
            .find_map(|k| self.map.get(*k).filter(|v| !v.is_null()).map(|v| (*k, v)))
    }

    /// A required non-negative integer.
    pub(crate) fn req_u64(&self, aliases: &[&'static str]) -> Result<u64, ModelError> {
        self.opt_u64(aliases)?
            .ok_or_else(|| ModelError::MissingKey {
                origin: self.origin.to_string(),
                key: aliases[0],
                aliases: aliases.to_vec(),
            })
    }

    /// A required integer that must be at least 1 (a size or a count).
    pub(crate) fn req_positive(&self, aliases: &[&'static str]) -> Result<u64, ModelError> {
        let v = self.req_u64(aliases)?;
        if v == 0 {
            return Err(self.bad(aliases[0], "a positive integer", &Value::from(0)));
        }
        Ok(v)
    }

    /// An optional non-negative integer (`null` counts as absent).
    pub(crate) fn opt_u64(&self, aliases: &[&'static str]) -> Result<Option<u64>, ModelError> {
        match self.find(aliases) {
            None => Ok(None),
            Some((key, v)) => as_u64(v)
                .map(Some)
                .ok_or_else(|| self.bad(key, "a non-negative integer", v)),
        }
    }

    /// An optional boolean.
    pub(crate) fn opt_bool(&self, aliases: &[&'static str]) -> Result<Option<bool>, ModelError> {
        match self.find(aliases) {
            None => Ok(None),
            Some((key, v)) => v
                .as_bool()
                .map(Some)
                .ok_or_else(|| self.bad(key, "true or false", v)),
        }
    }

    /// An optional string.
    pub(crate) fn opt_str(&self, aliases: &[&'static str]) -> Result<Option<&'a str>, ModelError> {
        match self.find(aliases) {
            None => Ok(None),
            Some((key, v)) => v
                .as_str()
                .map(Some)
                .ok_or_else(|| self.bad(key, "a string", v)),
        }
    }

    /// An optional list of non-negative integers (e.g. `mlp_only_layers`).
    pub(crate) fn opt_u64_list(&self, aliases: &[&'static str]) -> Result<Vec<u64>, ModelError> {
        let Some((key, v)) = self.find(aliases) else {
            return Ok(Vec::new());
        };
        let items = v
            .as_array()
            .ok_or_else(|| self.bad(key, "a list of integers", v))?;
        items
            .iter()
            .map(|i| as_u64(i).ok_or_else(|| self.bad(key, "a list of integers", v)))
            .collect()
    }

    /// A nested object (e.g. `quantization_config`).
    pub(crate) fn opt_object(
        &self,
        aliases: &[&'static str],
    ) -> Result<Option<Keys<'a>>, ModelError> {
        match self.find(aliases) {
            None => Ok(None),
            Some((key, v)) => v
                .as_object()
                .map(|m| Some(Keys::new(m, self.origin)))
                .ok_or_else(|| self.bad(key, "an object", v)),
        }
    }

    /// The first entry of the object, in file order.
    pub(crate) fn first(&self) -> Option<(&'a String, &'a Value)> {
        self.map.iter().next()
    }

    /// The wrong-type error for `key`.
    pub(crate) fn bad(&self, key: &str, expected: &'static str, found: &Value) -> ModelError {
        let mut found = found.to_string();
        if found.len() > 60 {
            found.truncate(57);
            found.push_str("...");
        }
        ModelError::BadValue {
            origin: self.origin.to_string(),
            key: key.to_string(),
            expected,
            found,
        }
    }
}

/// Integers, also written as floats with no fraction (`4096.0`), are accepted.
fn as_u64(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| {
        v.as_f64()
            .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= u64::MAX as f64)
            .map(|f| f as u64)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(text: &str) -> Map<String, Value> {
        serde_json::from_str(text).expect("test JSON")
    }

    #[test]
    fn first_present_alias_wins_and_null_is_absent() {
        let m = obj(r#"{"n_layer": null, "num_layers": 12}"#);
        let k = Keys::new(&m, "c.json");
        assert_eq!(
            k.req_u64(&["num_hidden_layers", "n_layer", "num_layers"])
                .ok(),
            Some(12)
        );
    }

    #[test]
    fn missing_key_names_canonical_key_and_file() {
        let m = obj("{}");
        let err = Keys::new(&m, "c.json")
            .req_u64(&["hidden_size", "n_embd"])
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "c.json: missing required key `hidden_size`"
        );
        assert!(err.hint().unwrap_or_default().contains("n_embd"));
    }

    #[test]
    fn wrong_type_is_an_error_not_a_default() {
        let m = obj(r#"{"hidden_size": "big", "x": 4096.0, "z": 0}"#);
        let k = Keys::new(&m, "c.json");
        assert!(k.req_u64(&["hidden_size"]).is_err());
        assert_eq!(k.req_u64(&["x"]).ok(), Some(4096));
        assert!(k.req_positive(&["z"]).is_err());
    }
}
