//! Flag tables: which options an engine entry point accepts, whether each is
//! a switch or takes values, and its choices.
//!
//! Two sources, one shape: the shipped JSON dump of SGLang's argparse parser
//! (`conf/engine/flags/*.json`), or the `--help` text of an installed engine,
//! parsed here. A test checks that both agree for SGLang 0.5.23.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::Value;

/// How a flag consumes the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arity {
    /// A switch: present or absent (`store_true`).
    Switch,
    /// `--x` / `--no-x` (argparse's BooleanOptionalAction).
    BoolPair,
    /// Exactly one value.
    One,
    /// One or more values (`nargs='+'`).
    OneOrMore,
    /// Zero or more values (`nargs='*'`).
    Many,
    /// Zero or one value (`nargs='?'`).
    Optional,
}

/// One option of an entry point.
#[derive(Debug, Clone, PartialEq)]
pub struct Flag {
    /// Every spelling, first is canonical: `--tp-size`, `--tensor-parallel-size`.
    pub options: Vec<String>,
    pub arity: Arity,
    pub choices: Option<Vec<String>>,
    /// argparse's type name where known (`int`, `float`, `str`, ...).
    pub value_type: Option<String>,
    pub deprecated: bool,
}

/// The options of one entry point.
#[derive(Debug, Clone, Default)]
pub struct FlagTable {
    /// Where the table came from, for messages.
    pub source: String,
    pub flags: Vec<Flag>,
    by_option: HashMap<String, usize>,
}

#[derive(Deserialize)]
struct JsonFlag {
    options: Vec<String>,
    action: String,
    nargs: Option<Value>,
    choices: Option<Vec<Value>>,
    #[serde(rename = "type")]
    value_type: Option<String>,
}

impl FlagTable {
    pub fn new(source: String, flags: Vec<Flag>) -> Self {
        let mut by_option = HashMap::new();
        for (i, f) in flags.iter().enumerate() {
            for o in &f.options {
                by_option.insert(o.clone(), i);
            }
        }
        FlagTable {
            source,
            flags,
            by_option,
        }
    }

    /// Read entry `entry` (`launch_server`) of a shipped JSON dump.
    pub fn from_json(text: &str, entry: &str, source: String) -> Result<Self, String> {
        let doc: HashMap<String, Value> =
            serde_json::from_str(text).map_err(|e| format!("not a flag table: {e}"))?;
        let list = doc
            .get(entry)
            .ok_or_else(|| format!("no entry `{entry}` (has: {})", keys(&doc)))?;
        let raw: Vec<JsonFlag> =
            serde_json::from_value(list.clone()).map_err(|e| format!("entry `{entry}`: {e}"))?;
        let flags = raw.into_iter().filter_map(from_json_flag).collect();
        Ok(FlagTable::new(source, flags))
    }

    /// Parse argparse `--help` output.
    pub fn from_help(text: &str, source: String) -> Self {
        let flags = option_lines(text).filter_map(parse_help_line).collect();
        FlagTable::new(source, flags)
    }

    pub fn get(&self, option: &str) -> Option<&Flag> {
        self.by_option.get(option).map(|&i| &self.flags[i])
    }

    /// Every option as a snake_case key (`tp_size`), for did-you-mean.
    pub fn keys(&self) -> impl Iterator<Item = String> + '_ {
        self.flags
            .iter()
            .flat_map(|f| f.options.iter())
            .filter(|o| o.starts_with("--"))
            .map(|o| o.trim_start_matches("--").replace('-', "_"))
    }
}

fn keys(doc: &HashMap<String, Value>) -> String {
    let mut k: Vec<&str> = doc.keys().map(String::as_str).collect();
    k.sort();
    k.join(", ")
}

fn from_json_flag(f: JsonFlag) -> Option<Flag> {
    let arity = match f.action.as_str() {
        "_HelpAction" | "_VersionAction" => return None,
        "_StoreTrueAction" | "_StoreFalseAction" | "DeprecatedStoreTrueAction" => Arity::Switch,
        "BooleanOptionalAction" => Arity::BoolPair,
        "DeprecatedStoreConstAction" | "_StoreConstAction" => Arity::Switch,
        _ => match f.nargs.as_ref().and_then(Value::as_str) {
            Some("+") => Arity::OneOrMore,
            Some("*") => Arity::Many,
            Some("?") => Arity::Optional,
            _ if f.nargs.as_ref().and_then(Value::as_u64) == Some(0) => Arity::Switch,
            _ => Arity::One,
        },
    };
    let choices = f.choices.map(|c| {
        c.into_iter()
            .map(|v| match v {
                Value::String(s) => s,
                other => other.to_string(),
            })
            .collect()
    });
    Some(Flag {
        options: f.options,
        arity,
        choices,
        value_type: f.value_type,
        deprecated: f.action.starts_with("Deprecated"),
    })
}

/// The option lines of an argparse help text: two spaces then a dash, in
/// the "options:" section (the usage block is indented further).
fn option_lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines().filter(|l| {
        l.starts_with("  -") && !l.starts_with("   ")
    })
}

/// `  --tp-size TP_SIZE, --tensor-parallel-size TP_SIZE  (description)`
fn parse_help_line(line: &str) -> Option<Flag> {
    // The description starts after two or more spaces following the specs.
    let specs = line.trim_start();
    let specs = match specs.find("  ") {
        Some(i) => &specs[..i],
        None => specs,
    };
    let mut options = Vec::new();
    let mut arity = Arity::Switch;
    let mut choices = None;
    for spec in split_specs(specs) {
        let mut parts = spec.splitn(2, ' ');
        let opt = parts.next()?.to_string();
        if !opt.starts_with('-') {
            return None;
        }
        if let Some(rest) = parts.next() {
            arity = metavar_arity(rest);
            if let Some(inner) = rest.strip_prefix('{').and_then(|r| r.split('}').next()) {
                choices = Some(inner.split(',').map(str::to_string).collect());
            }
        }
        options.push(opt);
    }
    if options.iter().any(|o| o == "-h" || o == "--help") {
        return None;
    }
    let pair = options.len() == 2 && options[1] == format!("--no-{}", options[0].trim_start_matches("--"));
    if pair {
        arity = Arity::BoolPair;
    }
    Some(Flag {
        options,
        arity,
        choices,
        value_type: None,
        deprecated: false,
    })
}

/// Split `--a A, --b {x,y}` at the commas between specs (not inside braces).
fn split_specs(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    let bytes = s.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth -= 1,
            b',' if depth == 0 && bytes.get(i + 1) == Some(&b' ') => {
                out.push(s[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(s[start..].trim());
    out
}

/// `X`, `X [X ...]`, `[X ...]`, `[X]` → arity.
fn metavar_arity(rest: &str) -> Arity {
    let rest = rest.trim();
    if rest.starts_with('[') && rest.ends_with("...]") {
        Arity::Many
    } else if rest.ends_with("...]") {
        Arity::OneOrMore
    } else if rest.starts_with('[') {
        Arity::Optional
    } else {
        Arity::One
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_lines_parse() {
        let f = parse_help_line("  --tp-size TP_SIZE, --tensor-parallel-size TP_SIZE").unwrap();
        assert_eq!(f.options, vec!["--tp-size", "--tensor-parallel-size"]);
        assert_eq!(f.arity, Arity::One);
        let f = parse_help_line("  --tokenizer-mode {auto,slow}").unwrap();
        assert_eq!(f.choices.unwrap(), vec!["auto", "slow"]);
        let f = parse_help_line("  --disable-radix-cache  (description)").unwrap();
        assert_eq!(f.arity, Arity::Switch);
        let f = parse_help_line("  --enable-tf32-matmul, --no-enable-tf32-matmul").unwrap();
        assert_eq!(f.arity, Arity::BoolPair);
        let f = parse_help_line("  --cuda-graph-bs-decode CUDA_GRAPH_BS_DECODE [CUDA_GRAPH_BS_DECODE ...]").unwrap();
        assert_eq!(f.arity, Arity::OneOrMore);
        let f = parse_help_line("  --lora-paths [LORA_PATHS ...]").unwrap();
        assert_eq!(f.arity, Arity::Many);
        assert!(parse_help_line("  -h, --help  (description)").is_none());
    }
}
