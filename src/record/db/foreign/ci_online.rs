//! sglang-ci's online (bench_serving) CSVs → runs.
//!
//! Two layouts (read from michael-amd/sglang-ci at 192c537e, see
//! docs/INGEST.md):
//! - the per-run file of `scripts/grok_perf_online_csv.sh` /
//!   `deepseek_perf_online_csv.sh`: not a table but tab-separated
//!   sections, one per metric, each a title (`Median E2E Latency (ms, lower
//!   better)`), a load line (`request rate<TAB>1<TAB>2...` or
//!   `concurrency<TAB>...`) and one line per series (`MI300x-aiter,
//!   HOST<TAB>v1<TAB>v2...` or `MODEL-VARIANT<TAB>...`), after a title line
//!   `Online mode - MODEL (TAG)` / `Online Serving Benchmark - MODEL (TAG)`.
//!   Older DeepSeek files end with `Results` and `Average Accuracy<TAB>x`
//!   (written by `echo` without `-e`, so the tab may be a literal `\t`).
//! - the summary of `scripts/process_and_generate_online_plots.py`:
//!   `date,variant,mode,request_rate|concurrency,node_name,GSM8K_Accuracy,E2E_Latency_ms,TTFT_ms,ITL_ms,num_tokens,KV_size_GB`,
//!   one run per `date`.

use indexmap::IndexMap;

use super::ci_offline::{Rows, field, require, table};
use super::{GSM8K_ACCURACY, SOURCE_CI_ONLINE, Source, bad, base_row, day, number, workload};
use crate::record::db::{DbError, RunRecord};

/// Section title prefix → matrix column (milliseconds on both sides).
const SECTIONS: [(&str, &str); 3] = [
    ("Median E2E Latency", "median_e2e_ms"),
    ("Median TTFT", "median_ttft_ms"),
    ("Median ITL", "median_itl_ms"),
];

/// Summary column → matrix column (milliseconds on both sides).
const SUMMARY_METRICS: [(&str, &str); 3] = [
    ("E2E_Latency_ms", "median_e2e_ms"),
    ("TTFT_ms", "median_ttft_ms"),
    ("ITL_ms", "median_itl_ms"),
];

/// The load line's first field → matrix workload column.
fn load_column(name: &str) -> Option<&'static str> {
    match name.trim() {
        "request rate" | "request_rate" => Some("request_rate"),
        "concurrency" => Some("max_concurrency"),
        _ => None,
    }
}

/// `Ok(None)` when the file is neither online layout.
pub(super) fn read(src: &Source<'_>) -> Result<Option<Vec<RunRecord>>, DbError> {
    let gsm8k_only = src
        .text
        .lines()
        .find(|l| !l.trim().is_empty())
        .is_some_and(|l| l.trim().starts_with(GSM8K_TITLE));
    if gsm8k_only || src.text.lines().any(is_section_title) {
        return sections(src).map(|r| Some(vec![r]));
    }
    let Some((header, rows)) = table(src)? else {
        return Ok(None);
    };
    let has = |c: &str| header.iter().any(|h| h == c);
    if !(has("date") && has("E2E_Latency_ms")) {
        return Ok(None);
    }
    require(
        src.path,
        &header,
        &["date", "mode", "E2E_Latency_ms"],
        "an sglang-ci online summary",
    )?;
    let Some(load) = ["request_rate", "concurrency"].into_iter().find(|c| has(c)) else {
        return Err(bad(
            src.path,
            Some(1),
            "an sglang-ci online summary without a request_rate or concurrency column",
            "process_and_generate_online_plots.py names the load column request_rate or concurrency",
        ));
    };
    summary(src, load, rows).map(Some)
}

/// The title of the GSM8K-only file older DeepSeek online scripts wrote
/// (`GSM8K Accuracy Test - MODEL (TAG)`, a `Test Configuration` block, then
/// `Results` and `Average Accuracy<TAB>x`).
const GSM8K_TITLE: &str = "GSM8K Accuracy Test - ";

fn is_section_title(line: &str) -> bool {
    line.contains("(ms, lower better)")
}

/// What a series label says: `MI300x-aiter, HOST` → backend `aiter`, host;
/// `DeepSeek-V3-0324-FP8` (the title's model, `-`, its variant) → variant.
fn label(text: &str, model: Option<&str>) -> (Vec<(&'static str, String)>, Option<String>) {
    let (name, host) = match text.split_once(',') {
        Some((n, h)) => (
            n.trim(),
            Some(h.trim().to_string()).filter(|h| !h.is_empty()),
        ),
        None => (text.trim(), None),
    };
    let key = if let Some(v) = model
        .and_then(|m| name.strip_prefix(m))
        .and_then(|r| r.strip_prefix('-'))
        .filter(|v| !v.is_empty())
    {
        vec![("model_variant", v.to_string())]
    } else if let Some((_gpu, backend)) = name.split_once('-').filter(|(_, b)| !b.is_empty()) {
        vec![("backend", backend.to_string())]
    } else {
        vec![("series", name.to_string())]
    };
    (key, host)
}

/// A number after a label: `Average Accuracy<TAB>0.941` (or a literal `\t`,
/// or spaces).
fn trailing_number(line: &str, prefix: &str) -> Option<f64> {
    let rest = line.trim().strip_prefix(prefix)?;
    let rest = rest.trim_start().trim_start_matches("\\t").trim();
    rest.parse::<f64>().ok().filter(|x| x.is_finite())
}

/// The per-run sectioned file.
fn sections(src: &Source<'_>) -> Result<RunRecord, DbError> {
    let lines: Vec<&str> = src.text.lines().collect();
    let mut run = src.run(src.run_id(), SOURCE_CI_ONLINE);
    // Title: `Online mode - MODEL (TAG)`.
    let mut model = None;
    if let Some(first) = lines.iter().find(|l| !l.trim().is_empty()) {
        let t = first.trim();
        let rest = t
            .strip_prefix("Online mode - ")
            .or_else(|| t.strip_prefix("Online Serving Benchmark - "))
            .or_else(|| t.strip_prefix(GSM8K_TITLE));
        if let Some(rest) = rest {
            match rest.rsplit_once(" (") {
                Some((m, tag)) => {
                    let tag = tag.trim_end_matches(')').trim();
                    model = Some(m.trim().to_string()).filter(|m| !m.is_empty());
                    if !tag.is_empty() {
                        run.run.image = Some(tag.to_string());
                        run.run.started_at = day(tag);
                    }
                }
                None => model = Some(rest.trim().to_string()).filter(|m| !m.is_empty()),
            }
        }
    }
    // (series label, load column, load value) → (first line, metric → value).
    type Cell = (u64, IndexMap<&'static str, f64>);
    let mut cells: IndexMap<(String, &'static str, String), Cell> = IndexMap::new();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i].trim_end_matches('\r');
        let at = i as u64 + 1;
        i += 1;
        if let Some(x) = trailing_number(l, "Average Accuracy") {
            run.run.extras.insert(GSM8K_ACCURACY.into(), x);
            continue;
        }
        if let Some(x) = trailing_number(l, "Average Throughput (tokens/s)") {
            run.run.extras.insert("gsm8k_output_throughput".into(), x);
            continue;
        }
        if let Some(x) = trailing_number(l, "Average Latency (s)") {
            run.run.extras.insert("gsm8k_latency_s".into(), x);
            continue;
        }
        if !is_section_title(l) {
            continue;
        }
        let metric = SECTIONS
            .iter()
            .find(|(p, _)| l.trim().starts_with(p))
            .map(|(_, m)| *m);
        // The load line.
        let load_line = lines.get(i).copied().unwrap_or("");
        let mut fields = load_line.trim_end_matches('\r').split('\t');
        let Some(col) = load_column(fields.next().unwrap_or("")) else {
            return Err(bad(
                src.path,
                Some(at + 1),
                format!(
                    "expected the `request rate` or `concurrency` line after `{}`",
                    l.trim()
                ),
                "sglang-ci's online CSV has a load line under each section title",
            ));
        };
        let Some(metric) = metric else {
            // A section of no known metric: its lines are skipped.
            i += 1;
            while i < lines.len() && !lines[i].trim().is_empty() && lines[i].contains('\t') {
                i += 1;
            }
            continue;
        };
        let loads: Vec<String> = fields
            .filter(|f| !f.trim().is_empty())
            .map(|f| workload(f, col, src.path, at + 1))
            .collect::<Result<_, _>>()?;
        i += 1;
        // Series lines (a label and tab-separated values) up to the next
        // blank line or line without a tab (`Results`).
        while i < lines.len() && !lines[i].trim().is_empty() && lines[i].contains('\t') {
            let row_at = i as u64 + 1;
            let row = lines[i].trim_end_matches('\r');
            i += 1;
            if is_section_title(row) {
                i -= 1;
                break;
            }
            let mut f = row.split('\t');
            let name = f.next().unwrap_or("").trim().to_string();
            // H100 baseline rows and H100/MI300x ratio rows of older files
            // are numbers from elsewhere, not this run's.
            if name.contains("H100") {
                continue;
            }
            let values: Vec<&str> = f.collect();
            if let Some(extra) = values
                .get(loads.len()..)
                .and_then(|rest| rest.iter().find(|v| !v.trim().is_empty()))
            {
                return Err(bad(
                    src.path,
                    Some(row_at),
                    format!(
                        "`{}` has more values than the {} loads of its section",
                        extra.trim(),
                        loads.len()
                    ),
                    "each series line has one value per load of the line above",
                ));
            }
            for (n, load) in loads.iter().enumerate() {
                let v = values.get(n).copied().unwrap_or("");
                let x = number(v, metric, src.path, row_at)?;
                let cell = cells
                    .entry((name.clone(), col, load.clone()))
                    .or_insert_with(|| (row_at, IndexMap::new()));
                if let Some(x) = x {
                    cell.1.insert(metric, x);
                }
            }
        }
    }
    for ((name, col, load), (line, metrics)) in cells {
        let mut row = base_row("serving");
        row.set_opt("model", model.as_ref());
        let (key, host) = label(&name, model.as_deref());
        for (k, v) in key {
            row.set(k, v);
        }
        if let Some(h) = host {
            run.run.host.get_or_insert(h);
        }
        row.set(col, &load);
        if metrics.is_empty() {
            row.set("status", "failed");
            row.set(
                "error",
                "no value in the CSV (the load did not finish, or its logs had no result)",
            );
        } else {
            row.set("status", "ok");
            for (m, x) in metrics {
                row.set(m, x);
            }
        }
        run.push(row, src.path, line)?;
    }
    if !run.run.extras.contains_key(GSM8K_ACCURACY) {
        for (name, x) in gsm8k_from_logs(src.path, model.as_deref()) {
            run.run.extras.insert(name, x);
        }
    }
    if run.run.cells.is_empty() && !run.run.extras.contains_key(GSM8K_ACCURACY) {
        return Err(bad(
            src.path,
            None,
            "an sglang-ci online CSV with no series line and no GSM8K accuracy",
            "the script writes a series line per backend under each section title",
        ));
    }
    Ok(run.finish())
}

/// The GSM8K accuracy the current scripts keep only in their GSM8K log next
/// to the CSV (`sglang_client_log_<MODEL>_gsm8k[_<mode>].log`, appended to
/// by every rerun: the last result line wins). A result line is
/// `Average Accuracy over N [valid] runs[ for mode M]: X` or, when a run met
/// the threshold early, `Accuracy: X (Required: T)`; the raw `Accuracy: X`
/// lines of single runs are not results. One value → `gsm8k_accuracy`;
/// modes that disagree → `gsm8k_accuracy_<mode>`. Unreadable logs give
/// nothing.
fn gsm8k_from_logs(csv: &camino::Utf8Path, model: Option<&str>) -> Vec<(String, f64)> {
    let Some(dir) = csv.parent() else {
        return Vec::new();
    };
    let dir = if dir.as_str().is_empty() {
        camino::Utf8Path::new(".")
    } else {
        dir
    };
    let Ok(entries) = dir.read_dir_utf8() else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string())
        .filter(|n| {
            // The model's own log when the title names the model.
            let prefix = format!("sglang_client_log_{}", model.unwrap_or(""));
            n.starts_with(&prefix)
                && n.to_ascii_lowercase().contains("_gsm8k")
                && n.ends_with(".log")
        })
        .collect();
    names.sort();
    let mut per_mode: IndexMap<String, f64> = IndexMap::new();
    for name in names {
        let Ok(text) = std::fs::read_to_string(dir.join(&name)) else {
            continue;
        };
        let stem = name.trim_end_matches(".log");
        let lower = stem.to_ascii_lowercase();
        let from_name = lower
            .rfind("_gsm8k_")
            .map(|i| stem[i + "_gsm8k_".len()..].to_string());
        let mut last = None;
        for line in text.lines() {
            let l = line.trim();
            if let Some(rest) = l.strip_prefix("Average Accuracy over ") {
                let (head, value) = rest.rsplit_once(':').unwrap_or(("", ""));
                if let Ok(x) = value.trim().parse::<f64>() {
                    let mode = head
                        .split_once("for mode ")
                        .map(|(_, m)| m.trim().to_string());
                    last = Some((mode, x));
                }
            } else if let Some(rest) = l.strip_prefix("Accuracy: ")
                && rest.contains("(Required:")
                && let Some(Ok(x)) = rest.split_whitespace().next().map(str::parse::<f64>)
            {
                last = Some((None, x));
            }
        }
        if let Some((mode, x)) = last {
            let mode = mode.or_else(|| from_name.clone()).unwrap_or_default();
            per_mode.insert(mode, x);
        }
    }
    let first = per_mode.values().next().copied();
    match first {
        None => Vec::new(),
        Some(x) if per_mode.values().all(|y| *y == x) => vec![(GSM8K_ACCURACY.to_string(), x)],
        Some(_) => per_mode
            .into_iter()
            .map(|(m, x)| {
                if m.is_empty() {
                    (GSM8K_ACCURACY.to_string(), x)
                } else {
                    (format!("{GSM8K_ACCURACY}_{m}"), x)
                }
            })
            .collect(),
    }
}

/// The summary: one run per `date` (ids as the offline summary's).
fn summary(src: &Source<'_>, load: &str, rows: Rows) -> Result<Vec<RunRecord>, DbError> {
    let model = src
        .stem()
        .split('_')
        .next()
        .filter(|m| !m.is_empty())
        .map(str::to_string);
    let load_col = load_column(load).unwrap_or("request_rate");
    let mut by_date: IndexMap<String, Rows> = IndexMap::new();
    for (line, r) in rows {
        let date = field(&r, "date").trim().to_string();
        if date.is_empty() {
            return Err(bad(
                src.path,
                Some(line),
                "the row has no date",
                "the summary's rows are grouped into runs by date",
            ));
        }
        by_date.entry(date).or_default().push((line, r));
    }
    let mut out = Vec::new();
    for (date, rows) in by_date {
        let canon: Vec<String> = rows
            .iter()
            .map(|(_, r)| r.values().cloned().collect::<Vec<_>>().join(","))
            .collect();
        let digest = blake3::hash(canon.join("\n").as_bytes()).to_hex()[..8].to_string();
        let mut run = src.run(format!("{}-{date}-{digest}", src.stem()), SOURCE_CI_ONLINE);
        run.run.started_at = day(&date);
        // Run-level values, per (variant, mode): one name when they agree.
        let mut extras: IndexMap<&str, IndexMap<String, f64>> = IndexMap::new();
        for (line, r) in rows {
            let mut row = base_row("serving");
            row.set_opt("model", model.as_ref());
            let mode = field(&r, "mode").trim();
            let variant = field(&r, "variant").trim();
            row.set_opt("backend", Some(mode).filter(|m| !m.is_empty()));
            row.set_opt("variant", Some(variant).filter(|v| !v.is_empty()));
            row.set(load_col, workload(field(&r, load), load, src.path, line)?);
            if let Some(h) = r.get("node_name").filter(|h| !h.trim().is_empty()) {
                run.run.host.get_or_insert_with(|| h.trim().to_string());
            }
            let mut any = false;
            for (theirs, ours) in SUMMARY_METRICS {
                if let Some(x) = number(field(&r, theirs), theirs, src.path, line)? {
                    row.set(ours, x);
                    any = true;
                }
            }
            for (theirs, ours) in [
                ("GSM8K_Accuracy", GSM8K_ACCURACY),
                ("num_tokens", "kv_cache_tokens"),
                ("KV_size_GB", "kv_cache_gb"),
            ] {
                if let Some(x) = number(field(&r, theirs), theirs, src.path, line)? {
                    extras
                        .entry(ours)
                        .or_default()
                        .insert(format!("{variant}_{mode}"), x);
                }
            }
            if any {
                row.set("status", "ok");
            } else {
                row.set("status", "failed");
                row.set("error", "no metric value in the row");
            }
            run.push(row, src.path, line)?;
        }
        for (name, per) in extras {
            let first = per.values().next().copied();
            match first {
                Some(x) if per.values().all(|y| *y == x) => {
                    run.run.extras.insert(name.to_string(), x);
                }
                _ => {
                    for (which, x) in per {
                        run.run.extras.insert(format!("{name}_{which}"), x);
                    }
                }
            }
        }
        out.push(run.finish());
    }
    if out.is_empty() {
        return Err(bad(
            src.path,
            None,
            "an sglang-ci online summary with a header and no row",
            "process_and_generate_online_plots.py found no complete night",
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_give_backend_host_or_variant() {
        let (k, h) = label("MI300x-aiter, node-7", Some("GROK1"));
        assert_eq!(k, vec![("backend", "aiter".to_string())]);
        assert_eq!(h.as_deref(), Some("node-7"));
        let (k, h) = label("DeepSeek-V3-0324-FP8", Some("DeepSeek-V3-0324"));
        assert_eq!(k, vec![("model_variant", "FP8".to_string())]);
        assert_eq!(h, None);
        let (k, _) = label("baseline", None);
        assert_eq!(k, vec![("series", "baseline".to_string())]);
    }

    #[test]
    fn accuracy_lines_with_a_tab_or_a_literal_backslash_t() {
        assert_eq!(
            trailing_number("Average Accuracy\t0.941", "Average Accuracy"),
            Some(0.941)
        );
        assert_eq!(
            trailing_number("Average Accuracy\\t0.94", "Average Accuracy"),
            Some(0.94)
        );
        assert_eq!(
            trailing_number("Average Accuracy\tN/A", "Average Accuracy"),
            None
        );
    }
}
