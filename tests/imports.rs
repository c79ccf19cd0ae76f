//! The direction of imports in `src/`, checked: a stage of the data flow
//! cli → config → matrix → plan → exec → run → record → report imports only
//! itself and the stages before it; side modules (model, sim, client, parse)
//! never import a flow stage; leaf modules (exit, suggest) import nothing
//! from the crate; `app` (each subcommand's glue) may import everything and
//! nothing in the library imports it; clap is seen by `cli.rs` and
//! `main.rs` only. The same rules are written in src/lib.rs.
//!
//! A file's module is the first path component under `src/`; an import is
//! any `crate::<module>` in code (comments are skipped), including the
//! members of a `use crate::{a, b::c}` group.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The data flow, in order. `report` may not exist yet; the rule holds.
const FLOW: &[&str] = &[
    "config", "matrix", "plan", "exec", "run", "record", "report",
];

/// Side modules the flow calls, and the side modules each may import.
const SIDE: &[(&str, &[&str])] = &[
    ("model", &[]),
    ("parse", &[]),
    // A unit test checks the client's progress lines read back with
    // parse::progress, as the runner reads them.
    ("client", &["parse"]),
    // The simulated engine is built on the cost model.
    ("sim", &["model"]),
];

/// The first flow stage allowed to import side modules: config (settings)
/// knows nothing of models, results or load generation.
const FIRST_SIDE_USER: &str = "matrix";

/// Leaf modules: any module may import them; they import nothing.
const LEAF: &[&str] = &["exit", "suggest"];

/// The top-level error wraps every stage's error, so it imports them all.
const TOP_ERROR: &str = "error";

/// Names the crate root re-exports, and the module each comes from.
const ROOT_REEXPORTS: &[(&str, &str)] = &[("Error", TOP_ERROR)];

/// The subcommands' glue: imports everything, imported by main.rs only.
const APP: &str = "app";

/// Imports against the rules above, each kept on purpose. Keep this short.
const EXCEPTIONS: &[(&str, &str, &str)] = &[
    (
        "run",
        "record",
        "the run loop drives its consumers: it emits record::event's typed \
         events and hands each finished cell to the recorder",
    ),
    (
        "run",
        "error",
        "run::run returns the top-level Error (it carries exec and record \
         errors and the loop's own I/O errors)",
    ),
];

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

/// The module a file belongs to: `src/plan/build/cells.rs` → `plan`,
/// `src/exit.rs` → `exit`.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).expect("file under src");
    let first = rel.components().next().expect("non-empty path");
    let name = first.as_os_str().to_string_lossy();
    name.strip_suffix(".rs").unwrap_or(&name).to_string()
}

/// The code of a line: empty for a comment line, else the line cut at a
/// `//` comment, with the text of string literals blanked.
fn code(line: &str) -> String {
    if line.trim_start().starts_with("//") {
        return String::new();
    }
    let mut out = String::with_capacity(line.len());
    let mut in_str = false;
    let mut prev = ' ';
    for c in line.chars() {
        match c {
            '"' if prev != '\\' => {
                in_str = !in_str;
                out.push(c);
            }
            '/' if !in_str && prev == '/' => {
                out.pop();
                return out;
            }
            _ if in_str => out.push(' '),
            _ => out.push(c),
        }
        prev = if prev == '\\' && c == '\\' { ' ' } else { c };
    }
    out
}

/// The crate modules a file's code names, with the line of each.
fn imports(text: &str) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    let mut group: Option<String> = None;
    for (n, line) in text.lines().enumerate() {
        let code = code(line);
        let code = code.as_str();
        // Members of `use crate::{a, b::c, ...}`, possibly over many lines.
        let mut rest = code;
        if let Some(i) = rest.find("crate::{") {
            group = Some(String::new());
            rest = &rest[i + "crate::{".len()..];
        }
        if let Some(g) = group.as_mut() {
            g.push_str(rest);
            g.push(' ');
            if rest.contains(';') {
                let body = g.split(';').next().unwrap_or_default();
                for item in top_level_items(body) {
                    let name: String = item
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    if !name.is_empty() && name != "self" {
                        out.push((name, n + 1));
                    }
                }
                group = None;
            }
        }
        let mut at = 0;
        while let Some(i) = code[at..].find("crate::") {
            let start = at + i + "crate::".len();
            // `$crate::` in macros and `matrix::crate_x` are not paths of ours.
            let before = code[..at + i].chars().next_back();
            let name: String = code[start..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty()
                && !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
            {
                out.push((name, n + 1));
            }
            at = start;
        }
    }
    out
}

/// The comma-separated items of a brace group at its top level:
/// `config::{a, b}, exit::X}` → `config::{a, b}`, `exit::X`.
fn top_level_items(body: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut depth = 0usize;
    let mut cur = String::new();
    for c in body.chars() {
        match c {
            '{' => {
                depth += 1;
                cur.push(c);
            }
            '}' if depth == 0 => break,
            '}' => {
                depth -= 1;
                cur.push(c);
            }
            ',' if depth == 0 => items.push(std::mem::take(&mut cur).trim().to_string()),
            _ => cur.push(c),
        }
    }
    items.push(cur.trim().to_string());
    items.into_iter().filter(|s| !s.is_empty()).collect()
}

/// Why `from` may not import `to`, or `None` when it may.
fn violation(from: &str, to: &str) -> Option<String> {
    if from == to || LEAF.contains(&to) {
        return None;
    }
    if EXCEPTIONS.iter().any(|(f, t, _)| *f == from && *t == to) {
        return None;
    }
    let rank = |m: &str| FLOW.iter().position(|s| *s == m);
    let side = |m: &str| SIDE.iter().find(|(s, _)| *s == m).map(|(_, deps)| *deps);
    if to == APP {
        return Some("nothing in the library imports app/: it is the binary's glue".into());
    }
    if LEAF.contains(&from) {
        return Some(format!(
            "{from} is a leaf module: it imports nothing from the crate"
        ));
    }
    if from == APP || from == TOP_ERROR {
        return None;
    }
    if to == TOP_ERROR {
        return Some(format!(
            "{from} imports the top-level error: stages return their own error type \
             (exit codes are in crate::exit, did-you-mean in crate::suggest)"
        ));
    }
    match (rank(from), side(from)) {
        (Some(f), None) => match (rank(to), side(to)) {
            (Some(t), _) if t <= f => None,
            (Some(_), _) => Some(format!(
                "{from} imports {to}, a later stage of the flow ({})",
                FLOW.join(" → ")
            )),
            (None, Some(_)) if f >= rank(FIRST_SIDE_USER).unwrap_or(0) => None,
            (None, Some(_)) => Some(format!("{from} may not import the side module {to}")),
            (None, None) => Some(format!(
                "{from} imports {to}, a module the rules do not know"
            )),
        },
        (None, Some(deps)) => {
            if deps.contains(&to) {
                None
            } else if rank(to).is_some() {
                Some(format!("side module {from} imports the flow stage {to}"))
            } else {
                Some(format!(
                    "side module {from} imports {to}, not among its dependencies {deps:?}"
                ))
            }
        }
        _ => Some(format!(
            "{from} is a module the rules do not know: add it to tests/imports.rs"
        )),
    }
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn imports_point_down_the_data_flow() {
    let src = src_dir();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    for file in &files {
        let rel = file.strip_prefix(&src).expect("under src");
        // The binary: main.rs may import app; cli.rs imports nothing.
        if rel == Path::new("main.rs") || rel == Path::new("cli.rs") || rel == Path::new("lib.rs") {
            continue;
        }
        let from = module_of(&src, file);
        let text = std::fs::read_to_string(file).expect("read source");
        for (to, line) in imports(&text) {
            let to = ROOT_REEXPORTS
                .iter()
                .find(|(name, _)| *name == to)
                .map_or(to.clone(), |(_, m)| m.to_string());
            seen.insert((from.clone(), to.clone()));
            if let Some(why) = violation(&from, &to) {
                problems.push(format!("src/{}:{line}: {why}", rel.display()));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "imports against the data flow:\n{}",
        problems.join("\n")
    );
    // The scan found imports at all (a broken scanner passes vacuously).
    assert!(seen.contains(&("plan".into(), "matrix".into())), "{seen:?}");
    // Every exception is still needed: a stale one is deleted, not kept.
    for (f, t, why) in EXCEPTIONS {
        assert!(
            seen.contains(&(f.to_string(), t.to_string())),
            "exception {f} → {t} ({why}) is no longer used: remove it from tests/imports.rs"
        );
    }
}

#[test]
fn clap_stays_in_the_binary() {
    let src = src_dir();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut problems = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(&src).expect("under src");
        if rel == Path::new("main.rs") || rel == Path::new("cli.rs") {
            continue;
        }
        let text = std::fs::read_to_string(file).expect("read source");
        for (n, line) in text.lines().enumerate() {
            if code(line).contains("clap") {
                problems.push(format!("src/{}:{}", rel.display(), n + 1));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "clap outside cli.rs / main.rs: {problems:?}"
    );
}

/// The checker itself: the rules catch what they are meant to catch.
#[test]
fn the_rules_catch_backward_imports() {
    assert!(violation("plan", "matrix").is_none());
    assert!(violation("record", "plan").is_none());
    assert!(violation("plan", "exec").is_some());
    assert!(violation("config", "matrix").is_some());
    assert!(violation("parse", "record").is_some());
    assert!(violation("model", "sim").is_some());
    assert!(violation("sim", "model").is_none());
    assert!(violation("config", "error").is_some());
    assert!(violation("matrix", "app").is_some());
    assert!(violation("exit", "config").is_some());
    assert!(violation("config", "suggest").is_none());
    assert!(violation("config", "model").is_some());
    assert!(violation("plan", "model").is_none());
    assert!(violation("run", "record").is_none(), "a listed exception");
    assert!(violation("newthing", "config").is_some());

    let text = "use crate::{config::X, exit::{A, B},\n    suggest};\n// crate::record in a comment\nlet s = \"crate::run\"; crate::plan::x(); // crate::exec\n";
    let names: Vec<String> = imports(text).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["config", "exit", "suggest", "plan"]);
}
