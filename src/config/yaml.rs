//! Reading YAML files with located errors.
//!
//! serde_yaml parses values but forgets where they came from; yaml-rust2's
//! event parser keeps markers. We parse values with serde_yaml and, only when
//! an error must name a line, walk the events once to map every key path
//! (`server.tp_size`, `axes.deploy.1`) to its line and column.

use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;

use camino::{Utf8Path, Utf8PathBuf};
use serde_yaml::Value;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

use super::ConfigError;

/// A line and column, both 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    pub line: usize,
    pub column: usize,
}

/// A place in a file: the path as shown to the user, and where known the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub file: String,
    pub location: Option<Location>,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.location {
            Some(l) => write!(f, "{}:{}:{}", self.file, l.line, l.column),
            None => write!(f, "{}", self.file),
        }
    }
}

/// A parsed YAML file that can say where each key stands.
#[derive(Debug)]
pub struct YamlFile {
    /// The path as given (absolute or relative to the project root).
    pub path: Utf8PathBuf,
    /// The path as shown in messages (relative to the project root when inside it).
    pub display: String,
    pub text: String,
    pub value: Value,
    locations: OnceLock<HashMap<String, Location>>,
}

impl YamlFile {
    /// Read and parse `path`; syntax errors name the file, line and column.
    pub fn read(path: &Utf8Path, display: String) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            file: display.clone(),
            source,
        })?;
        Self::parse(path.to_owned(), display, text)
    }

    /// Parse text already in memory (tests, inline documents).
    pub fn parse(path: Utf8PathBuf, display: String, text: String) -> Result<Self, ConfigError> {
        let value = match serde_yaml::from_str::<Value>(&text) {
            // An empty file, or one holding only comments, is an empty mapping.
            Ok(Value::Null) => Value::Mapping(Default::default()),
            Ok(v) => v,
            Err(e) => {
                return Err(ConfigError::Syntax {
                    origin: Origin {
                        file: display.clone(),
                        location: e.location().map(|l| Location {
                            line: l.line(),
                            column: l.column(),
                        }),
                    },
                    message: strip_location(&e.to_string()),
                });
            }
        };
        Ok(YamlFile {
            path,
            display,
            text,
            value,
            locations: OnceLock::new(),
        })
    }

    /// Where a dotted key path stands in the file (`None` if it does not).
    pub fn locate(&self, key_path: &str) -> Option<Location> {
        self.locations
            .get_or_init(|| index_locations(&self.text))
            .get(key_path)
            .copied()
    }

    /// An [`Origin`] for a key path of this file.
    pub fn origin(&self, key_path: &str) -> Origin {
        Origin {
            file: self.display.clone(),
            location: self.locate(key_path),
        }
    }
}

/// serde_yaml appends " at line X column Y" to messages; we print the
/// location ourselves in the `file:line:col` form.
fn strip_location(msg: &str) -> String {
    match msg.find(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

/// Walks parser events and records the marker of every key and list item.
#[derive(Default)]
struct Indexer {
    /// One frame per open collection: (path prefix, is_mapping, next index or pending key).
    stack: Vec<Frame>,
    out: HashMap<String, Location>,
}

struct Frame {
    prefix: String,
    mapping: bool,
    /// For mappings: true when the next scalar is a key.
    expect_key: bool,
    /// For mappings: the key whose value comes next.
    key: Option<String>,
    /// For sequences: index of the next item.
    index: usize,
}

impl Indexer {
    fn child_path(&mut self, mark: &Marker) -> Option<String> {
        let frame = self.stack.last_mut()?;
        let seg = if frame.mapping {
            frame.key.take()?
        } else {
            let i = frame.index;
            frame.index += 1;
            let p = join(&frame.prefix, &i.to_string());
            self.out.entry(p.clone()).or_insert(loc(mark));
            return Some(p);
        };
        frame.expect_key = true;
        Some(join(&frame.prefix, &seg))
    }

    fn push(&mut self, mark: &Marker, mapping: bool) {
        let prefix = self.child_path(mark).unwrap_or_default();
        self.stack.push(Frame {
            prefix,
            mapping,
            expect_key: true,
            key: None,
            index: 0,
        });
    }
}

impl MarkedEventReceiver for Indexer {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        match ev {
            Event::MappingStart(..) => self.push(&mark, true),
            Event::SequenceStart(..) => self.push(&mark, false),
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            Event::Scalar(s, ..) => {
                let is_key = matches!(self.stack.last(), Some(f) if f.mapping && f.expect_key);
                if is_key {
                    let frame = self.stack.last_mut().expect("checked above");
                    let path = join(&frame.prefix, &s);
                    frame.key = Some(s);
                    frame.expect_key = false;
                    self.out.entry(path).or_insert(loc(&mark));
                } else {
                    self.child_path(&mark);
                }
            }
            Event::Alias(_) => {
                self.child_path(&mark);
            }
            _ => {}
        }
    }
}

fn loc(mark: &Marker) -> Location {
    Location {
        line: mark.line(),
        column: mark.col() + 1,
    }
}

fn join(prefix: &str, seg: &str) -> String {
    if prefix.is_empty() {
        seg.to_string()
    } else {
        format!("{prefix}.{seg}")
    }
}

fn index_locations(text: &str) -> HashMap<String, Location> {
    let mut indexer = Indexer::default();
    let mut parser = Parser::new_from_str(text);
    // A syntax error was already reported by serde_yaml; a partial index is fine.
    let _ = parser.load(&mut indexer, false);
    let mut out = indexer.out;
    add_server_key_aliases(&mut out);
    out
}

/// Server keys written as on the command line (`server.tp-size`) are kept
/// under their one spelling (`tp_size`); later stages look them up by that
/// spelling (`server.tp_size`, `axes.tp_size`), so it locates the key as
/// written too. A key written both ways is refused when the file is read.
fn add_server_key_aliases(out: &mut HashMap<String, Location>) {
    let aliases: Vec<(String, Location)> = out
        .iter()
        .filter_map(|(path, loc)| {
            let (parent, last) = path.rsplit_once('.')?;
            let server = parent == "server" || parent.ends_with(".server");
            let axis = matches!(parent, "axes" | "derive");
            (last.contains('-') && (server || axis))
                .then(|| (format!("{parent}.{}", last.replace('-', "_")), *loc))
        })
        .collect();
    for (path, loc) in aliases {
        out.entry(path).or_insert(loc);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> YamlFile {
        YamlFile::parse("t.yaml".into(), "t.yaml".into(), text.into()).unwrap()
    }

    #[test]
    fn locates_nested_keys_and_items() {
        let f = file(
            "server:\n  tp_size: 8\n  ep_size: 8\naxes:\n  deploy: [a, b]\n  x:\n    - 1\n    - 2\n",
        );
        assert_eq!(f.locate("server"), Some(Location { line: 1, column: 1 }));
        assert_eq!(
            f.locate("server.ep_size"),
            Some(Location { line: 3, column: 3 })
        );
        assert_eq!(
            f.locate("axes.deploy"),
            Some(Location { line: 5, column: 3 })
        );
        assert_eq!(f.locate("axes.deploy.1").map(|l| l.line), Some(5));
        assert_eq!(f.locate("axes.x.1"), Some(Location { line: 8, column: 7 }));
        assert_eq!(f.locate("nope"), None);
    }

    #[test]
    fn server_keys_are_located_by_their_one_spelling() {
        let f = file("server:\n  tp-size: 8\nenv:\n  A-B: 1\naxes:\n  ep-size: [1, 2]\n");
        assert_eq!(
            f.locate("server.tp_size"),
            Some(Location { line: 2, column: 3 })
        );
        assert_eq!(f.locate("axes.ep_size").map(|l| l.line), Some(6));
        // Environment names are kept as written.
        assert_eq!(f.locate("env.A_B"), None);
    }

    #[test]
    fn syntax_error_has_line_and_column() {
        let err = YamlFile::parse("t.yaml".into(), "t.yaml".into(), "a: [1, 2\nb: 3\n".into())
            .unwrap_err();
        let ConfigError::Syntax { origin, .. } = err else {
            panic!("expected a syntax error")
        };
        assert_eq!(origin.file, "t.yaml");
        assert!(origin.location.is_some());
    }

    #[test]
    fn empty_file_is_empty_mapping() {
        assert!(
            file("# only a comment\n")
                .value
                .as_mapping()
                .unwrap()
                .is_empty()
        );
    }
}
