//! Result files made outside `matrix` → [`RunRecord`]s: SGLang
//! `bench_serving` / `bench_one_batch` result JSONL, and the CSVs that
//! sglang-ci's offline and online scripts (and its plot scripts' summaries)
//! write. docs/INGEST.md lists every format and how its fields map to
//! matrix's metric columns.
//!
//! Formats are told apart by content (JSON keys, CSV header or section
//! lines), never by file name alone. Cells are built as `matrix run` CSV
//! rows ([`CsvRow`]) and turned into cells by [`cell_of_row`], so keys,
//! cell ids and samples follow the same rules as matrix's own CSVs.

mod ci_offline;
mod ci_online;
mod one_batch;
mod serving;

use camino::Utf8Path;
use indexmap::IndexMap;

use super::csv_run::cell_of_row;
use super::model::key_text;
use super::{DbError, RunRecord};
use crate::parse::ParseError;
use crate::record::csv::CsvRow;

/// `RunRecord::source` of each format.
pub const SOURCE_BENCH_SERVING: &str = "bench_serving";
pub const SOURCE_ONE_BATCH: &str = "one_batch";
pub const SOURCE_CI_OFFLINE: &str = "sglang_ci_offline";
pub const SOURCE_CI_ONLINE: &str = "sglang_ci_online";

/// The run-level name of sglang-ci's GSM8K accuracy in `RunRecord::extras`.
pub const GSM8K_ACCURACY: &str = "gsm8k_accuracy";

/// Read `path` when it is one of the foreign formats; `Ok(None)` when it is
/// none of them (the caller tries its own formats or refuses the file).
///
/// `.json` / `.jsonl` files are always taken as SGLang result files: one
/// that is JSON but matches neither format is an error naming the line and
/// the keys expected. A `.csv` whose header or layout is none of
/// sglang-ci's is `Ok(None)`. Other extensions are `Ok(None)`.
pub fn read(path: &Utf8Path) -> Result<Option<Vec<RunRecord>>, DbError> {
    let ext = path.extension().map(str::to_ascii_lowercase);
    let kind = match ext.as_deref() {
        Some("json" | "jsonl") => Kind::Json,
        Some("csv") => Kind::Csv,
        _ => return Ok(None),
    };
    let bytes = std::fs::read(path).map_err(|e| DbError::io(format!("cannot read {path}"), e))?;
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count() as u64
            + 1;
        bad(
            path,
            Some(line),
            "the file is not UTF-8 text",
            "result files are text; is this the right file?",
        )
    })?;
    if text.trim().is_empty() {
        return Err(bad(
            path,
            None,
            "the file is empty",
            "the benchmark wrote nothing: did it run to the end?",
        ));
    }
    let src = Source {
        path,
        text,
        digest: blake3::hash(&bytes).to_hex()[..8].to_string(),
        abs: std::fs::canonicalize(path)
            .ok()
            .and_then(|p| camino::Utf8PathBuf::try_from(p).ok())
            .map(|p| p.to_string())
            .unwrap_or_else(|| path.to_string()),
    };
    match kind {
        Kind::Json => read_json(&src).map(|r| Some(vec![r])),
        Kind::Csv => {
            if let Some(runs) = ci_online::read(&src)? {
                return Ok(Some(runs));
            }
            ci_offline::read(&src)
        }
    }
}

enum Kind {
    Json,
    Csv,
}

/// A file being read: its path, text and content digest.
pub(crate) struct Source<'a> {
    pub path: &'a Utf8Path,
    pub text: &'a str,
    /// First 8 hex digits of the blake3 hash of the bytes.
    pub digest: String,
    /// The path made absolute (as given when that fails).
    pub abs: String,
}

impl Source<'_> {
    /// `<file stem>-<digest>`: the run id of a file that is one run, the
    /// same every time the same content is ingested.
    pub fn run_id(&self) -> String {
        format!("{}-{}", self.stem(), self.digest)
    }

    pub fn stem(&self) -> &str {
        self.path.file_stem().unwrap_or("run")
    }

    /// An empty run of this file.
    pub fn run(&self, run_id: String, source: &str) -> RunBuilder {
        RunBuilder::new(RunRecord {
            run_id,
            source: source.to_string(),
            path: Some(self.abs.clone()),
            engine: Some("sglang".into()),
            ..RunRecord::default()
        })
    }
}

/// A JSON(L) file: the first object's keys say which format it is.
fn read_json(src: &Source<'_>) -> Result<RunRecord, DbError> {
    let (i, line) = src
        .text
        .split('\n')
        .enumerate()
        .find(|(_, l)| !l.trim().is_empty())
        .unwrap_or((0, ""));
    let first_line = i as u64 + 1;
    // A line, or a pretty-printed single object (a `.json` file).
    let first = crate::parse::pyjson::parse_object(line.trim())
        .or_else(|e| crate::parse::pyjson::parse_object(src.text.trim()).map_err(|_| e))
        .map_err(|reason| {
            bad(
                src.path,
                Some(first_line),
                format!("not a JSON object: {reason}"),
                JSON_HINT,
            )
        })?;
    let has = |k: &str| first.contains_key(k);
    if has("batch_size") && has("prefill_latency") {
        one_batch::read(src)
    } else if has("completed") && has("duration") {
        serving::read(src)
    } else {
        let keys: Vec<&str> = first.keys().map(String::as_str).take(8).collect();
        Err(bad(
            src.path,
            Some(first_line),
            format!(
                "a JSON object of no known result format (keys: {}{}); expected SGLang \
                 bench_serving (`completed`, `duration`, ...) or bench_one_batch \
                 (`batch_size`, `prefill_latency`, ...)",
                keys.join(", "),
                if first.len() > keys.len() {
                    ", ..."
                } else {
                    ""
                }
            ),
            JSON_HINT,
        ))
    }
}

const JSON_HINT: &str = "matrix ingest reads SGLang bench_serving `--output-file` and \
                         bench_one_batch `--result-filename` JSON lines (docs/INGEST.md)";

/// A [`DbError::BadSource`] with a hint.
pub(crate) fn bad(
    path: &Utf8Path,
    line: Option<u64>,
    reason: impl Into<String>,
    hint: impl Into<String>,
) -> DbError {
    DbError::BadSource {
        path: path.to_owned(),
        line,
        reason: reason.into(),
        hint: Some(hint.into()),
    }
}

/// A parser error of one of SGLang's result files, as a database error.
pub(crate) fn from_parse(e: ParseError, path: &Utf8Path) -> DbError {
    let hint = match e {
        // The parser's own hint names `matrix parse --format`.
        ParseError::Json { .. } | ParseError::MissingKey { .. } => Some(JSON_HINT.to_string()),
        _ => e.hint(),
    };
    let (line, reason) = match e {
        ParseError::Json { line, reason, .. } => {
            (Some(line as u64), format!("not a JSON object: {reason}"))
        }
        ParseError::MissingKey { line, key, .. } => {
            (Some(line as u64), format!("missing or non-numeric `{key}`"))
        }
        ParseError::Layout { line, reason, .. } => (Some(line as u64), reason),
        other => (None, other.to_string()),
    };
    DbError::BadSource {
        path: path.to_owned(),
        line,
        reason,
        hint,
    }
}

/// A number of a CSV field; `None` for empty and `NA` (sglang-ci's mark of
/// a failed run), an error naming the line and column otherwise.
pub(crate) fn number(
    v: &str,
    column: &str,
    path: &Utf8Path,
    line: u64,
) -> Result<Option<f64>, DbError> {
    let v = v.trim();
    if v.is_empty() || is_na(v) {
        return Ok(None);
    }
    match v.parse::<f64>() {
        Ok(x) if x.is_finite() => Ok(Some(x)),
        _ => Err(bad(
            path,
            Some(line),
            format!("column {column}: `{v}` is not a number"),
            "sglang-ci writes numbers, NA for a failed run, or nothing",
        )),
    }
}

/// sglang-ci's (and pandas') spellings of "no value".
pub(crate) fn is_na(v: &str) -> bool {
    matches!(v.trim(), "NA" | "N/A" | "NaN" | "nan" | "<NA>")
}

/// A workload value (batch size, length, rate) as the text matrix writes
/// for it: the number in Rust's shortest form (`1.0` → `1`).
pub(crate) fn workload(
    v: &str,
    column: &str,
    path: &Utf8Path,
    line: u64,
) -> Result<String, DbError> {
    // A rate may be infinite ("all at once"): written `inf`, as matrix does.
    if matches!(v.trim(), "inf" | "Infinity" | "infinity") {
        return Ok(f64::INFINITY.to_string());
    }
    match number(v, column, path, line)? {
        Some(x) if x >= 0.0 => Ok(x.to_string()),
        _ => Err(bad(
            path,
            Some(line),
            format!(
                "column {column}: `{}` is not a non-negative number",
                v.trim()
            ),
            "the workload columns (batch size, lengths, rate) are needed to tell cells apart",
        )),
    }
}

/// `YYYYMMDD` found in `text` (an image tag, a date column) as RFC 3339 at
/// midnight UTC: sglang-ci's runs carry a day, not a time.
pub(crate) fn day(text: &str) -> Option<String> {
    let b = text.as_bytes();
    (0..b.len().saturating_sub(7)).find_map(|i| {
        // Checked on bytes first: an ASCII digit run is on char boundaries.
        let digits = b[i..i + 8].iter().all(u8::is_ascii_digit);
        let alone = (i == 0 || !b[i - 1].is_ascii_digit())
            && (i + 8 == b.len() || !b[i + 8].is_ascii_digit());
        if !digits || !alone {
            return None;
        }
        let w = &text[i..i + 8];
        let (y, m, d) = (&w[..4], &w[4..6], &w[6..]);
        let date = jiff::civil::Date::new(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
        date.ok().map(|_| format!("{y}-{m}-{d}T00:00:00+00:00"))
    })
}

/// Cells of one run being built: rows with the same key are repeats of one
/// cell (one sample each), in first-seen order.
pub(crate) struct RunBuilder {
    pub run: RunRecord,
    index: IndexMap<String, usize>,
}

impl RunBuilder {
    fn new(run: RunRecord) -> RunBuilder {
        RunBuilder {
            run,
            index: IndexMap::new(),
        }
    }

    /// Add one row: a new cell, or one more repeat of the cell with its key.
    /// A row without any metric is a failed repeat (`status` must be set).
    pub fn push(&mut self, row: CsvRow, path: &Utf8Path, line: u64) -> Result<(), DbError> {
        let model = row.get("model").map(str::to_string);
        let cell = cell_of_row(row.values().clone(), path, line)?;
        if let Some(m) = model {
            match &mut self.run.model {
                Some(f) if f.split(',').any(|x| x == m) => {}
                Some(f) => {
                    f.push(',');
                    f.push_str(&m);
                }
                None => self.run.model = Some(m),
            }
        }
        match self.index.get(&key_text(&cell.key)) {
            Some(&i) => {
                let have = &mut self.run.cells[i];
                if have.status != "ok" && cell.status == "ok" {
                    // The first repeat that worked stands for the cell.
                    have.status = cell.status;
                    have.error = None;
                    have.row = cell.row;
                }
                have.samples.extend(cell.samples);
            }
            None => {
                self.index.insert(key_text(&cell.key), self.run.cells.len());
                self.run.cells.push(cell);
            }
        }
        Ok(())
    }

    pub fn finish(self) -> RunRecord {
        self.run
    }
}

/// A row with the columns every foreign cell has.
pub(crate) fn base_row(mode: &str) -> CsvRow {
    let mut row = CsvRow::new();
    row.set("engine", "sglang");
    row.set("mode", mode);
    row
}

/// The last component of a model path or hub id (`/models/Llama-3-8B/` →
/// `Llama-3-8B`, `meta-llama/Llama-3.1-8B` → `Llama-3.1-8B`): matrix names
/// models by their folder under model_conf/.
pub(crate) fn model_name(path: &str) -> Option<String> {
    path.trim()
        .trim_end_matches(['/', '\\'])
        .rsplit(['/', '\\'])
        .next()
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_finds_a_real_date_standing_alone() {
        assert_eq!(
            day("v0.5.5-rocm700-mi30x-20251110").as_deref(),
            Some("2025-11-10T00:00:00+00:00")
        );
        assert_eq!(
            day("20250429rc").as_deref(),
            Some("2025-04-29T00:00:00+00:00")
        );
        assert_eq!(day("v0.5.5-rocm700"), None);
        assert_eq!(day("123456789"), None);
        assert_eq!(day("20251340"), None);
    }

    #[test]
    fn model_name_is_the_last_component() {
        assert_eq!(
            model_name("/models/Llama-3-8B/").as_deref(),
            Some("Llama-3-8B")
        );
        assert_eq!(
            model_name("meta-llama/Llama-3.1-8B").as_deref(),
            Some("Llama-3.1-8B")
        );
        assert_eq!(model_name("  "), None);
    }

    #[test]
    fn workload_values_are_written_as_matrix_writes_them() {
        let p = Utf8Path::new("x.csv");
        assert_eq!(workload("1.0", "rate", p, 2).unwrap(), "1");
        assert_eq!(workload("0.5", "rate", p, 2).unwrap(), "0.5");
        assert!(workload("NA", "rate", p, 2).is_err());
        assert!(workload("-1", "rate", p, 2).is_err());
        assert_eq!(workload("inf", "rate", p, 2).unwrap(), "inf");
        assert_eq!(number("NA", "x", p, 2).unwrap(), None);
        // A metric is finite or absent.
        assert!(number("inf", "x", p, 2).is_err());
        assert_eq!(
            number("fast", "x", p, 3).unwrap_err().to_string(),
            "x.csv:3: column x: `fast` is not a number"
        );
    }
}
