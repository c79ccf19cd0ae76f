//! The dashboard's plots: the SVG charts of [`crate::report::plot`]
//! (what `matrix plot` writes), inline in an HTML fragment. Pages load the
//! fragment after they render (`/runs/<id>/plots`, ...), so a large run's
//! page answers before its charts are drawn.

use std::fmt::Write;

use super::data::{self, TrendFilter};
use super::pages::esc;
use super::{Failure, ServeOptions};
use crate::record::db::RunRecord;
use crate::report::plot::{self, Kind, Plot, PlotError, PlotOptions, TrendInput};
use crate::report::regressions;
use crate::report::stats::ChangePointOptions;

fn options(command: String) -> PlotOptions {
    PlotOptions {
        command,
        ..PlotOptions::default()
    }
}

/// Every chart the kinds that apply to `runs` draw (a kind without data
/// for these runs is left out), and the errors of the others.
fn draw_all(runs: &[RunRecord], command: &str) -> (Vec<Plot>, Vec<String>) {
    let mut plots = Vec::new();
    let mut errors = Vec::new();
    for kind in [Kind::Latency, Kind::Serving, Kind::Pareto] {
        let ids: Vec<&str> = runs.iter().map(|r| r.run_id.as_str()).collect();
        let cmd = format!("{command} {} --kind {}", ids.join(" "), kind.word());
        match plot::draw(kind, runs, &options(cmd)) {
            Ok(p) => plots.extend(p),
            Err(PlotError::NoData { .. }) => {}
            Err(e) => errors.push(format!("{}: {e}", kind.word())),
        }
    }
    (plots, errors)
}

/// The fragment: one `<figure>` per chart, the SVG inline.
fn fragment(plots: &[Plot], errors: &[String], empty: &str) -> String {
    let mut b = String::new();
    for p in plots {
        let _ = writeln!(
            b,
            "<figure class=\"plot\" data-name=\"{}\" data-points=\"{}\" data-series=\"{}\">{}\
             <figcaption>{}</figcaption></figure>",
            esc(&p.name),
            p.points,
            p.series,
            strip_xml_declaration(&p.svg),
            esc(&p.title)
        );
    }
    for e in errors {
        let _ = writeln!(b, "<p class=\"error\">{}</p>", esc(e));
    }
    if plots.is_empty() && errors.is_empty() {
        let _ = writeln!(b, "<p class=\"empty\">{}</p>", esc(empty));
    }
    b
}

/// An SVG document without its `<?xml ...?>` line, to sit inside HTML.
fn strip_xml_declaration(svg: &str) -> &str {
    let s = svg.trim_start();
    match s.strip_prefix("<?xml") {
        Some(rest) => rest.find("?>").map_or(s, |i| rest[i + 2..].trim_start()),
        None => s,
    }
}

/// `/runs/<id>/plots`: the run's latency / serving / pareto charts.
pub fn run(st: &ServeOptions, selector: &str) -> Result<String, Failure> {
    let r = data::load_run(st, selector)?;
    let (plots, errors) = draw_all(std::slice::from_ref(&*r), "matrix plot");
    Ok(fragment(
        &plots,
        &errors,
        "No chart applies: no ok cell with latency or serving metrics yet.",
    ))
}

/// `/compare/<base>/<new>/plots`: the charts of both runs together (each
/// series labelled with its run).
pub fn compare(st: &ServeOptions, base: &str, new: &str) -> Result<String, Failure> {
    let b = data::load_run(st, base)?;
    let n = data::load_run(st, new)?;
    let runs = if b.run_id == n.run_id {
        vec![(*b).clone()]
    } else {
        vec![(*b).clone(), (*n).clone()]
    };
    let (plots, errors) = draw_all(&runs, "matrix plot");
    Ok(fragment(&plots, &errors, "No chart applies to these runs."))
}

/// `/trends/plots?model=M&mode=O[&metric=X]`: the trend charts of one
/// group (its headline metric, or `metric`), open regressions marked.
/// The spread band of repeats is left out here (it needs every run's
/// repeats; `matrix plot --kind trend` draws it).
pub fn trend(st: &ServeOptions, f: &TrendFilter) -> Result<String, Failure> {
    let mut groups = data::trends(st, f)?;
    let Some(g) = groups.first_mut() else {
        return Ok(fragment(&[], &[], "No series match."));
    };
    let metric = match f.metric.as_deref().filter(|m| !m.is_empty()) {
        Some(m) => m.to_string(),
        None => ["e2e_latency_s", "median_e2e_ms"]
            .iter()
            .find(|m| g.series.iter().any(|s| s.metric == **m))
            .map(|m| m.to_string())
            .unwrap_or_else(|| g.series[0].metric.clone()),
    };
    let series: Vec<_> = g
        .series
        .iter()
        .filter(|s| s.metric == metric)
        .cloned()
        .collect();
    let found = regressions::find(&series, &ChangePointOptions::default(), None);
    let input = TrendInput {
        series,
        regressions: found,
        ..TrendInput::default()
    };
    let cmd = format!(
        "matrix plot {} --kind trend --only model={} --only mode={} --metric {metric}",
        g.series
            .last()
            .and_then(|s| s.points.last())
            .map_or("latest", |p| p.run_id.as_str()),
        g.model,
        g.mode
    );
    match plot::draw_trend(&input, &options(cmd)) {
        Ok(p) => Ok(fragment(&p, &[], "No trend to draw.")),
        Err(e) => Ok(fragment(&[], &[format!("trend: {e}")], "")),
    }
}

/// The placeholder a page carries; the script replaces it with the
/// fragment at `src` (a link to it without script).
pub fn placeholder(src: &str) -> String {
    format!(
        "<section class=\"plots\" data-src=\"{s}\"><h2>Plots</h2>\n\
         <div class=\"plots-body\"><p class=\"hint\">Drawing… (<a href=\"{s}\">the charts alone</a>)</p></div></section>\n",
        s = esc(src)
    )
}
