//! A `matrix run` (or `matrix parse`) CSV → [`RunRecord`]s, one per
//! `run_id` in it. The CSV keeps the selected repeat of each cell, so each
//! `ok` cell gets one sample: its metric columns that hold numbers.

use camino::Utf8Path;
use indexmap::IndexMap;

use super::error::DbError;
use super::model::{CellRecord, RunRecord, cell_key, is_metric};

/// Columns a `matrix run` CSV always has (docs/RESULTS.md): how one is told
/// from other CSVs.
pub const REQUIRED: [&str; 5] = ["run_id", "cell_id", "status", "engine", "mode"];

/// Is this header a `matrix run` / `matrix parse` CSV's?
pub fn is_matrix_header(header: &[String]) -> bool {
    REQUIRED.iter().all(|c| header.iter().any(|h| h == c))
}

/// Read a `matrix run` CSV. Rows are grouped by `run_id` (first-seen
/// order); `started_at` of a run is its earliest row's. A torn last line
/// (a run killed while writing it) is left out, as resume does.
pub fn read_csv(path: &Utf8Path) -> Result<Vec<RunRecord>, DbError> {
    let text =
        std::fs::read_to_string(path).map_err(|e| DbError::io(format!("cannot read {path}"), e))?;
    parse_csv(&text, path)
}

/// [`read_csv`] of text already read; `path` is for messages.
pub fn parse_csv(text: &str, path: &Utf8Path) -> Result<Vec<RunRecord>, DbError> {
    // A torn last row (no newline at the end) is not a recorded cell.
    let text = match text.rfind('\n') {
        Some(i) if i + 1 < text.len() => &text[..=i],
        _ => text,
    };
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(text.as_bytes());
    let header: Vec<String> = rdr
        .headers()
        .map_err(|e| DbError::bad(path, Some(1), format!("cannot read the CSV header: {e}")))?
        .iter()
        .map(str::to_string)
        .collect();
    if !is_matrix_header(&header) {
        let missing: Vec<&str> = REQUIRED
            .iter()
            .filter(|c| !header.iter().any(|h| h == *c))
            .copied()
            .collect();
        return Err(DbError::BadSource {
            path: path.to_owned(),
            line: Some(1),
            reason: format!("not a matrix results CSV: no column {}", missing.join(", ")),
            hint: Some("matrix reads the CSVs `matrix run` and `matrix parse` write".into()),
        });
    }
    let mut runs: IndexMap<String, RunRecord> = IndexMap::new();
    for (i, rec) in rdr.records().enumerate() {
        let line = i as u64 + 2;
        let rec =
            rec.map_err(|e| DbError::bad(path, Some(line), format!("cannot read the row: {e}")))?;
        let row: IndexMap<String, String> = header
            .iter()
            .cloned()
            .zip(rec.iter().map(str::to_string))
            .collect();
        let run_id = row.get("run_id").cloned().unwrap_or_default();
        if run_id.is_empty() {
            return Err(DbError::bad(path, Some(line), "the row has no run_id"));
        }
        let cell = cell_of_row(row, path, line)?;
        let run = runs.entry(run_id.clone()).or_insert_with(|| RunRecord {
            run_id,
            source: "csv".into(),
            path: Some(path.to_string()),
            ..RunRecord::default()
        });
        let started = cell.row.get("started_at").filter(|s| !s.is_empty());
        if let Some(s) = started
            && run.started_at.as_ref().is_none_or(|r| s < r)
        {
            run.started_at = Some(s.clone());
        }
        for (field, col) in [(&mut run.model, "model"), (&mut run.engine, "engine")] {
            let v = cell.row.get(col).filter(|v| !v.is_empty());
            if let Some(v) = v {
                match field {
                    Some(f) if f.split(',').any(|x| x == v) => {}
                    Some(f) => {
                        f.push(',');
                        f.push_str(v);
                    }
                    None => *field = Some(v.clone()),
                }
            }
        }
        run.cells.push(cell);
    }
    Ok(runs.into_values().collect())
}

/// One CSV row → a cell; an `ok` row's numeric metric columns are its one
/// sample. A metric column with text that is not a number is an error (the
/// file is not what it claims), an empty one is absent.
pub fn cell_of_row(
    row: IndexMap<String, String>,
    path: &Utf8Path,
    line: u64,
) -> Result<CellRecord, DbError> {
    let status = row.get("status").cloned().unwrap_or_default();
    let mut sample = IndexMap::new();
    if status == "ok" {
        for (k, v) in &row {
            if !is_metric(k) || v.is_empty() {
                continue;
            }
            let x: f64 = v.parse().map_err(|_| {
                DbError::bad(
                    path,
                    Some(line),
                    format!("column {k}: `{v}` is not a number"),
                )
            })?;
            sample.insert(k.clone(), x);
        }
    }
    let nonempty = |c: &str| row.get(c).filter(|v| !v.is_empty()).cloned();
    Ok(CellRecord {
        cell_id: nonempty("cell_id")
            .unwrap_or_else(|| super::model::cell_id_of_key(&cell_key(&row))),
        group_id: nonempty("group_id"),
        status,
        error: nonempty("error"),
        key: cell_key(&row),
        samples: if sample.is_empty() {
            Vec::new()
        } else {
            vec![sample]
        },
        row,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_group_by_run_and_ok_rows_get_one_sample() {
        let text = "run_id,cell_id,status,error,started_at,engine,mode,model,deploy,bsz,e2e_latency_s\n\
                    r1,c1,ok,,2026-12-01T10:00:01+00:00,sim,latency,tiny,tp1,8,1.5\n\
                    r1,c2,failed,boom,2026-12-01T10:00:00+00:00,sim,latency,tiny,tp1,16,\n\
                    r2,c1,ok,,2026-12-02T10:00:00+00:00,sim,latency,tiny,tp1,8,1.6\n\
                    r2,c3,ok,,2026-12-02T10:00:0";
        let runs = parse_csv(text, Utf8Path::new("x.csv")).unwrap();
        assert_eq!(runs.len(), 2);
        assert_eq!(
            runs[0].started_at.as_deref(),
            Some("2026-12-01T10:00:00+00:00")
        );
        assert_eq!(runs[0].cells.len(), 2);
        assert_eq!(runs[0].cells[0].samples[0]["e2e_latency_s"], 1.5);
        assert!(runs[0].cells[1].samples.is_empty());
        // The torn last row is not a cell.
        assert_eq!(runs[1].cells.len(), 1);
        assert_eq!(runs[0].cells[0].key, runs[1].cells[0].key);
    }

    #[test]
    fn a_number_column_with_text_names_file_and_line() {
        let text = "run_id,cell_id,status,engine,mode,e2e_latency_s\nr1,c1,ok,sim,latency,fast\n";
        let e = parse_csv(text, Utf8Path::new("x.csv")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "x.csv:2: column e2e_latency_s: `fast` is not a number"
        );
    }

    #[test]
    fn another_csv_is_refused_with_the_missing_columns() {
        let e = parse_csv("a,b\n1,2\n", Utf8Path::new("x.csv")).unwrap_err();
        assert!(
            e.to_string()
                .contains("no column run_id, cell_id, status, engine, mode")
        );
    }
}
