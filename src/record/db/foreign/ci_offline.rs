//! sglang-ci's offline (bench_one_batch) CSVs → runs.
//!
//! Two layouts, both comma-separated with a header (read from
//! michael-amd/sglang-ci at 192c537e, see docs/INGEST.md):
//! - the per-run CSV of `scripts/grok_perf_offline_csv.sh` /
//!   `deepseek_perf_offline_csv.sh`,
//!   `<tag>_<MODEL>_<VARIANT>_offline[_<mode>].csv`:
//!   `TP,batch_size,IL,OL[,Backend],Prefill_latency(s),Median_decode_latency(s),E2E_Latency(s),Prefill_Throughput(token/s),Median_Decode_Throughput(token/s),E2E_Throughput(token/s)`,
//!   `NA` in every metric when the run failed. One file = one run.
//! - the summary of `scripts/process_and_generate_offline_plots.py`:
//!   `date,batch_size,backend,node_name,E2E_Latency(s),E2E_Throughput(token/s),ILEN,OLEN`,
//!   several nights: one run per `date`.

use camino::Utf8Path;
use indexmap::IndexMap;

use super::{SOURCE_CI_OFFLINE, Source, bad, base_row, day, is_na, number, workload};
use crate::record::csv::CsvRow;
use crate::record::db::{DbError, RunRecord};

/// sglang-ci column → matrix column. Units are the same on both sides:
/// seconds and tokens per second.
const METRICS: [(&str, &str); 6] = [
    ("Prefill_latency(s)", "prefill_latency_s"),
    ("Median_decode_latency(s)", "median_decode_latency_s"),
    ("E2E_Latency(s)", "e2e_latency_s"),
    ("Prefill_Throughput(token/s)", "prefill_throughput"),
    (
        "Median_Decode_Throughput(token/s)",
        "median_decode_throughput",
    ),
    ("E2E_Throughput(token/s)", "e2e_throughput"),
];

const RUN_REQUIRED: [&str; 5] = ["TP", "batch_size", "IL", "OL", "E2E_Latency(s)"];
const SUMMARY_REQUIRED: [&str; 3] = ["date", "batch_size", "E2E_Latency(s)"];

/// `Ok(None)` when the header is not sglang-ci's offline one.
pub(super) fn read(src: &Source<'_>) -> Result<Option<Vec<RunRecord>>, DbError> {
    let Some((header, rows)) = table(src)? else {
        return Ok(None);
    };
    let has = |c: &str| header.iter().any(|h| h == c);
    if !(has("batch_size") && has("E2E_Latency(s)")) {
        return Ok(None);
    }
    if has("date") {
        require(
            src.path,
            &header,
            &SUMMARY_REQUIRED,
            "an sglang-ci offline summary",
        )?;
        summary(src, &header, rows).map(Some)
    } else {
        require(src.path, &header, &RUN_REQUIRED, "an sglang-ci offline CSV")?;
        one_run(src, &header, rows).map(|r| Some(vec![r]))
    }
}

pub(super) type Rows = Vec<(u64, IndexMap<String, String>)>;

/// Header and rows (with their line numbers) of a comma-separated file;
/// `None` when the first line does not look like a CSV header. A torn last
/// line (the script was killed while appending) is left out.
pub(super) fn table(src: &Source<'_>) -> Result<Option<(Vec<String>, Rows)>, DbError> {
    let text = match src.text.rfind('\n') {
        Some(i) if i + 1 < src.text.len() => &src.text[..=i],
        _ => src.text,
    };
    let first = text.lines().next().unwrap_or("");
    if !first.contains(',') || first.contains('\t') {
        return Ok(None);
    }
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(false)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header: Vec<String> = match rdr.headers() {
        Ok(h) => h.iter().map(str::to_string).collect(),
        Err(_) => return Ok(None),
    };
    let mut rows = Vec::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| {
            let line = e.position().map(|p| p.line());
            bad(
                src.path,
                line,
                format!("cannot read the row: {e}"),
                "every row of an sglang-ci CSV has as many fields as its header",
            )
        })?;
        let line = rec.position().map(|p| p.line()).unwrap_or(0);
        if rec.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        let row = header
            .iter()
            .cloned()
            .zip(rec.iter().map(str::to_string))
            .collect();
        rows.push((line, row));
    }
    Ok(Some((header, rows)))
}

/// A field of a row whose header was checked to have the column.
pub(super) fn field<'a>(row: &'a IndexMap<String, String>, column: &str) -> &'a str {
    row.get(column).map(String::as_str).unwrap_or("")
}

pub(super) fn require(
    path: &Utf8Path,
    header: &[String],
    cols: &[&str],
    what: &str,
) -> Result<(), DbError> {
    let missing: Vec<&str> = cols
        .iter()
        .filter(|c| !header.iter().any(|h| h == *c))
        .copied()
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(bad(
        path,
        Some(1),
        format!("{what} without column {}", missing.join(", ")),
        "matrix reads the CSVs of sglang-ci's *_perf_{offline,online}_csv.sh scripts and \
         of its process_and_generate_*_plots.py summaries (docs/INGEST.md)",
    ))
}

/// The metric columns of one row; a row whose metrics are all `NA` or empty
/// is a failed cell.
fn metrics(
    row: &IndexMap<String, String>,
    out: &mut CsvRow,
    path: &Utf8Path,
    line: u64,
) -> Result<(), DbError> {
    let mut any = false;
    let mut na = false;
    for (theirs, ours) in METRICS {
        let Some(v) = row.get(theirs) else { continue };
        na |= is_na(v);
        if let Some(x) = number(v, theirs, path, line)? {
            out.set(ours, x);
            any = true;
        }
    }
    if any {
        out.set("status", "ok");
    } else {
        out.set("status", "failed");
        out.set(
            "error",
            if na {
                "sglang-ci wrote NA: the benchmark failed (out of memory or crashed)"
            } else {
                "no metric value in the row"
            },
        );
    }
    Ok(())
}

/// What the per-run file's name says: `<tag>_<MODEL>_<VARIANT>_offline[_<mode>]`.
struct Name {
    tag: String,
    model: String,
    variant: String,
    suite: Option<String>,
}

fn name_of(stem: &str) -> Option<Name> {
    let parts: Vec<&str> = stem.split('_').collect();
    let at = parts.iter().rposition(|p| *p == "offline")?;
    if at < 3 {
        return None;
    }
    let suite = parts[at + 1..].join("_");
    Some(Name {
        tag: parts[0].to_string(),
        model: parts[1..at - 1].join("_"),
        variant: parts[at - 1].to_string(),
        suite: (!suite.is_empty()).then_some(suite),
    })
}

/// `config.json` that the script writes next to its CSV:
/// `{"docker": IMAGE, "attention_backend": NAME}`; unreadable → nothing.
fn config_of(path: &Utf8Path) -> (Option<String>, Option<String>) {
    let Some(dir) = path.parent() else {
        return (None, None);
    };
    let Ok(text) = std::fs::read_to_string(dir.join("config.json")) else {
        return (None, None);
    };
    let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else {
        return (None, None);
    };
    let s = |k: &str| {
        v.get(k)
            .and_then(|x| x.as_str())
            .filter(|x| !x.is_empty())
            .map(str::to_string)
    };
    (s("docker"), s("attention_backend"))
}

fn one_run(src: &Source<'_>, header: &[String], rows: Rows) -> Result<RunRecord, DbError> {
    let name = name_of(src.stem());
    let (image, config_backend) = config_of(src.path);
    let mut run = src.run(src.run_id(), SOURCE_CI_OFFLINE);
    run.run.image = image.clone();
    run.run.started_at = image
        .as_deref()
        .and_then(|i| day(i.rsplit(':').next().unwrap_or(i)))
        .or_else(|| name.as_ref().and_then(|n| day(&n.tag)));
    let has_backend = header.iter().any(|h| h == "Backend");
    for (line, r) in rows {
        let mut row = base_row("latency");
        if let Some(n) = &name {
            row.set("model", &n.model);
            row.set("model_variant", &n.variant);
            row.set_opt("suite", n.suite.as_ref());
        }
        let tp = workload(field(&r, "TP"), "TP", src.path, line)?;
        row.set("deploy", format!("tp{tp}"));
        row.set("tp", &tp);
        row.set(
            "bsz",
            workload(field(&r, "batch_size"), "batch_size", src.path, line)?,
        );
        row.set(
            "input_len",
            workload(field(&r, "IL"), "IL", src.path, line)?,
        );
        row.set(
            "output_len",
            workload(field(&r, "OL"), "OL", src.path, line)?,
        );
        let backend = if has_backend {
            r.get("Backend").cloned()
        } else {
            config_backend.clone()
        };
        row.set_opt("backend", backend.filter(|b| !b.is_empty() && !is_na(b)));
        metrics(&r, &mut row, src.path, line)?;
        run.push(row, src.path, line)?;
    }
    if run.run.cells.is_empty() {
        return Err(bad(
            src.path,
            None,
            "an sglang-ci offline CSV with a header and no row",
            "the script writes a row as each batch size finishes: none had",
        ));
    }
    Ok(run.finish())
}

/// The summary: one run per `date`, its id `<stem>-<date>-<digest of the
/// date's rows>` so a summary that grows by a night keeps the ids of the
/// nights it already had.
fn summary(src: &Source<'_>, _header: &[String], rows: Rows) -> Result<Vec<RunRecord>, DbError> {
    let model = src
        .stem()
        .split('_')
        .next()
        .filter(|m| !m.is_empty())
        .map(str::to_string);
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
        let mut run = src.run(format!("{}-{date}-{digest}", src.stem()), SOURCE_CI_OFFLINE);
        run.run.started_at = day(&date);
        for (line, r) in rows {
            let mut row = base_row("latency");
            row.set_opt("model", model.as_ref());
            row.set(
                "bsz",
                workload(field(&r, "batch_size"), "batch_size", src.path, line)?,
            );
            for (theirs, ours) in [("ILEN", "input_len"), ("OLEN", "output_len")] {
                if let Some(v) = r.get(theirs).filter(|v| !v.trim().is_empty()) {
                    row.set(ours, workload(v, theirs, src.path, line)?);
                }
            }
            row.set_opt(
                "backend",
                r.get("backend")
                    .filter(|b| !b.trim().is_empty() && !is_na(b) && *b != "unknown"),
            );
            if let Some(h) = r.get("node_name").filter(|h| !h.trim().is_empty()) {
                run.run.host.get_or_insert_with(|| h.trim().to_string());
            }
            metrics(&r, &mut row, src.path, line)?;
            run.push(row, src.path, line)?;
        }
        out.push(run.finish());
    }
    if out.is_empty() {
        return Err(bad(
            src.path,
            None,
            "an sglang-ci offline summary with a header and no row",
            "process_and_generate_offline_plots.py found no complete night",
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_name_gives_tag_model_variant_and_mode() {
        let n =
            name_of("v0.5.5-rocm700-mi30x-20251110_GROK1_MOE-I4F8_offline_long_context").unwrap();
        assert_eq!(n.tag, "v0.5.5-rocm700-mi30x-20251110");
        assert_eq!(n.model, "GROK1");
        assert_eq!(n.variant, "MOE-I4F8");
        assert_eq!(n.suite.as_deref(), Some("long_context"));
        let n = name_of("20250429_DeepSeek-V3-0324_FP8_offline").unwrap();
        assert_eq!(n.model, "DeepSeek-V3-0324");
        assert_eq!(n.suite, None);
        assert!(name_of("results").is_none());
        assert!(name_of("GROK1_offline").is_none());
    }
}
