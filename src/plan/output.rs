//! The plan as a readable table (the `--json` form is the serde form of
//! [`Plan`]).

use std::fmt::Write;

use serde_json::Value;

use super::model::{Group, Plan};

/// Quote an argument as one word for a POSIX shell: bare when it holds only
/// safe characters, else in single quotes (`'\''` for a quote). matrix
/// never runs argv through a shell; `matrix plan`, `matrix show` and
/// commands.sh print lines a person (or bash) can run.
pub fn shell_quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+%".contains(c));
    if plain {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

pub fn argv_line(argv: &[String]) -> String {
    argv.iter()
        .map(|a| shell_quote(a))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The whole plan as text.
pub fn render(plan: &Plan) -> String {
    let mut s = String::new();
    let cells = plan.cell_count();
    let _ = writeln!(
        s,
        "plan {}: {} group{}, {} cell{}",
        plan.run_id,
        plan.groups.len(),
        plural(plan.groups.len()),
        cells,
        plural(cells)
    );
    let _ = writeln!(s, "run folder: {}", plan.run_dir);
    if let Some(m) = &plan.matrix {
        let _ = writeln!(s, "matrix: {m}");
    }
    if let Some(b) = &plan.bsz_seq {
        let _ = writeln!(s, "bsz_seq: {b}");
    }
    if !plan.axes.is_empty() {
        let _ = writeln!(s, "axes: {}", plan.axes.join(", "));
    }
    for (engine, table) in &plan.flag_tables {
        let _ = writeln!(s, "flags of {engine} checked against {table}");
    }
    if plan.excluded > 0 || !plan.pruned.is_empty() {
        let _ = writeln!(
            s,
            "excluded: {}, pruned by constraints: {}",
            plan.excluded,
            plan.pruned.len()
        );
    }
    if let Some(phases) = &plan.profile {
        let _ = writeln!(
            s,
            "profile: {} (Nsight Systems, one pass per phase)",
            phases.join(", ")
        );
    }
    for w in &plan.warnings {
        let _ = writeln!(s, "warning: {w}");
    }
    for (i, g) in plan.groups.iter().enumerate() {
        s.push('\n');
        group(&mut s, i, plan.groups.len(), g);
    }
    s
}

fn group(s: &mut String, i: usize, n: usize, g: &Group) {
    let layers = [
        Some(format!("base={}", g.layers.base)),
        g.layers.deploy.as_ref().map(|d| format!("deploy={d}")),
        g.layers.backend.as_ref().map(|d| format!("backend={d}")),
        g.layers.optional.as_ref().map(|d| format!("optional={d}")),
    ];
    let layers: Vec<String> = layers.into_iter().flatten().collect();
    let line = g
        .line
        .map(|l| format!(", bsz_seq line {l}"))
        .unwrap_or_default();
    let _ = writeln!(
        s,
        "group {}/{} {}  {} {}  {}/{}  {}  ({} cell{}{line})",
        i + 1,
        n,
        g.id,
        g.engine,
        g.mode,
        g.model,
        g.mconf,
        layers.join(" "),
        g.cells.len(),
        plural(g.cells.len())
    );
    let _ = writeln!(s, "  launch: {}", argv_line(&g.launch.argv));
    for (k, v) in &g.launch.env {
        let _ = writeln!(s, "  env: {k}={}", shell_quote(v));
    }
    if let Some(cpus) = &g.launch.cpus {
        let _ = writeln!(s, "  cpus: {}", cpu_line(cpus));
    }
    if let Some(r) = &g.ready {
        let _ = writeln!(s, "  ready: GET {} (timeout {} s)", r.url, r.timeout_s);
    }
    let _ = writeln!(
        s,
        "  model: {} -> {}/config.json",
        g.model_dir.source, g.model_dir.dir
    );
    let _ = writeln!(s, "  cells:");
    for c in &g.cells {
        let axes: Vec<String> = c
            .axes
            .iter()
            .map(|(k, v)| format!("{k}={}", value(v)))
            .collect();
        let _ = writeln!(s, "    {}  {}", c.id, axes.join(" "));
        if let Some(cl) = &c.client {
            let _ = writeln!(s, "      client: {}", argv_line(&cl.argv));
            if let Some(cpus) = &cl.cpus {
                let _ = writeln!(s, "      client cpus: {}", cpu_line(cpus));
            }
        }
        for p in &c.profile {
            let _ = writeln!(s, "      profile {}: {}", p.phase, argv_line(&p.argv));
        }
    }
}

/// CPU ids as `taskset -c` takes them: `0,1,2,5` (one per id; short lists).
fn cpu_line(cpus: &[usize]) -> String {
    cpus.iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "none".into(),
        other => other.to_string(),
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_is_for_display_only() {
        assert_eq!(shell_quote("--tp-size"), "--tp-size");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
