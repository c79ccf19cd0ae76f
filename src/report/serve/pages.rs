//! The dashboard's HTML pages, rendered on the server with `format!`:
//! every text from the database or a file is escaped ([`esc`]). The script
//! (`assets/app.js`) only adds behaviour (live rows, reproduce boxes);
//! every page reads complete without it.

use std::fmt::Write;

use super::data::{self, RunFilter, TrendFilter};
use super::{Failure, ServeOptions};
use crate::record::db::CellRecord;
use crate::record::db::model::key_text;
use crate::report::compare::build::Labeler;
use crate::report::compare::render_common::{pct, value, verdict_word};
pub use crate::report::compare::render_html::esc;

/// [`esc`] appended to `out` (no allocation per value: a 10,000-cell
/// table escapes some 200,000 of them).
pub fn esc_into(out: &mut String, s: &str) {
    let mut rest = s;
    while let Some(i) = rest.find(['&', '<', '>', '"', '\'']) {
        out.push_str(&rest[..i]);
        out.push_str(match rest.as_bytes()[i] {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            _ => "&#39;",
        });
        rest = &rest[i + 1..];
    }
    out.push_str(rest);
}

/// A path segment for a URL: percent-encoded except unreserved characters.
pub fn url_part(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A relative file path for a `/files/` URL: each segment encoded.
fn file_url(rel: &str) -> String {
    let parts: Vec<String> = rel.split('/').map(url_part).collect();
    format!("/files/{}", parts.join("/"))
}

fn opt(v: &Option<String>) -> &str {
    v.as_deref().filter(|s| !s.is_empty()).unwrap_or("-")
}

/// The frame of every page.
fn layout(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{t} · matrix</title>\n<link rel=\"icon\" href=\"data:,\">\n\
         <link rel=\"stylesheet\" href=\"/assets/style.css\">\n\
         <script src=\"/assets/app.js\" defer></script>\n</head>\n<body>\n\
         <nav><a class=\"brand\" href=\"/\">matrix</a> <a href=\"/\">runs</a> \
         <a href=\"/trends\">trends</a></nav>\n<main>\n{body}</main>\n</body>\n</html>\n",
        t = esc(title)
    )
}

/// An error page (404, 400, 500).
pub fn error_page(status: u16, message: &str) -> String {
    let what = match status {
        404 => "Not found",
        400 => "Bad request",
        _ => "Error",
    };
    layout(
        &format!("{status} {what}"),
        &format!(
            "<h1>{status} {what}</h1>\n<p class=\"error\">{}</p>\n<p><a href=\"/\">All runs</a></p>\n",
            esc(message)
        ),
    )
}

fn text_input(name: &str, label: &str, value: &Option<String>, hint: &str) -> String {
    format!(
        "<label>{label} <input name=\"{name}\" value=\"{}\" placeholder=\"{}\"></label> ",
        esc(value.as_deref().unwrap_or("")),
        esc(hint)
    )
}

/// `/`: the runs, newest first, with filters and a compare form.
pub fn runs(st: &ServeOptions, f: &RunFilter) -> Result<String, Failure> {
    let runs = data::runs(st, f)?;
    let mut b = String::with_capacity(256 * runs.len() + 4096);
    b.push_str("<h1>Runs</h1>\n<form class=\"filters\" method=\"get\" action=\"/\">");
    b.push_str(&text_input("model", "model", &f.model, "contains"));
    b.push_str(&text_input("engine", "engine", &f.engine, "contains"));
    b.push_str(&text_input("since", "since", &f.since, "7d, 2026-11-01"));
    b.push_str("<button type=\"submit\">filter</button> <a href=\"/\">clear</a></form>\n");
    let (base, new) = match runs.as_slice() {
        [n, b, ..] => (b.run_id.as_str(), n.run_id.as_str()),
        [n] => (n.run_id.as_str(), n.run_id.as_str()),
        [] => ("", ""),
    };
    let _ = writeln!(
        b,
        "<form class=\"compare\" method=\"get\" action=\"/compare\">compare \
         <input name=\"base\" value=\"{}\" list=\"run-ids\" placeholder=\"base run\"> → \
         <input name=\"new\" value=\"{}\" list=\"run-ids\" placeholder=\"new run\"> \
         <button type=\"submit\">compare</button></form>",
        esc(base),
        esc(new)
    );
    b.push_str("<datalist id=\"run-ids\">");
    for r in runs.iter().take(200) {
        let _ = write!(b, "<option value=\"{}\">", esc(&r.run_id));
    }
    b.push_str("</datalist>\n");
    if runs.is_empty() {
        let _ = writeln!(
            b,
            "<p class=\"empty\">No runs{} in {}. `matrix run` records each run there; \
             `matrix ingest PATH...` adds earlier ones.</p>",
            if f.model.is_some() || f.engine.is_some() || f.since.is_some() {
                " match the filters"
            } else {
                ""
            },
            esc(st.db.as_str())
        );
        return Ok(layout("runs", &b));
    }
    let _ = writeln!(b, "<p>{} run(s)</p>", runs.len());
    b.push_str(
        "<table id=\"runs\"><thead><tr><th>run</th><th>started</th><th>model</th><th>engine</th>\
         <th>image</th><th>ok</th><th>failed</th><th>git</th></tr></thead><tbody>\n",
    );
    for r in &runs {
        let engine = match (&r.engine, &r.engine_version) {
            (Some(e), Some(v)) => format!("{e} {v}"),
            (e, _) => opt(e).to_string(),
        };
        let git: String = opt(&r.git_sha).chars().take(12).collect();
        let _ = writeln!(
            b,
            "<tr data-run=\"{id}\"><td><a href=\"/runs/{u}\">{id}</a></td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n{f}\">{}</td><td><code>{}</code></td></tr>",
            esc(opt(&r.started_at)),
            esc(opt(&r.model)),
            esc(&engine),
            esc(opt(&r.image)),
            r.cells_ok,
            r.cells_failed,
            esc(&git),
            id = esc(&r.run_id),
            u = url_part(&r.run_id),
            f = if r.cells_failed > 0 { " bad" } else { "" },
        );
    }
    b.push_str("</tbody></table>\n");
    Ok(layout("runs", &b))
}

fn reproduce_box(run_id: &str, query: &str) -> String {
    format!(
        "<details class=\"repro\" data-src=\"/api/runs/{}/reproduce?{}\"><summary>reproduce</summary>\
         <pre class=\"repro-text\">loading…</pre></details>",
        url_part(run_id),
        esc(query)
    )
}

fn cell_row(st: &ServeOptions, run_id: &str, columns: &[String], c: &CellRecord, b: &mut String) {
    let _ = write!(
        b,
        "<tr id=\"cell-{id}\" data-cell=\"{id}\" class=\"status-{s}\"><td>{}</td>",
        reproduce_box(run_id, &format!("cell={}", url_part(&c.cell_id))),
        id = esc(&c.cell_id),
        s = esc(&c.status),
    );
    for col in columns {
        let v = c.row.get(col).map(String::as_str).unwrap_or("");
        if col == "log" {
            match data::cell_log(st, run_id, c) {
                Some(rel) => {
                    let _ = write!(b, "<td><a href=\"{}\">log</a></td>", esc(&file_url(&rel)));
                }
                None => b.push_str("<td></td>"),
            }
        } else {
            b.push_str("<td>");
            esc_into(b, v);
            b.push_str("</td>");
        }
    }
    b.push_str("</tr>\n");
}

/// Links to the other pages of a run's table (nothing for one page).
fn page_links(p: &data::RunPage, b: &mut String) {
    if p.pages == 1 {
        return;
    }
    let _ = write!(
        b,
        "<p class=\"pages\">cells {}–{} of {} (page {} of {})",
        p.offset + 1,
        p.offset + p.run.cells.len(),
        p.total,
        p.page,
        p.pages
    );
    let id = url_part(&p.run.run_id);
    if p.page > 1 {
        let _ = write!(
            b,
            " · <a href=\"/runs/{id}?page={}\">previous</a>",
            p.page - 1
        );
    }
    if p.page < p.pages {
        let _ = write!(b, " · <a href=\"/runs/{id}?page={}\">next</a>", p.page + 1);
    }
    b.push_str("</p>\n");
}

/// The header and body of a run's results table (one page of it).
fn cells_table(st: &ServeOptions, p: &data::RunPage, b: &mut String) {
    let run = &p.run;
    let columns = data::columns(&run.cells);
    let live = run.finished_at.is_none();
    page_links(p, b);
    let _ = write!(
        b,
        "<table id=\"cells\" data-run=\"{}\" data-live=\"{}\" data-count=\"{}\" data-paged=\"{}\"><thead><tr><th></th>",
        esc(&run.run_id),
        u8::from(live),
        p.total,
        u8::from(p.pages > 1)
    );
    for c in &columns {
        let _ = write!(b, "<th>{}</th>", esc(c));
    }
    b.push_str("</tr></thead><tbody>\n");
    for c in &run.cells {
        cell_row(st, &run.run_id, &columns, c, b);
    }
    b.push_str("</tbody></table>\n");
}

/// `/runs/<id>?page=N`: the run's facts, its reproduce line, files, plots,
/// the results table (one row per cell; a run of more than `--page-cells`
/// cells a page at a time) and the manifest.
pub fn run(st: &ServeOptions, selector: &str, page: Option<usize>) -> Result<String, Failure> {
    let p = data::run_page(st, selector, page)?;
    let run = &p.run;
    let cells_est = run.cells.len() * 64 * run.cells.first().map_or(1, |c| c.row.len());
    let mut b = String::with_capacity(cells_est + 8192);
    let _ = writeln!(b, "<h1>Run <code>{}</code></h1>", esc(&run.run_id));
    let state = if run.finished_at.is_some() {
        "<span class=\"badge done\">finished</span>"
    } else {
        "<span class=\"badge live\">in progress (updates every 2 s)</span>"
    };
    let _ = writeln!(
        b,
        "<p>{state} <span id=\"cell-count\">{}</span> cell(s), {} ok, {} not ok</p>",
        p.total,
        p.ok,
        p.total - p.ok
    );
    b.push_str("<table class=\"facts\">");
    let engine = format!("{} {}", opt(&run.engine), opt(&run.engine_version));
    for (k, v) in [
        ("started", opt(&run.started_at)),
        ("finished", opt(&run.finished_at)),
        ("model", opt(&run.model)),
        ("engine", engine.as_str()),
        ("image", opt(&run.image)),
        ("gpu", opt(&run.gpu)),
        ("host", opt(&run.host)),
        ("git sha", opt(&run.git_sha)),
        ("source", run.source.as_str()),
    ] {
        let _ = write!(b, "<tr><th>{k}</th><td>{}</td></tr>", esc(v));
    }
    b.push_str("</table>\n");
    if let Some(line) = data::matrix_run_line(run.manifest.as_ref()) {
        let _ = writeln!(
            b,
            "<h2>Reproduce</h2>\n<pre class=\"repro-run\">{}</pre>\n<p class=\"hint\">Each \
             row's <em>reproduce</em> box adds that cell's lines of commands.sh.</p>",
            esc(&line)
        );
    }
    let files = data::run_files(st, &run.run_id, 200);
    if !files.is_empty() {
        b.push_str("<h2>Files</h2>\n<ul class=\"files\">");
        for f in &files {
            let _ = write!(
                b,
                "<li><a href=\"{}\">{}</a></li>",
                esc(&file_url(f)),
                esc(f)
            );
        }
        b.push_str("</ul>\n");
    }
    b.push_str(&super::plots::placeholder(&format!(
        "/runs/{}/plots",
        url_part(&run.run_id)
    )));
    b.push_str("<h2>Results</h2>\n");
    cells_table(st, &p, &mut b);
    if let Some(m) = &run.manifest {
        let text = serde_json::to_string_pretty(m).unwrap_or_default();
        let _ = writeln!(
            b,
            "<details class=\"manifest\"><summary>manifest</summary><pre>{}</pre></details>",
            esc(&text)
        );
    }
    Ok(layout(&format!("run {}", run.run_id), &b))
}

/// The part of a standalone HTML document between `open` and `close`.
fn between<'a>(doc: &'a str, open: &str, close: &str) -> &'a str {
    let Some(a) = doc.find(open) else { return "" };
    let rest = &doc[a + open.len()..];
    rest.find(close).map_or(rest, |z| &rest[..z])
}

/// `/compare/<base>/<new>`: `matrix compare`'s HTML report, and plots.
pub fn compare(st: &ServeOptions, base: &str, new: &str) -> Result<String, Failure> {
    let (report, b_run, n_run) = data::compare(st, base, new)?;
    let doc = crate::report::compare::render_html(&report);
    let mut b = String::with_capacity(doc.len() + 4096);
    let _ = writeln!(
        b,
        "<p><a href=\"/runs/{}\">base {}</a> · <a href=\"/runs/{}\">new {}</a> \
         · <a href=\"/api/compare/{}/{}\">JSON</a></p>\n<div id=\"compare-report\" data-regressions=\"{}\">",
        url_part(&b_run.run_id),
        esc(&b_run.run_id),
        url_part(&n_run.run_id),
        esc(&n_run.run_id),
        url_part(&b_run.run_id),
        url_part(&n_run.run_id),
        report.count(crate::report::stats::Verdict::Regression),
    );
    b.push_str(between(&doc, "<body>\n", "</body>"));
    b.push_str("</div>\n");
    b.push_str(&super::plots::placeholder(&format!(
        "/compare/{}/{}/plots",
        url_part(&b_run.run_id),
        url_part(&n_run.run_id)
    )));
    Ok(layout(
        &format!("compare {} → {}", b_run.run_id, n_run.run_id),
        &b,
    ))
}

/// `/trends`: per model and mode, every series' last value and its
/// change points (`matrix regressions --all`), with filters.
pub fn trends(st: &ServeOptions, f: &TrendFilter) -> Result<String, Failure> {
    let groups = data::trends(st, f)?;
    let mut b = String::new();
    b.push_str("<h1>Trends</h1>\n<form class=\"filters\" method=\"get\" action=\"/trends\">");
    b.push_str(&text_input("model", "model", &f.model, "exact"));
    b.push_str(&text_input("mode", "mode", &f.mode, "latency, serving"));
    b.push_str(&text_input(
        "metric",
        "metric",
        &f.metric,
        "e.g. median_e2e_ms",
    ));
    b.push_str(&text_input(
        "since",
        "changes since",
        &f.since,
        "7d, 2026-11-01",
    ));
    b.push_str("<button type=\"submit\">filter</button> <a href=\"/trends\">clear</a></form>\n");
    if groups.is_empty() {
        b.push_str("<p class=\"empty\">No series match: record runs with `matrix run` or `matrix ingest`.</p>\n");
        return Ok(layout("trends", &b));
    }
    for g in &groups {
        let _ = writeln!(
            b,
            "<section class=\"trend\" data-model=\"{m}\" data-mode=\"{o}\"><h2>{m} · {o}</h2>",
            m = esc(&g.model),
            o = esc(&g.mode)
        );
        let mut src = format!(
            "/trends/plots?model={}&mode={}",
            url_part(&g.model),
            url_part(&g.mode)
        );
        if let Some(m) = f.metric.as_deref().filter(|m| !m.is_empty()) {
            src.push_str(&format!("&metric={}", url_part(m)));
        }
        b.push_str(&super::plots::placeholder(&src));
        b.push_str("<h3>Change points</h3>\n");
        if g.changes.is_empty() {
            b.push_str("<p>None.</p>\n");
        } else {
            b.push_str(
                "<table class=\"changes\"><thead><tr><th>direction</th><th>open</th><th>metric</th>\
                 <th>cell</th><th>at run</th><th>before</th><th>after</th><th>change</th><th></th></tr></thead><tbody>\n",
            );
            for c in &g.changes {
                let _ = writeln!(
                    b,
                    "<tr class=\"{v}\"><td>{v}</td><td>{}</td><td>{}</td><td>{}</td>\
                     <td><a href=\"/runs/{}\">{}</a></td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
                     <td class=\"n\">{}</td><td>{}</td></tr>",
                    if c.open { "open" } else { "closed" },
                    esc(&c.metric),
                    esc(&c.label),
                    url_part(&c.run_id),
                    esc(&c.run_id),
                    value(c.before),
                    value(c.after),
                    pct(c.change_pct),
                    reproduce_box(&c.run_id, &format!("key={}", url_part(&key_text(&c.key)))),
                    v = verdict_word(c.direction),
                );
            }
            b.push_str("</tbody></table>\n");
        }
        b.push_str(
            "<h3>Series</h3>\n<table class=\"series\"><thead><tr><th>cell</th><th>metric</th>\
             <th>runs</th><th>first</th><th>last</th><th>last run</th><th></th></tr></thead><tbody>\n",
        );
        let labeler = Labeler::new(g.series.iter().map(|s| &s.key));
        for s in &g.series {
            let (Some(first), Some(last)) = (s.points.first(), s.points.last()) else {
                continue;
            };
            let _ = writeln!(
                b,
                "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
                 <td class=\"n\">{}</td><td><a href=\"/runs/{}\">{}</a></td><td>{}</td></tr>",
                esc(&labeler.label(&s.key)),
                esc(&s.metric),
                s.points.len(),
                value(first.value),
                value(last.value),
                url_part(&last.run_id),
                esc(&last.run_id),
                reproduce_box(
                    &last.run_id,
                    &format!("key={}", url_part(&key_text(&s.key)))
                ),
            );
        }
        b.push_str("</tbody></table></section>\n");
    }
    Ok(layout("trends", &b))
}

#[cfg(test)]
mod tests {
    #[test]
    fn esc_into_matches_esc() {
        for t in ["", "plain", "<a href=\"x\">&'</a>", "ünï<>"] {
            let mut out = String::from("pre:");
            super::esc_into(&mut out, t);
            assert_eq!(out, format!("pre:{}", super::esc(t)));
        }
        assert_eq!(super::url_part("a b/ü"), "a%20b%2F%C3%BC");
    }
}
