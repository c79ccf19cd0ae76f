//! `matrix parse`: SGLang result files or logs made outside matrix → the
//! CSV rows `matrix run` writes. The parsers are [`crate::parse`]; the rows
//! and the CSV writer are [`crate::record`].

use std::io::Write;

use camino::{Utf8Path, Utf8PathBuf};

use crate::parse::{Combos, Entry, ParseError, one_batch, serving};
use crate::record::{CsvRow, CsvSchema, CsvSink, Mode, Status, metrics};

/// The formats `matrix parse` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `sglang.benchmark.one_batch`: a `--result-filename` JSON-lines file
    /// or a stdout log.
    SglangOneBatch,
    /// `sglang.benchmark.serving` / `matrix bench serving` `--output-file`.
    SglangServing,
}

impl Format {
    pub fn mode(self) -> Mode {
        match self {
            Format::SglangOneBatch => Mode::Latency,
            Format::SglangServing => Mode::Serving,
        }
    }
}

/// What `matrix parse` asks for.
#[derive(Debug, Clone)]
pub struct ParseRequest {
    pub format: Format,
    pub files: Vec<Utf8PathBuf>,
    /// Write the CSV here instead of stdout (replaced if it exists).
    pub output: Option<Utf8PathBuf>,
    /// The `run_id` column (empty when not given).
    pub run_id: Option<String>,
    /// one_batch stdout logs: the lists one_batch ran with. Without them the
    /// combinations are inferred from the printed numbers.
    pub combos: Option<Combos>,
}

/// `matrix parse`: the CSV on stdout, or in `req.output`.
pub fn run(req: &ParseRequest) -> Result<i32, crate::Error> {
    let mut out = std::io::stdout().lock();
    write_csv(req, &mut out)?;
    Ok(0)
}

/// Read every file, write one CSV (header + a row per
/// result, `skipped` rows for skipped combinations) to `out` or to
/// `req.output`. Returns the number of rows.
///
/// Rows are named `<file name>#<n>` (n counts results in the file from 1);
/// engine is `sglang`, mode follows the format; columns the files cannot
/// tell (model, layers, parallel sizes) are empty.
pub fn write_csv(req: &ParseRequest, out: &mut dyn Write) -> Result<usize, crate::Error> {
    let schema = CsvSchema::new(&[req.format.mode()], &[]);
    let mut rows = Vec::new();
    for file in &req.files {
        rows.extend(rows_of(req, file)?);
    }
    match &req.output {
        Some(path) => {
            match std::fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(ParseError::io(format!("cannot replace {path}"), e).into()),
            }
            let mut sink = CsvSink::open(path, schema)?;
            for r in &rows {
                sink.write_row(r)?;
            }
        }
        None => {
            let mut text = schema.header_line();
            for r in &rows {
                text.push_str(&schema.render(r)?);
            }
            out.write_all(text.as_bytes())
                .and_then(|_| out.flush())
                .map_err(|e| ParseError::io("cannot write to stdout", e))?;
        }
    }
    Ok(rows.len())
}

fn rows_of(req: &ParseRequest, path: &Utf8Path) -> Result<Vec<CsvRow>, ParseError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ParseError::io(format!("cannot read {path}"), e))?;
    let source = path.as_str();
    let name = path.file_name().unwrap_or(source);
    let base = |n: usize, status: Status| {
        let mut r = CsvRow::new();
        r.set_opt("run_id", req.run_id.as_deref());
        r.set("cell_id", format!("{name}#{n}"));
        r.set("engine", "sglang");
        r.set(
            "mode",
            match req.format.mode() {
                Mode::Latency => "latency",
                Mode::Serving => "serving",
            },
        );
        r.set("status", status);
        r
    };
    let mut rows = Vec::new();
    match req.format {
        Format::SglangOneBatch => {
            let entries = if looks_like_json_lines(path, &text) {
                one_batch::parse_result_jsonl(&text, source)?
                    .into_iter()
                    .map(Entry::Measured)
                    .collect()
            } else {
                one_batch::parse_stdout(&text, source, req.combos.as_ref())?
            };
            for (i, e) in entries.iter().enumerate() {
                match e {
                    Entry::Measured(r) => {
                        let mut row = base(i + 1, Status::Ok);
                        metrics::fill_latency(&mut row, r, None);
                        rows.push(row);
                    }
                    Entry::Skipped(s) => {
                        let mut row = base(i + 1, Status::Skipped);
                        row.set("error", "skipped due to max batch size limit");
                        metrics::fill_skipped(&mut row, s);
                        rows.push(row);
                    }
                }
            }
        }
        Format::SglangServing => {
            for (i, r) in serving::parse_output_file(&text, source)?
                .iter()
                .enumerate()
            {
                let mut row = base(i + 1, Status::Ok);
                metrics::fill_serving(&mut row, r);
                rows.push(row);
            }
        }
    }
    Ok(rows)
}

/// A `.jsonl`/`.json` file, or text whose first non-blank line is an object.
fn looks_like_json_lines(path: &Utf8Path, text: &str) -> bool {
    matches!(path.extension(), Some("jsonl" | "json"))
        || text
            .lines()
            .find(|l| !l.trim().is_empty())
            .is_some_and(|l| l.trim_start().starts_with('{'))
}
