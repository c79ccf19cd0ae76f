//! The results table: a run's rows (its CSV's header and records) as a text
//! table of the varying axes × the headline metrics of each mode, with the
//! status and the cell id. The end of `matrix run` and `matrix show` both
//! print it, and `summary.json` keeps the same rows ([`tables`]).
//!
//! Values come from the CSV as written: an empty field is shown as `-`,
//! never as 0. Columns are read by name, so columns appended to the CSV
//! later (`group_id`, `log`, ...) change nothing here.

use camino::{Utf8Path, Utf8PathBuf};
use indexmap::IndexMap;
use serde::Serialize;

use super::ReportError;
use crate::record::csv::{HEAD_COLUMNS, LATENCY_COLUMNS, SERVING_COLUMNS};

/// Head columns that are a cell's settings (the others are its outcome).
const HEAD_AXES: [&str; 12] = [
    "engine", "mode", "model", "mconf", "base", "deploy", "backend", "optional", "tp", "ep", "dp",
    "nnodes",
];

/// Metric columns that are workload settings (swept like axes).
const WORKLOAD_AXES: [&str; 6] = [
    "bsz",
    "input_len",
    "output_len",
    "request_rate",
    "max_concurrency",
    "num_prompts",
];

/// A run's rows: the CSV header and one column → text map per record
/// (every header column present, "" for an empty field).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rows {
    pub header: Vec<String>,
    pub records: Vec<IndexMap<String, String>>,
}

impl Rows {
    /// Rows as the events carry them (`CellFinished::row`); the header is
    /// the union of their columns in first-seen order.
    pub fn from_maps(maps: impl IntoIterator<Item = IndexMap<String, String>>) -> Rows {
        let mut header: Vec<String> = Vec::new();
        let records: Vec<_> = maps.into_iter().collect();
        for r in &records {
            for k in r.keys() {
                if !header.contains(k) {
                    header.push(k.clone());
                }
            }
        }
        let records = records
            .into_iter()
            .map(|r| {
                header
                    .iter()
                    .map(|c| (c.clone(), r.get(c).cloned().unwrap_or_default()))
                    .collect()
            })
            .collect();
        Rows { header, records }
    }

    /// The columns that describe a cell's settings: the head's settings,
    /// the extra swept axes (between the head and the metrics) and the
    /// workload columns, in header order.
    pub fn axis_columns(&self) -> Vec<String> {
        let is_metric = |c: &str| LATENCY_COLUMNS.contains(&c) || SERVING_COLUMNS.contains(&c);
        let first_metric = self
            .header
            .iter()
            .position(|c| is_metric(c))
            .unwrap_or(self.header.len());
        self.header
            .iter()
            .enumerate()
            .filter(|(i, c)| {
                HEAD_AXES.contains(&c.as_str())
                    || WORKLOAD_AXES.contains(&c.as_str())
                    || (*i < first_metric && !HEAD_COLUMNS.contains(&c.as_str()))
            })
            .map(|(_, c)| c.clone())
            .collect()
    }
}

/// Read a run's CSV.
pub fn read_csv(path: &Utf8Path) -> Result<Rows, ReportError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ReportError::io(format!("cannot read {path}"), e))?;
    parse_csv(path, &text)
}

/// Parse CSV text (`path` names it in errors). A torn last line (a run
/// killed mid-row) is left out, as the recorder does on resume.
pub fn parse_csv(path: &Utf8Path, text: &str) -> Result<Rows, ReportError> {
    let complete = text.rfind('\n').map_or(0, |i| i + 1);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(&text.as_bytes()[..complete]);
    let bad = |e: csv::Error| ReportError::Csv {
        path: path.to_owned(),
        reason: e.to_string(),
    };
    let header: Vec<String> = reader
        .headers()
        .map_err(bad)?
        .iter()
        .map(str::to_string)
        .collect();
    let mut records = Vec::new();
    for rec in reader.records() {
        let rec = rec.map_err(bad)?;
        records.push(
            header
                .iter()
                .enumerate()
                .map(|(i, c)| (c.clone(), rec.get(i).unwrap_or_default().to_string()))
                .collect(),
        );
    }
    Ok(Rows { header, records })
}

/// How a headline metric is shown.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Metric {
    /// The CSV column it is read from.
    pub column: &'static str,
    /// The table's column title (with the unit shown).
    pub label: &'static str,
    /// Shown value = CSV value × scale (seconds → ms, fraction → %).
    #[serde(skip)]
    pub scale: f64,
    /// Shown only when some row has a value.
    #[serde(skip)]
    pub optional: bool,
}

const fn metric(column: &'static str, label: &'static str, scale: f64, optional: bool) -> Metric {
    Metric {
        column,
        label,
        scale,
        optional,
    }
}

/// Headline metrics of latency mode.
pub const LATENCY_METRICS: [Metric; 6] = [
    metric("prefill_latency_s", "prefill ms", 1000.0, false),
    metric("median_decode_latency_s", "decode ms", 1000.0, false),
    metric("e2e_latency_s", "E2E s", 1.0, false),
    metric("e2e_throughput", "E2E tok/s", 1.0, false),
    metric("prefill_mfu", "MFU %", 100.0, true),
    metric("decode_mbu", "MBU %", 100.0, true),
];

/// Headline metrics of serving mode. `completed` is shown as
/// `completed/num_prompts` (requests done of those sent).
pub const SERVING_METRICS: [Metric; 5] = [
    metric("median_ttft_ms", "TTFT ms", 1.0, false),
    metric("median_itl_ms", "ITL ms", 1.0, false),
    metric("median_e2e_ms", "E2E ms", 1.0, false),
    metric("output_throughput", "out tok/s", 1.0, false),
    metric("completed", "done", 1.0, false),
];

/// The headline metrics of a mode (none for an unknown one).
pub fn headline(mode: &str) -> &'static [Metric] {
    match mode {
        "latency" => &LATENCY_METRICS,
        "serving" => &SERVING_METRICS,
        _ => &[],
    }
}

/// One row of a mode's table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TableRow {
    pub cell_id: String,
    pub status: String,
    /// Why it failed, was skipped or pruned.
    pub error: Option<String>,
    /// The varying axes' values (CSV text).
    pub axes: IndexMap<String, String>,
    /// Headline metric values as the CSV has them (its units), by column;
    /// `None` when the field is empty or not a number.
    pub metrics: IndexMap<String, Option<f64>>,
}

/// The rows of one mode.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModeTable {
    pub mode: String,
    /// Axis columns whose value differs between this mode's rows.
    pub axes: Vec<String>,
    #[serde(skip)]
    pub metrics: Vec<Metric>,
    pub rows: Vec<TableRow>,
}

/// The CSV column of an axis of the plan: the workload's `seq` is the
/// CSV's `input_len`; every other axis has its own name.
pub fn axis_column(axis: &str) -> &str {
    match axis {
        "seq" => "input_len",
        other => other,
    }
}

/// Split rows by mode (latency first, then serving, then any other mode in
/// order of appearance) and keep the varying axes and headline metrics.
/// `varying`: the plan's varying axes (`run_started.varying`, or the
/// manifest's plan), so that a table of some of a run's rows (an
/// interrupted run, `--only`) still says which cell each row is; `None`
/// (a CSV without its plan): the axis columns whose values differ between
/// the rows.
pub fn tables(rows: &Rows, varying: Option<&[String]>) -> Vec<ModeTable> {
    let mut modes: Vec<String> = Vec::new();
    for r in &rows.records {
        let m = r.get("mode").cloned().unwrap_or_default();
        if !modes.contains(&m) {
            modes.push(m);
        }
    }
    modes.sort_by_key(|m| match m.as_str() {
        "latency" => 0,
        "serving" => 1,
        _ => 2,
    });
    let axis_columns = rows.axis_columns();
    modes
        .into_iter()
        .map(|mode| {
            let recs: Vec<&IndexMap<String, String>> = rows
                .records
                .iter()
                .filter(|r| r.get("mode").map(String::as_str).unwrap_or_default() == mode)
                .collect();
            let text =
                |r: &IndexMap<String, String>, c: &str| r.get(c).cloned().unwrap_or_default();
            let has_value = |c: &str| recs.iter().any(|r| !text(r, c).is_empty());
            let planned: Option<Vec<String>> = varying.map(|v| {
                v.iter()
                    .map(|a| axis_column(a).to_string())
                    .filter(|c| axis_columns.contains(c) && has_value(c))
                    .collect()
            });
            let axes: Vec<String> = planned.unwrap_or_else(|| {
                axis_columns
                    .iter()
                    .filter(|c| {
                        // Empty fields do not make a column vary: a failed
                        // cell's empty `input_len` is no setting of its own.
                        let mut values = recs.iter().map(|r| text(r, c)).filter(|v| !v.is_empty());
                        let first = values.next();
                        values.any(|v| Some(&v) != first.as_ref())
                    })
                    .cloned()
                    .collect()
            });
            let metrics: Vec<Metric> = headline(&mode)
                .iter()
                .filter(|m| {
                    rows.header.iter().any(|c| c == m.column)
                        && (!m.optional
                            || recs.iter().any(|r| number(&text(r, m.column)).is_some()))
                })
                .copied()
                .collect();
            let mut extra: Vec<&str> = Vec::new();
            if metrics.iter().any(|m| m.column == "completed") {
                extra.push("num_prompts");
            }
            let table_rows = recs
                .iter()
                .map(|r| TableRow {
                    cell_id: text(r, "cell_id"),
                    status: text(r, "status"),
                    error: Some(text(r, "error")).filter(|e| !e.is_empty()),
                    axes: axes.iter().map(|a| (a.clone(), text(r, a))).collect(),
                    metrics: metrics
                        .iter()
                        .map(|m| m.column)
                        .chain(extra.iter().copied())
                        .map(|c| (c.to_string(), number(&text(r, c))))
                        .collect(),
                })
                .collect();
            ModeTable {
                mode,
                axes,
                metrics,
                rows: table_rows,
            }
        })
        .collect()
}

/// A CSV field as a number (`None`: empty or not a number).
pub fn number(text: &str) -> Option<f64> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    t.parse::<f64>().ok().filter(|x| !x.is_nan())
}

/// A number with three significant digits (at most four decimals):
/// `12.3`, `4.56`, `0.123`, `1234`.
pub fn fmt_num(x: f64) -> String {
    if !x.is_finite() {
        return x.to_string();
    }
    if x == 0.0 {
        return "0".into();
    }
    let mag = x.abs().log10().floor() as i32;
    let decimals = (2 - mag).clamp(0, 4) as usize;
    format!("{x:.decimals$}")
}

/// A shown metric: the value × its scale, or the serving `done` column.
fn metric_text(m: &Metric, row: &TableRow) -> String {
    let v = row.metrics.get(m.column).copied().flatten();
    if m.column == "completed" {
        let total = row.metrics.get("num_prompts").copied().flatten();
        return match (v, total) {
            (Some(d), Some(t)) => format!("{}/{}", fmt_count(d), fmt_count(t)),
            (Some(d), None) => fmt_count(d),
            (None, _) => "-".into(),
        };
    }
    v.map_or_else(|| "-".into(), |x| fmt_num(x * m.scale))
}

fn fmt_count(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        fmt_num(x)
    }
}

/// The tables as text: a title line per mode (`latency: 4 cells`), then
/// the varying axes, the headline metrics, the status and the cell id.
/// Numbers are right-aligned, text left-aligned; an empty value is `-`.
pub fn render(tables: &[ModeTable]) -> String {
    if tables.is_empty() {
        return "no cells recorded\n".into();
    }
    let mut out = String::new();
    for (i, t) in tables.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let n = t.rows.len();
        let mode = if t.mode.is_empty() {
            "(no mode)"
        } else {
            &t.mode
        };
        out.push_str(&format!(
            "{mode}: {n} cell{}\n",
            if n == 1 { "" } else { "s" }
        ));
        let mut header: Vec<String> = t.axes.clone();
        header.extend(t.metrics.iter().map(|m| m.label.to_string()));
        header.push("status".into());
        header.push("cell".into());
        let body: Vec<Vec<String>> = t
            .rows
            .iter()
            .map(|r| {
                let mut cells: Vec<String> = t
                    .axes
                    .iter()
                    .map(|a| {
                        let v = r.axes.get(a).cloned().unwrap_or_default();
                        if v.is_empty() { "-".into() } else { v }
                    })
                    .collect();
                cells.extend(t.metrics.iter().map(|m| metric_text(m, r)));
                cells.push(r.status.clone());
                cells.push(r.cell_id.clone());
                cells
            })
            .collect();
        // A column is numeric (right-aligned) when every non-empty value is.
        let numeric: Vec<bool> = (0..header.len())
            .map(|c| {
                c < header.len() - 2
                    && body.iter().all(|row| {
                        let v = &row[c];
                        v == "-"
                            || number(v).is_some()
                            || v.split_once('/')
                                .is_some_and(|(a, b)| number(a).is_some() && number(b).is_some())
                    })
            })
            .collect();
        let widths: Vec<usize> = (0..header.len())
            .map(|c| {
                body.iter()
                    .map(|r| r[c].chars().count())
                    .chain([header[c].chars().count()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |cells: &[String]| {
            let mut s = String::new();
            for (c, v) in cells.iter().enumerate() {
                if c > 0 {
                    s.push_str("  ");
                }
                let pad = widths[c].saturating_sub(v.chars().count());
                if numeric[c] {
                    s.push_str(&" ".repeat(pad));
                    s.push_str(v);
                } else {
                    s.push_str(v);
                    if c + 1 < cells.len() {
                        s.push_str(&" ".repeat(pad));
                    }
                }
            }
            s.push('\n');
            s
        };
        out.push_str(&line(&header));
        for r in &body {
            out.push_str(&line(r));
        }
    }
    out
}

/// `<results>/csv/<run_id>.csv` of a run folder `<results>/raw_output/<run_id>`.
pub fn csv_of_run_dir(run_dir: &Utf8Path) -> Option<Utf8PathBuf> {
    let run_id = run_dir.file_name()?;
    let results = run_dir.parent()?.parent()?;
    Some(results.join("csv").join(format!("{run_id}.csv")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_three_significant_digits() {
        let cases = [
            (12.345, "12.3"),
            (4.5612, "4.56"),
            (0.12345, "0.123"),
            (1234.6, "1235"),
            (0.000123, "0.0001"),
            (0.0, "0"),
            (-2.5, "-2.50"),
        ];
        for (x, want) in cases {
            assert_eq!(fmt_num(x), want, "{x}");
        }
    }

    #[test]
    fn a_torn_last_line_is_left_out_and_axes_come_from_the_header() {
        let text = "run_id,cell_id,status,error,started_at,duration_s,engine,mode,model,mconf,\
                    base,deploy,backend,optional,tp,ep,dp,nnodes,chunked_prefill_size,bsz,\
                    input_len,output_len,prefill_latency_s,group_id\n\
                    r,c1,ok,,,,sim,latency,m,2l,base,,,,1,1,1,1,512,1,8,4,0.1,g\n\
                    r,c2,ok,,,,sim,lat";
        let rows = parse_csv(Utf8Path::new("x.csv"), text).unwrap();
        assert_eq!(rows.records.len(), 1);
        assert_eq!(rows.records[0]["chunked_prefill_size"], "512");
        let axes = rows.axis_columns();
        assert!(
            axes.contains(&"chunked_prefill_size".to_string()),
            "{axes:?}"
        );
        assert!(axes.contains(&"bsz".to_string()), "{axes:?}");
        assert!(!axes.contains(&"group_id".to_string()), "{axes:?}");
        assert!(!axes.contains(&"prefill_latency_s".to_string()), "{axes:?}");
    }
}
