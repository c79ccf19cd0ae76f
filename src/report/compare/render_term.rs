//! `matrix compare`'s terminal table: aligned, colour only when asked.

use std::fmt::Write;

use crate::report::compare::model::CompareReport;
use crate::report::compare::render_common::*;
use crate::report::stats::Verdict;

fn paint(s: &str, v: Verdict, color: bool) -> String {
    if !color {
        return s.to_string();
    }
    let code = match v {
        Verdict::Regression => "31",
        Verdict::Improvement => "32",
        Verdict::Inconclusive => "33",
        Verdict::Unchanged => return s.to_string(),
    };
    format!("\x1b[{code}m{s}\x1b[0m")
}

pub fn render_term(r: &CompareReport, color: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "base: {} ({})  new: {} ({})",
        r.base.run_id,
        side_text(&r.base.started_at),
        r.new.run_id,
        side_text(&r.new.started_at)
    );
    if let Some(n) = same_run_note(r) {
        let _ = writeln!(out, "{n}");
    }
    if r.manifest_diffs.is_empty() {
        let _ = writeln!(out, "set-up: no differences");
    } else {
        let _ = writeln!(out, "set-up differences:");
        for d in &r.manifest_diffs {
            let _ = writeln!(out, "  {}", diff_line(d));
        }
    }
    let header = [
        "cell", "base", "new", "change", "CI", "verdict", "method", "note",
    ];
    for metric in metrics_in_order(r) {
        let _ = writeln!(out, "\n{metric}");
        let rows: Vec<([String; 8], Verdict)> = r
            .rows
            .iter()
            .filter(|row| row.metric == metric)
            .map(|row| {
                let c = &row.comparison;
                (
                    [
                        row.label.clone(),
                        value(c.base),
                        value(c.new),
                        pct(c.change_pct),
                        ci(c),
                        verdict_word(c.verdict).to_string(),
                        method_word(c.method).to_string(),
                        c.note.clone().unwrap_or_default(),
                    ],
                    c.verdict,
                )
            })
            .collect();
        let mut widths = header.map(|h| h.chars().count());
        for (cols, _) in &rows {
            for (w, c) in widths.iter_mut().zip(cols) {
                *w = (*w).max(c.chars().count());
            }
        }
        let line = |cols: &[String], v: Option<Verdict>| {
            let mut s = String::from(" ");
            for (i, (c, w)) in cols.iter().zip(widths).enumerate() {
                let pad = w - c.chars().count();
                let cell = if i == 5 {
                    v.map_or(c.clone(), |v| paint(c, v, color))
                } else {
                    c.clone()
                };
                // Numbers right-aligned, text left.
                if (1..=3).contains(&i) {
                    let _ = write!(s, " {}{}", " ".repeat(pad), cell);
                } else if i + 1 == cols.len() {
                    let _ = write!(s, " {cell}");
                } else {
                    let _ = write!(s, " {}{}", cell, " ".repeat(pad));
                }
            }
            s.trim_end().to_string()
        };
        let head: Vec<String> = header.iter().map(|h| h.to_string()).collect();
        let _ = writeln!(out, "{}", line(&head, None));
        for (cols, v) in &rows {
            let _ = writeln!(out, "{}", line(cols, Some(*v)));
        }
    }
    for (title, list) in [
        ("only in base", &r.only_base),
        ("only in new", &r.only_new),
        ("failed (not compared)", &r.failed),
    ] {
        if !list.is_empty() {
            let _ = writeln!(out, "\n{title}: {}", list.join("; "));
        }
    }
    for (k, v) in extras(r) {
        let _ = writeln!(out, "{k}: {v}");
    }
    let _ = writeln!(out, "\n{}", summary(r));
    let _ = writeln!(out, "{}", footer(r));
    out
}
