//! `matrix regressions`: steps in every (cell, judged metric) series of the
//! results database, open regressions first.

use std::fmt::Write;

use serde::{Deserialize, Serialize};

use crate::record::db::model::better;
use crate::record::db::{CellKey, Series};
use crate::report::compare::build::Labeler;
use crate::report::compare::render_common::{pct, value};
use crate::report::error::ReportError;
use crate::report::stats::{ChangePointOptions, Verdict, steps};

/// One step of one series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Regression {
    pub key: CellKey,
    pub label: String,
    pub metric: String,
    /// `regression` or `improvement`.
    pub direction: Verdict,
    /// Not undone by a later step.
    pub open: bool,
    /// The first run after the step, and when it started.
    pub run_id: String,
    pub started_at: Option<String>,
    pub before: f64,
    pub after: f64,
    pub change_pct: f64,
    pub p: f64,
}

/// The time `--since` means: `7d` / `12h` / `30m` back from `now`, a date
/// (`2026-11-01`, midnight UTC) or an RFC 3339 time.
pub fn parse_since(s: &str, now: jiff::Timestamp) -> Result<jiff::Timestamp, ReportError> {
    let bad = || ReportError::BadSince {
        since: s.to_string(),
    };
    if let Some(unit) = s.chars().last().filter(|c| matches!(c, 'd' | 'h' | 'm')) {
        if let Ok(n) = s[..s.len() - 1].parse::<i64>() {
            let secs = match unit {
                'd' => 86_400,
                'h' => 3_600,
                _ => 60,
            };
            return n
                .checked_mul(secs)
                .filter(|v| *v >= 0)
                .and_then(|v| now.checked_sub(jiff::SignedDuration::from_secs(v)).ok())
                .ok_or_else(bad);
        }
    }
    if let Ok(t) = s.parse::<jiff::Timestamp>() {
        return Ok(t);
    }
    if let Ok(d) = s.parse::<jiff::civil::Date>() {
        return d
            .to_zoned(jiff::tz::TimeZone::UTC)
            .map(|z| z.timestamp())
            .map_err(|_| bad());
    }
    Err(bad())
}

/// Every step of every series; with `since`, only steps at a point that
/// started then or later (earlier points still make the baseline). Open
/// regressions first, then by metric and label.
pub fn find(
    series: &[Series],
    opts: &ChangePointOptions,
    since: Option<jiff::Timestamp>,
) -> Vec<Regression> {
    let labeler = Labeler::new(series.iter().map(|s| &s.key));
    let mut out = Vec::new();
    for s in series {
        let Some(dir) = better(&s.metric) else {
            continue;
        };
        let values: Vec<f64> = s.points.iter().map(|p| p.value).collect();
        for step in steps(&values, dir, opts) {
            let Some(point) = s.points.get(step.change.index) else {
                continue;
            };
            if let Some(since) = since {
                let t = point
                    .started_at
                    .as_deref()
                    .and_then(|t| t.parse::<jiff::Timestamp>().ok());
                if t.is_none_or(|t| t < since) {
                    continue;
                }
            }
            out.push(Regression {
                key: s.key.clone(),
                label: labeler.label(&s.key),
                metric: s.metric.clone(),
                direction: step.direction,
                open: step.open,
                run_id: point.run_id.clone(),
                started_at: point.started_at.clone(),
                before: step.change.before,
                after: step.change.after,
                change_pct: step.change.change_pct,
                p: step.change.p,
            });
        }
    }
    let rank = |r: &Regression| match (r.direction, r.open) {
        (Verdict::Regression, true) => 0,
        (Verdict::Regression, false) => 1,
        _ => 2,
    };
    out.sort_by(|a, b| {
        rank(a)
            .cmp(&rank(b))
            .then_with(|| a.metric.cmp(&b.metric))
            .then_with(|| a.label.cmp(&b.label))
            .then_with(|| a.run_id.cmp(&b.run_id))
    });
    out
}

/// Open regressions.
pub fn open_count(items: &[Regression]) -> usize {
    items
        .iter()
        .filter(|r| r.open && r.direction == Verdict::Regression)
        .count()
}

/// The terminal listing: every item given (the caller filters `--all`).
pub fn render_term(items: &[Regression], series: usize, since: Option<&str>) -> String {
    let mut out = String::new();
    let head = [
        "state", "metric", "cell", "run", "date", "before", "after", "change",
    ];
    let rows: Vec<[String; 8]> = items
        .iter()
        .map(|r| {
            let state = match (r.direction, r.open) {
                (Verdict::Regression, true) => "OPEN regression",
                (Verdict::Regression, false) => "closed regression",
                _ => "improvement",
            };
            [
                state.to_string(),
                r.metric.clone(),
                r.label.clone(),
                r.run_id.clone(),
                r.started_at.clone().unwrap_or_else(|| "-".into()),
                value(r.before),
                value(r.after),
                pct(r.change_pct),
            ]
        })
        .collect();
    if !rows.is_empty() {
        let mut w = head.map(str::len);
        for row in &rows {
            for (w, c) in w.iter_mut().zip(row) {
                *w = (*w).max(c.chars().count());
            }
        }
        let line = |cols: Vec<&str>| {
            let mut s = String::new();
            for (c, w) in cols.iter().zip(w) {
                let _ = write!(s, "{}{}  ", c, " ".repeat(w - c.chars().count()));
            }
            s.trim_end().to_string()
        };
        let _ = writeln!(out, "{}", line(head.to_vec()));
        for row in &rows {
            let _ = writeln!(out, "{}", line(row.iter().map(String::as_str).collect()));
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "{} open regression(s) in {} series{}",
        open_count(items),
        series,
        since.map_or(String::new(), |s| format!(
            " (steps since {s}; earlier points are the baseline)"
        ))
    );
    out
}

/// `{"format":1,"regressions":[...]}`.
pub fn render_json(items: &[Regression]) -> String {
    let v = serde_json::json!({ "format": 1, "regressions": items });
    let mut s = serde_json::to_string_pretty(&v).unwrap_or_default();
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_forms() {
        let now: jiff::Timestamp = "2026-11-10T00:00:00Z".parse().unwrap();
        let day: jiff::Timestamp = "2026-11-03T00:00:00Z".parse().unwrap();
        assert_eq!(parse_since("7d", now).unwrap(), day);
        assert_eq!(parse_since("168h", now).unwrap(), day);
        assert_eq!(parse_since("2026-11-03", now).unwrap(), day);
        assert_eq!(parse_since("2026-11-03T00:00:00Z", now).unwrap(), day);
        assert!(parse_since("last week", now).is_err());
        assert!(parse_since("-3d", now).is_err());
    }
}
