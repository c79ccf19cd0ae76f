//! SGLang `bench_one_batch` (`sglang.benchmark.one_batch`)
//! `--result-filename` JSON lines → one run. Read by
//! [`crate::parse::one_batch::parse_result_jsonl`] and mapped by
//! [`crate::record::metrics::fill_latency`] (no MFU/MBU: the file names no
//! model or GPU).
//!
//! Cell key: `engine=sglang`, `mode=latency`, `bsz`, `input_len`,
//! `output_len`, and `run_name` when it is not one_batch's `default`. Lines
//! with the same key are repeats of one cell.

use super::{SOURCE_ONE_BATCH, Source, base_row, from_parse};
use crate::parse::one_batch::parse_result_jsonl;
use crate::parse::pyjson;
use crate::record::db::{DbError, RunRecord};
use crate::record::metrics::fill_latency;

pub(super) fn read(src: &Source<'_>) -> Result<RunRecord, DbError> {
    // One pretty-printed object is read as one line (JSON strings hold no
    // raw newlines, so joining lines keeps its meaning).
    let joined;
    let text = if src.text.trim().contains('\n') && pyjson::parse_object(src.text.trim()).is_ok() {
        joined = src.text.trim().replace(['\n', '\r'], " ");
        joined.as_str()
    } else {
        src.text
    };
    let results =
        parse_result_jsonl(text, src.path.as_str()).map_err(|e| from_parse(e, src.path))?;
    // The line each result came from: the n-th non-blank line.
    let lines: Vec<u64> = text
        .split('\n')
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, _)| i as u64 + 1)
        .collect();
    let mut run = src.run(src.run_id(), SOURCE_ONE_BATCH);
    for (n, r) in results.iter().enumerate() {
        let mut row = base_row("latency");
        row.set("status", "ok");
        row.set_opt(
            "run_name",
            r.run_name
                .as_deref()
                .filter(|n| !n.is_empty() && *n != "default"),
        );
        fill_latency(&mut row, r, None);
        run.push(row, src.path, lines.get(n).copied().unwrap_or(1))?;
    }
    let run = run.finish();
    if run.cells.is_empty() {
        return Err(super::bad(
            src.path,
            None,
            "no complete bench_one_batch result line",
            "one_batch writes a line per measured combination; it was killed before the first",
        ));
    }
    Ok(run)
}
