//! `matrix compare --format html`: one self-contained file (inline CSS, no
//! external assets, every text escaped).

use std::fmt::Write;

use crate::report::compare::model::CompareReport;
use crate::report::compare::render_common::*;

/// Escape text for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const CSS: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#222}\
table{border-collapse:collapse;margin:.5em 0 1.5em}\
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left}\
td.n{text-align:right;font-variant-numeric:tabular-nums}\
tr.regression td{background:#fde2e2}tr.improvement td{background:#e2f7e2}\
tr.inconclusive td{background:#fff6d6}code{background:#f3f3f3;padding:0 .2em}\
footer{color:#666;margin-top:2em}";

pub fn render_html(r: &CompareReport) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>matrix compare {} → {}</title>\n<style>{CSS}</style>\n</head>\n<body>\n",
        esc(&r.base.run_id),
        esc(&r.new.run_id)
    );
    let _ = writeln!(out, "<h1>matrix compare</h1>");
    let _ = writeln!(
        out,
        "<table><tr><th></th><th>run</th><th>started</th><th>engine</th><th>gpu</th><th>git sha</th></tr>"
    );
    for (name, s) in [("base", &r.base), ("new", &r.new)] {
        let _ = writeln!(
            out,
            "<tr><th>{name}</th><td><code>{}</code></td><td>{}</td><td>{} {}</td><td>{}</td><td>{}</td></tr>",
            esc(&s.run_id),
            esc(side_text(&s.started_at)),
            esc(side_text(&s.engine)),
            esc(side_text(&s.engine_version)),
            esc(side_text(&s.gpu)),
            esc(side_text(&s.git_sha)),
        );
    }
    let _ = writeln!(out, "</table>");
    if let Some(n) = same_run_note(r) {
        let _ = writeln!(out, "<p><strong>{}</strong></p>", esc(&n));
    }
    let _ = writeln!(out, "<h2>Set-up differences</h2>");
    if r.manifest_diffs.is_empty() {
        let _ = writeln!(out, "<p>None.</p>");
    } else {
        let _ = writeln!(out, "<ul>");
        for d in &r.manifest_diffs {
            let _ = writeln!(
                out,
                "<li><strong>{}</strong>: <code>{}</code> → <code>{}</code></li>",
                esc(&d.what),
                esc(side_text(&d.base)),
                esc(side_text(&d.new))
            );
        }
        let _ = writeln!(out, "</ul>");
    }
    let _ = writeln!(out, "<h2>Summary</h2>\n<p>{}</p>", esc(&summary(r)));
    for (k, v) in extras(r) {
        let _ = writeln!(out, "<p><strong>{}</strong>: {}</p>", esc(&k), esc(&v));
    }
    for metric in metrics_in_order(r) {
        let _ = writeln!(out, "<h2>{}</h2>", esc(metric));
        let _ = writeln!(
            out,
            "<table><tr><th></th><th>cell</th><th>base</th><th>new</th><th>change</th>\
             <th>CI</th><th>verdict</th><th>method</th><th>note</th></tr>"
        );
        for row in r.rows.iter().filter(|row| row.metric == metric) {
            let c = &row.comparison;
            let _ = writeln!(
                out,
                "<tr class=\"{v}\"><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
                 <td class=\"n\">{}</td><td>{}</td><td>{v}</td><td>{}</td><td>{}</td></tr>",
                marker(c.verdict),
                esc(&row.label),
                value(c.base),
                value(c.new),
                pct(c.change_pct),
                esc(&ci(c)),
                method_word(c.method),
                esc(c.note.as_deref().unwrap_or("")),
                v = verdict_word(c.verdict),
            );
        }
        let _ = writeln!(out, "</table>");
    }
    for (title, list) in [
        ("Only in base", &r.only_base),
        ("Only in new", &r.only_new),
        ("Failed (not compared)", &r.failed),
    ] {
        if !list.is_empty() {
            let _ = writeln!(out, "<h2>{title}</h2>\n<ul>");
            for l in list {
                let _ = writeln!(out, "<li>{}</li>", esc(l));
            }
            let _ = writeln!(out, "</ul>");
        }
    }
    let _ = writeln!(
        out,
        "<footer>{}</footer>\n</body>\n</html>",
        esc(&footer(r))
    );
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_markup() {
        assert_eq!(
            super::esc("<a href=\"x\">&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
    }
}
