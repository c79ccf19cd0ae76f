//! SGLang `bench_serving` `--output-file` (one JSON object per benchmark
//! run, appended) → one run. Lines are read by
//! [`crate::parse::serving::parse_line`], the parser `matrix run` and
//! `matrix parse` use, and mapped to CSV columns by
//! [`crate::record::metrics::fill_serving`].
//!
//! Cell key: `engine=sglang`, `mode=serving`, the workload the line records
//! (`request_rate`, `max_concurrency`, `num_prompts`, `input_len` /
//! `output_len` from `random_input_len` / `random_output_len` for the
//! `random` / `random-ids` datasets), the client
//! backend as `bench_backend` (matrix's `backend` is a server layer), the
//! `dataset_name`, and `model` when the line names it. Lines with the same
//! key are repeats of one cell.

use serde_json::{Map, Value};

use super::{RunBuilder, SOURCE_BENCH_SERVING, Source, base_row, from_parse, model_name};
use crate::parse::pyjson;
use crate::parse::serving::parse_line;
use crate::record::db::{DbError, RunRecord};
use crate::record::metrics::fill_serving;

pub(super) fn read(src: &Source<'_>) -> Result<RunRecord, DbError> {
    let mut run = src.run(src.run_id(), SOURCE_BENCH_SERVING);
    let whole = src.text.trim().contains('\n') && pyjson::parse_object(src.text.trim()).is_ok();
    let lines: Vec<&str> = if whole {
        // One pretty-printed object.
        vec![src.text.trim()]
    } else {
        src.text.split('\n').collect()
    };
    let name = src.path.as_str();
    for (i, raw) in lines.iter().enumerate() {
        let text = raw.trim();
        if text.is_empty() {
            continue;
        }
        let line = i + 1;
        let r = match parse_line(text, name, line) {
            Ok(r) => r,
            // A torn last line (the writer was killed) is not a result, as
            // parse_output_file reads it.
            Err(crate::parse::ParseError::Json { .. }) if line == lines.len() => break,
            Err(e) => return Err(from_parse(e, src.path)),
        };
        // parse_line read it, so it is an object.
        let obj = pyjson::parse_object(text).unwrap_or_default();
        let mut row = base_row("serving");
        row.set("status", "ok");
        row.set_opt("model", model_of(&obj));
        row.set_opt("bench_backend", r.backend.as_ref());
        row.set_opt("dataset_name", text_of(&obj, "dataset_name"));
        fill_serving(&mut row, &r);
        // bench_serving records `--random-input-len` / `--random-output-len`
        // whatever the dataset; they are the prompts' lengths only for the
        // random datasets.
        let dataset = text_of(&obj, "dataset_name");
        if dataset
            .as_deref()
            .is_some_and(|d| !matches!(d, "random" | "random-ids"))
        {
            row.set_opt("input_len", None::<u64>);
            row.set_opt("output_len", None::<u64>);
        }
        note_version(&mut run, &obj);
        run.push(row, src.path, line as u64)?;
    }
    let run = run.finish();
    if run.cells.is_empty() {
        return Err(super::bad(
            src.path,
            None,
            "no complete bench_serving result line",
            "the benchmark was killed before it wrote its result",
        ));
    }
    Ok(run)
}

fn text_of(obj: &Map<String, Value>, key: &str) -> Option<String> {
    obj.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// `model_id` (older writers), else `server_info.model_path` (what
/// `/get_server_info` said), as its last path component.
fn model_of(obj: &Map<String, Value>) -> Option<String> {
    text_of(obj, "model_id")
        .or_else(|| {
            obj.get("server_info")
                .and_then(Value::as_object)
                .and_then(|s| text_of(s, "model_path"))
        })
        .and_then(|p| model_name(&p))
}

/// `server_info.version`, the SGLang version the server reported.
fn note_version(run: &mut RunBuilder, obj: &Map<String, Value>) {
    let v = obj
        .get("server_info")
        .and_then(Value::as_object)
        .and_then(|s| text_of(s, "version"));
    if let Some(v) = v {
        match &mut run.run.engine_version {
            Some(have) if have.split(',').any(|x| x == v) => {}
            Some(have) => {
                have.push(',');
                have.push_str(&v);
            }
            None => run.run.engine_version = Some(v),
        }
    }
}
