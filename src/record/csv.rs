//! The run's CSV: one row per cell, written, flushed and synced as the cell
//! ends. Column names are listed in docs/RESULTS.md.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};

use camino::{Utf8Path, Utf8PathBuf};
use indexmap::IndexMap;
use serde_json::Value;

use super::RecordError;
use super::status::Status;
use crate::config::engine::Exec;
use crate::plan::{Group, PlanCell};

/// Columns every row has, in order, before the swept axes.
pub const HEAD_COLUMNS: [&str; 18] = [
    "run_id",
    "cell_id",
    "status",
    "error",
    "started_at",
    "duration_s",
    "engine",
    "mode",
    "model",
    "mconf",
    "base",
    "deploy",
    "backend",
    "optional",
    "tp",
    "ep",
    "dp",
    "nnodes",
];

/// Metric columns of latency mode (SGLang one_batch).
pub const LATENCY_COLUMNS: [&str; 11] = [
    "bsz",
    "input_len",
    "output_len",
    "prefill_latency_s",
    "prefill_throughput",
    "median_decode_latency_s",
    "median_decode_throughput",
    "e2e_latency_s",
    "e2e_throughput",
    "prefill_mfu",
    "decode_mbu",
];

/// Metric columns of serving mode (bench_serving / `matrix bench serving`).
pub const SERVING_COLUMNS: [&str; 30] = [
    "input_len",
    "output_len",
    "request_rate",
    "max_concurrency",
    "num_prompts",
    "completed",
    "bench_duration_s",
    "request_throughput",
    "input_throughput",
    "output_throughput",
    "mean_e2e_ms",
    "median_e2e_ms",
    "p90_e2e_ms",
    "p99_e2e_ms",
    "mean_ttft_ms",
    "median_ttft_ms",
    "p90_ttft_ms",
    "p99_ttft_ms",
    "mean_tpot_ms",
    "median_tpot_ms",
    "p90_tpot_ms",
    "p99_tpot_ms",
    "mean_itl_ms",
    "median_itl_ms",
    "p90_itl_ms",
    "p99_itl_ms",
    "concurrency",
    "schedule_lateness_mean_ms",
    "schedule_lateness_p99_ms",
    "schedule_lateness_max_ms",
];

/// Columns appended after the metrics so a row can be traced to what ran:
/// the cell's group id and its log, relative to the run folder. Appended
/// last (docs/RESULTS.md): a run whose CSV predates them still resumes,
/// writing its rows without them (see [`CsvSchema::following`]).
pub const TRACE_COLUMNS: [&str; 2] = ["group_id", "log"];

/// Axis names that never get a column of their own: `bsz`/`seq` are the
/// metric columns `bsz`/`input_len`, `bsz_seq` is the line of bsz_seq.csv.
const NOT_AXIS_COLUMNS: [&str; 3] = ["bsz", "seq", "bsz_seq"];

/// What a cell measures; decides the metric columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    Latency,
    Serving,
}

impl Mode {
    pub fn parse(s: &str) -> Option<Mode> {
        match s {
            "latency" => Some(Mode::Latency),
            "serving" => Some(Mode::Serving),
            _ => None,
        }
    }

    pub fn columns(self) -> &'static [&'static str] {
        match self {
            Mode::Latency => &LATENCY_COLUMNS,
            Mode::Serving => &SERVING_COLUMNS,
        }
    }
}

/// The CSV's columns: head, extra swept axes, metrics of every mode in the
/// plan (union, latency first, without repeats), then [`TRACE_COLUMNS`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvSchema {
    columns: Vec<String>,
    axes: Vec<String>,
    /// Columns rows may carry but this file does not have (the trace
    /// columns of a run whose CSV predates them): left out when rendering.
    unwritten: Vec<String>,
}

impl CsvSchema {
    /// `plan_axes`: the plan's swept axes (`Plan::axes`); those that are
    /// already head or metric columns, and bsz/seq/bsz_seq, are left out.
    pub fn new(modes: &[Mode], plan_axes: &[String]) -> CsvSchema {
        let mut metrics: Vec<&str> = Vec::new();
        for m in [Mode::Latency, Mode::Serving] {
            if modes.contains(&m) {
                for c in m.columns() {
                    if !metrics.contains(c) {
                        metrics.push(c);
                    }
                }
            }
        }
        let axes: Vec<String> = plan_axes
            .iter()
            .filter(|a| {
                !HEAD_COLUMNS.contains(&a.as_str())
                    && !NOT_AXIS_COLUMNS.contains(&a.as_str())
                    && !metrics.contains(&a.as_str())
            })
            .fold(Vec::new(), |mut v, a| {
                if !v.contains(a) {
                    v.push(a.clone());
                }
                v
            });
        let columns = HEAD_COLUMNS
            .iter()
            .map(|s| s.to_string())
            .chain(axes.iter().cloned())
            .chain(metrics.iter().map(|s| s.to_string()))
            .chain(TRACE_COLUMNS.iter().map(|s| s.to_string()))
            .collect();
        CsvSchema {
            columns,
            axes,
            unwritten: Vec::new(),
        }
    }

    /// The schema for an existing CSV whose header is `found`: this one when
    /// they are equal; when `found` is this header without some of its last
    /// columns and every column it lacks is a [`TRACE_COLUMNS`] one (a CSV
    /// written before they existed), this schema cut to `found`, whose rows
    /// are written without the missing columns; else `None` (another plan's
    /// CSV).
    pub fn following(&self, found: &[String]) -> Option<CsvSchema> {
        if found == self.columns {
            return Some(self.clone());
        }
        let (head, tail) = self.columns.split_at_checked(found.len())?;
        if head != found || !tail.iter().all(|c| TRACE_COLUMNS.contains(&c.as_str())) {
            return None;
        }
        Some(CsvSchema {
            columns: found.to_vec(),
            axes: self.axes.clone(),
            unwritten: self.unwritten.iter().chain(tail).cloned().collect(),
        })
    }

    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The swept axes that have a column of their own.
    pub fn axes(&self) -> &[String] {
        &self.axes
    }

    /// The header line, newline included.
    pub fn header_line(&self) -> String {
        render(self.columns.iter().map(String::as_str))
    }

    /// One row as a CSV line (newline included); missing values are empty.
    pub fn render(&self, row: &CsvRow) -> Result<String, RecordError> {
        if let Some(c) = row
            .values
            .keys()
            .find(|k| !self.columns.contains(k) && !self.unwritten.contains(k))
        {
            return Err(RecordError::UnknownColumn { column: c.clone() });
        }
        Ok(render(
            self.columns
                .iter()
                .map(|c| row.values.get(c).map_or("", String::as_str)),
        ))
    }
}

fn render<'a>(fields: impl Iterator<Item = &'a str>) -> String {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    // Writing to a Vec cannot fail.
    let _ = w.write_record(fields);
    let bytes = w.into_inner().unwrap_or_default();
    String::from_utf8(bytes).unwrap_or_default()
}

/// One row, by column name. Values are already text: numbers in Rust's
/// shortest round-trip form (`0.0123`, `inf`), missing values absent.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct CsvRow {
    values: IndexMap<String, String>,
}

impl CsvRow {
    pub fn new() -> CsvRow {
        CsvRow::default()
    }

    /// The head and axis columns of a planned cell (status, error, times and
    /// metrics are set later).
    pub fn for_cell(run_id: &str, group: &Group, cell: &PlanCell, schema: &CsvSchema) -> CsvRow {
        let mut r = CsvRow::new();
        r.set("run_id", run_id);
        r.set("cell_id", &cell.id);
        r.set("engine", &group.engine);
        r.set("mode", &group.mode);
        r.set("model", &group.model);
        r.set("mconf", &group.mconf);
        r.set("base", &group.layers.base);
        r.set_opt("deploy", group.layers.deploy.as_ref());
        r.set_opt("backend", group.layers.backend.as_ref());
        r.set_opt("optional", group.layers.optional.as_ref());
        // Read back from the group's launch argv at plan time (empty when
        // unreadable); see `plan::columns`.
        r.set_opt("tp", group.tp);
        r.set_opt("ep", group.ep);
        r.set_opt("dp", group.dp);
        r.set_opt("nnodes", group.nnodes);
        r.set("group_id", &group.id);
        // The cell's own log: a serving cell's client log; a latency cell is
        // measured by its group's one_batch process, whose log is the
        // group's `server.log`. The recorder checks that it exists when the
        // cell ends (`Recorder::finish_cell`).
        let log = match group.exec {
            Exec::Process => super::layout::server_log_in_run(&group.id),
            Exec::Server => super::layout::cell_log_in_run(&group.id, &cell.id),
        };
        r.set("log", log);
        if let Some(client) = &cell.client {
            client_columns(&mut r, &client.argv, schema);
        }
        for axis in schema.axes() {
            if let Some(v) = cell.axes.get(axis).or_else(|| cell.workload.get(axis)) {
                r.set(axis, value_text(v));
            }
        }
        r
    }

    /// Status, error message, start time (RFC 3339) and duration.
    pub fn set_outcome(
        &mut self,
        status: Status,
        error: Option<&str>,
        started_at: Option<jiff::Timestamp>,
        duration_s: Option<f64>,
    ) {
        self.set("status", status);
        if matches!(status, Status::Pruned | Status::PlanError) {
            // Nothing ran, so no log is the cell's.
            self.set("log", "");
        }
        self.set_opt("error", error);
        self.set_opt("started_at", started_at);
        self.set_opt("duration_s", duration_s);
    }

    /// Set a column; an empty string removes it (an empty cell).
    pub fn set(&mut self, column: &str, value: impl std::fmt::Display) {
        let v = value.to_string();
        if v.is_empty() {
            self.values.shift_remove(column);
        } else {
            self.values.insert(column.to_string(), v);
        }
    }

    /// Set a column when there is a value, else leave it empty.
    pub fn set_opt(&mut self, column: &str, value: Option<impl std::fmt::Display>) {
        match value {
            Some(v) => self.set(column, v),
            None => {
                self.values.shift_remove(column);
            }
        }
    }

    pub fn get(&self, column: &str) -> Option<&str> {
        self.values.get(column).map(String::as_str)
    }

    pub fn cell_id(&self) -> Option<&str> {
        self.get("cell_id")
    }

    pub fn values(&self) -> &IndexMap<String, String> {
        &self.values
    }
}

/// Serving load settings as the client's argv gives them (the last
/// occurrence of the flag wins); the client's output file overrides them
/// where it records them (`metrics::fill_serving`). A flag that is absent
/// or whose value is not a number leaves the column to the plan's value.
fn client_columns(r: &mut CsvRow, argv: &[String], schema: &CsvSchema) {
    const FLAGS: [(&str, &str); 3] = [
        ("request_rate", "--request-rate"),
        ("max_concurrency", "--max-concurrency"),
        ("num_prompts", "--num-prompts"),
    ];
    for (column, flag) in FLAGS {
        if !schema.columns().iter().any(|c| c == column) {
            continue;
        }
        let value = crate::plan::columns::last_value(argv, &[flag.to_string()]).flatten();
        if let Some(v) = value
            .map(str::trim)
            .filter(|v| v.parse::<f64>().is_ok_and(|x| !x.is_nan()))
        {
            r.set(column, v);
        }
    }
}

/// A JSON axis value as CSV text: strings bare, null empty, others as JSON.
pub fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Appends rows to a CSV file, each written, flushed and `sync_data`ed.
#[derive(Debug)]
pub struct CsvSink {
    path: Utf8PathBuf,
    file: File,
    schema: CsvSchema,
}

impl CsvSink {
    /// Open for appending. A missing or empty file gets the header; an
    /// existing one must have exactly this schema's header
    /// ([`RecordError::HeaderMismatch`] otherwise). A last line without a
    /// newline (a writer killed mid-row) is cut off first, so the next row
    /// starts on a line of its own.
    pub fn open(path: &Utf8Path, schema: CsvSchema) -> Result<CsvSink, RecordError> {
        let ctx = |what: &str| format!("cannot {what} {path}");
        if let Some(dir) = path.parent().filter(|d| !d.as_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| RecordError::io(ctx("create the folder of"), e))?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| RecordError::io(ctx("open"), e))?;
        let mut text = String::new();
        file.read_to_string(&mut text)
            .map_err(|e| RecordError::io(ctx("read"), e))?;
        let complete = text.rfind('\n').map_or(0, |i| i + 1);
        let header = schema.header_line();
        if complete == 0 {
            // Empty, or only a torn header: start over.
            file.set_len(0)
                .map_err(|e| RecordError::io(ctx("truncate"), e))?;
            file.seek(SeekFrom::Start(0))
                .map_err(|e| RecordError::io(ctx("seek in"), e))?;
            write_synced(&mut file, header.as_bytes())
                .map_err(|e| RecordError::io(ctx("write"), e))?;
        } else {
            check_header(path, &text, &schema)?;
            if complete < text.len() {
                file.set_len(complete as u64)
                    .map_err(|e| RecordError::io(ctx("truncate"), e))?;
            }
            file.seek(SeekFrom::End(0))
                .map_err(|e| RecordError::io(ctx("seek in"), e))?;
        }
        Ok(CsvSink {
            path: path.to_owned(),
            file,
            schema,
        })
    }

    /// Write one row, flush it and sync it to disk before returning.
    pub fn write_row(&mut self, row: &CsvRow) -> Result<(), RecordError> {
        let line = self.schema.render(row)?;
        write_synced(&mut self.file, line.as_bytes())
            .map_err(|e| RecordError::io(format!("cannot write a row to {}", self.path), e))
    }

    pub fn path(&self) -> &Utf8Path {
        &self.path
    }

    pub fn schema(&self) -> &CsvSchema {
        &self.schema
    }
}

pub(crate) fn write_synced(file: &mut File, bytes: &[u8]) -> std::io::Result<()> {
    file.write_all(bytes)?;
    file.flush()?;
    file.sync_data()
}

/// The header of `text` must be the schema's.
fn check_header(path: &Utf8Path, text: &str, schema: &CsvSchema) -> Result<(), RecordError> {
    let found = read_records(text).into_iter().next().unwrap_or_default();
    if found != schema.columns() {
        return Err(RecordError::HeaderMismatch {
            path: path.to_owned(),
            expected: schema.columns().to_vec(),
            found,
        });
    }
    Ok(())
}

/// Every complete record of a CSV text (header first); a torn last line is
/// left out.
pub(crate) fn read_records(text: &str) -> Vec<Vec<String>> {
    let complete = text.rfind('\n').map_or(0, |i| i + 1);
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(&text.as_bytes()[..complete]);
    rdr.records()
        .filter_map(Result::ok)
        .map(|r| r.iter().map(String::from).collect())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn axes(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn schema_drops_listed_axes_and_unions_modes() {
        let s = CsvSchema::new(
            &[Mode::Latency],
            &axes(&[
                "model",
                "mconf",
                "deploy",
                "bsz_seq",
                "bsz",
                "seq",
                "chunked_prefill_size",
            ]),
        );
        assert_eq!(s.axes(), ["chunked_prefill_size"]);
        assert_eq!(s.columns()[18], "chunked_prefill_size");
        assert_eq!(s.columns()[19], "bsz");
        assert_eq!(s.columns().len(), 18 + 1 + 11 + 2);
        assert_eq!(s.columns()[30..], ["group_id", "log"]);
        let both = CsvSchema::new(&[Mode::Serving, Mode::Latency], &axes(&["request_rate"]));
        assert!(both.axes().is_empty());
        // input_len / output_len appear once.
        assert_eq!(both.columns().len(), 18 + 11 + 30 - 2 + 2);
        assert_eq!(both.columns()[18], "bsz");
    }

    #[test]
    fn rows_render_with_empty_missing_values_and_quoting() {
        let s = CsvSchema::new(&[Mode::Latency], &[]);
        let mut r = CsvRow::new();
        r.set("cell_id", "c1");
        r.set_outcome(
            Status::Oom,
            Some("CUDA out of memory, \"x\""),
            None,
            Some(1.5),
        );
        let line = s.render(&r).unwrap();
        assert!(
            line.starts_with(",c1,oom,\"CUDA out of memory, \"\"x\"\"\",,1.5,"),
            "{line}"
        );
        assert!(line.ends_with(",,\n"));
        r.set("nope", 1);
        assert!(matches!(
            s.render(&r),
            Err(RecordError::UnknownColumn { .. })
        ));
    }

    #[test]
    fn reopen_checks_header_and_cuts_torn_row() {
        let dir = tempfile::tempdir().unwrap();
        let path = Utf8PathBuf::from_path_buf(dir.path().join("csv/r.csv")).unwrap();
        let s = CsvSchema::new(&[Mode::Latency], &[]);
        let mut sink = CsvSink::open(&path, s.clone()).unwrap();
        let mut r = CsvRow::new();
        r.set("cell_id", "c1");
        sink.write_row(&r).unwrap();
        drop(sink);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b",c2,o").unwrap();
        let mut sink = CsvSink::open(&path, s.clone()).unwrap();
        r.set("cell_id", "c3");
        sink.write_row(&r).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let ids: Vec<_> = read_records(&text)
            .iter()
            .skip(1)
            .map(|r| r[1].clone())
            .collect();
        assert_eq!(ids, ["c1", "c3"]);
        let other = CsvSchema::new(&[Mode::Serving], &[]);
        let err = CsvSink::open(&path, other).unwrap_err();
        assert!(matches!(err, RecordError::HeaderMismatch { .. }));
        assert!(err.hint().unwrap().contains("bench_duration_s"));
    }

    #[test]
    fn an_older_header_without_the_trace_columns_is_followed() {
        let s = CsvSchema::new(&[Mode::Latency], &[]);
        let n = s.columns().len();
        let old: Vec<String> = s.columns()[..n - 2].to_vec();
        let cut = s.following(&old).unwrap();
        assert_eq!(cut.columns(), old);
        assert_eq!(s.following(s.columns()).unwrap(), s);
        // Only the log column missing: followed as well.
        assert_eq!(
            s.following(&s.columns()[..n - 1]).unwrap().columns().len(),
            n - 1
        );
        // A row with the trace columns renders without them.
        let mut r = CsvRow::new();
        r.set("cell_id", "c1");
        r.set("group_id", "g1");
        r.set("log", "g1/server.log");
        let line = cut.render(&r).unwrap();
        assert_eq!(line, format!(",c1{}\n", ",".repeat(n - 2 - 2)));
        assert_eq!(
            s.render(&r).unwrap(),
            format!(",c1{},g1,g1/server.log\n", ",".repeat(n - 4))
        );
        // Still an unknown column is refused.
        r.set("nope", 1);
        assert!(matches!(
            cut.render(&r),
            Err(RecordError::UnknownColumn { .. })
        ));
        // Missing columns that are not trace columns: another plan.
        let both = CsvSchema::new(&[Mode::Latency, Mode::Serving], &[]);
        assert!(both.following(&old).is_none());
        assert!(both.following(s.columns()).is_none());
        let mut reordered = old.clone();
        reordered.swap(0, 1);
        assert!(s.following(&reordered).is_none());
        // A header longer than the plan's is not followed.
        let mut longer = s.columns().to_vec();
        longer.push("extra".into());
        assert!(s.following(&longer).is_none());
    }
}
