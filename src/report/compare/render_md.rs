//! `matrix compare --format md`: a report in the style of sglang-ci's
//! regression comments (header, set-up differences, summary, a table per
//! metric with 🔴/🟢/⚪/🟡 markers).

use std::fmt::Write;

use crate::report::compare::model::{CompareReport, Side};
use crate::report::compare::render_common::*;
use crate::report::stats::Verdict;

/// Text safe inside a markdown table cell.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn side_line(name: &str, s: &Side) -> String {
    format!(
        "| {name} | `{}` | {} | {} {} | {} | {} |",
        cell(&s.run_id),
        cell(side_text(&s.started_at)),
        cell(side_text(&s.engine)),
        cell(side_text(&s.engine_version)),
        cell(side_text(&s.gpu)),
        cell(side_text(&s.git_sha)),
    )
}

pub fn render_md(r: &CompareReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# matrix compare\n");
    let _ = writeln!(out, "| | run | started | engine | gpu | git sha |");
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    let _ = writeln!(out, "{}", side_line("base", &r.base));
    let _ = writeln!(out, "{}", side_line("new", &r.new));
    if let Some(n) = same_run_note(r) {
        let _ = writeln!(out, "\n> {n}");
    }
    let _ = writeln!(out, "\n## Set-up differences\n");
    if r.manifest_diffs.is_empty() {
        let _ = writeln!(out, "None.");
    }
    for d in &r.manifest_diffs {
        let _ = writeln!(
            out,
            "- **{}**: `{}` → `{}`",
            cell(&d.what),
            cell(side_text(&d.base)),
            cell(side_text(&d.new))
        );
    }
    let _ = writeln!(out, "\n## Summary\n");
    let _ = writeln!(
        out,
        "🔴 {} regressions · 🟢 {} improvements · 🟡 {} inconclusive · ⚪ {} unchanged",
        r.count(Verdict::Regression),
        r.count(Verdict::Improvement),
        r.count(Verdict::Inconclusive),
        r.count(Verdict::Unchanged),
    );
    for (k, v) in extras(r) {
        let _ = writeln!(out, "\n**{}**: {}", cell(&k), cell(&v));
    }
    for metric in metrics_in_order(r) {
        let _ = writeln!(out, "\n## {metric}\n");
        let _ = writeln!(
            out,
            "| | cell | base | new | change | CI | verdict | method | note |"
        );
        let _ = writeln!(out, "|---|---|---:|---:|---:|---|---|---|---|");
        for row in r.rows.iter().filter(|row| row.metric == metric) {
            let c = &row.comparison;
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                marker(c.verdict),
                cell(&row.label),
                value(c.base),
                value(c.new),
                pct(c.change_pct),
                ci(c),
                verdict_word(c.verdict),
                method_word(c.method),
                cell(c.note.as_deref().unwrap_or("")),
            );
        }
    }
    for (title, list) in [
        ("Only in base", &r.only_base),
        ("Only in new", &r.only_new),
        ("Failed (not compared)", &r.failed),
    ] {
        if !list.is_empty() {
            let _ = writeln!(out, "\n## {title}\n");
            for l in list {
                let _ = writeln!(out, "- {}", cell(l));
            }
        }
    }
    let _ = writeln!(out, "\n---\n{}", footer(r));
    out
}
