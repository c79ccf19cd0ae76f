//! Pieces every compare renderer shares: number formats, verdict words,
//! the summary and the footer.

use std::collections::BTreeSet;

use crate::report::compare::model::{CompareReport, ManifestDiff};
use crate::report::stats::{Comparison, Method, Verdict};

/// A metric value with about four significant digits.
pub fn value(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    let a = v.abs();
    if a >= 1000.0 {
        format!("{v:.0}")
    } else if a >= 100.0 {
        format!("{v:.1}")
    } else if a >= 10.0 {
        format!("{v:.2}")
    } else if a >= 1.0 {
        format!("{v:.3}")
    } else {
        format!("{v:.4}")
    }
}

pub fn pct(v: f64) -> String {
    format!("{v:+.1}%")
}

pub fn ci(c: &Comparison) -> String {
    match c.ci_pct {
        Some((lo, hi)) => format!("[{lo:+.1}, {hi:+.1}]"),
        None => "-".into(),
    }
}

pub fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Regression => "regression",
        Verdict::Improvement => "improvement",
        Verdict::Unchanged => "unchanged",
        Verdict::Inconclusive => "inconclusive",
    }
}

pub fn method_word(m: Method) -> &'static str {
    match m {
        Method::Repeats => "repeats",
        Method::History => "history",
        Method::None => "none",
    }
}

pub fn side_text(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("-")
}

pub fn diff_line(d: &ManifestDiff) -> String {
    format!("{}: {} → {}", d.what, side_text(&d.base), side_text(&d.new))
}

/// `2 regressions, 1 improvement, 3 inconclusive, 40 unchanged`.
pub fn summary(r: &CompareReport) -> String {
    let n = |v| r.count(v);
    format!(
        "{} regression{}, {} improvement{}, {} inconclusive, {} unchanged",
        n(Verdict::Regression),
        if n(Verdict::Regression) == 1 { "" } else { "s" },
        n(Verdict::Improvement),
        if n(Verdict::Improvement) == 1 {
            ""
        } else {
            "s"
        },
        n(Verdict::Inconclusive),
        n(Verdict::Unchanged),
    )
}

/// How many cells and metrics, the alpha, min effect, methods used.
pub fn footer(r: &CompareReport) -> String {
    let cells: BTreeSet<&str> = r.rows.iter().map(|row| row.label.as_str()).collect();
    let metrics: BTreeSet<&str> = r.rows.iter().map(|row| row.metric.as_str()).collect();
    let methods: BTreeSet<&str> = r
        .rows
        .iter()
        .map(|row| method_word(row.comparison.method))
        .collect();
    let methods = if methods.is_empty() {
        "-".to_string()
    } else {
        methods.into_iter().collect::<Vec<_>>().join(", ")
    };
    format!(
        "{} cells, {} metrics, {} comparisons; FDR alpha {}, min effect {}%; methods: {}",
        cells.len(),
        metrics.len(),
        r.rows.len(),
        r.alpha,
        r.min_effect_pct,
        methods
    )
}

/// Metrics in the order their first row appears.
pub fn metrics_in_order(r: &CompareReport) -> Vec<&str> {
    let mut seen = Vec::new();
    for row in &r.rows {
        if !seen.contains(&row.metric.as_str()) {
            seen.push(row.metric.as_str());
        }
    }
    seen
}

/// `same run on both sides` note.
pub fn same_run_note(r: &CompareReport) -> Option<String> {
    (r.base.run_id == r.new.run_id).then(|| {
        format!(
            "note: BASE and NEW are the same run ({}): every change is 0",
            r.base.run_id
        )
    })
}

/// Run-level values (GSM8K accuracy) of either side: name → `base → new`.
pub fn extras(r: &CompareReport) -> Vec<(String, String)> {
    let mut names: Vec<&String> = r.base.extras.keys().chain(r.new.extras.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .map(|k| {
            let b = r.base.extras.get(k).copied();
            let n = r.new.extras.get(k).copied();
            let f = |v: Option<f64>| v.map_or("-".to_string(), value);
            let change = match (b, n) {
                (Some(b), Some(n)) => format!(" ({:+.3})", n - b),
                _ => String::new(),
            };
            (k.clone(), format!("{} → {}{}", f(b), f(n), change))
        })
        .collect()
}

pub fn marker(v: Verdict) -> &'static str {
    match v {
        Verdict::Regression => "🔴",
        Verdict::Improvement => "🟢",
        Verdict::Unchanged => "⚪",
        Verdict::Inconclusive => "🟡",
    }
}
