//! `matrix runs`: the runs in the results database, oldest first.

use camino::Utf8Path;

use crate::Error;
use crate::record::db::{Db, RunSummary};

use super::write_stdout;

pub fn run(db: &Utf8Path, json: bool) -> Result<i32, Error> {
    let runs = if db.is_file() {
        Db::open_existing(db)?.list_runs()?
    } else {
        Vec::new()
    };
    if json {
        let text = serde_json::to_string_pretty(&runs).expect("runs serialize");
        write_stdout(|out| writeln!(out, "{text}"))?;
        return Ok(0);
    }
    if runs.is_empty() {
        write_stdout(|out| {
            writeln!(
                out,
                "no runs in {db} yet: `matrix run` records each run there, \
                 `matrix ingest PATH...` adds earlier ones"
            )
        })?;
        return Ok(0);
    }
    let text = table(&runs);
    write_stdout(|out| out.write_all(text.as_bytes()))?;
    Ok(0)
}

fn table(runs: &[RunSummary]) -> String {
    let head = [
        "run", "started", "model", "engine", "image", "ok", "failed", "git",
    ];
    let opt = |o: &Option<String>| o.clone().unwrap_or_else(|| "-".into());
    let rows: Vec<[String; 8]> = runs
        .iter()
        .map(|r| {
            let engine = match (&r.engine, &r.engine_version) {
                (Some(e), Some(v)) => format!("{e} {v}"),
                (e, _) => opt(e),
            };
            let git = r
                .git_sha
                .as_deref()
                .map(|g| g.chars().take(12).collect())
                .unwrap_or_else(|| "-".into());
            [
                r.run_id.clone(),
                opt(&r.started_at),
                opt(&r.model),
                engine,
                opt(&r.image),
                r.cells_ok.to_string(),
                r.cells_failed.to_string(),
                git,
            ]
        })
        .collect();
    let mut width = head.map(|h| h.chars().count());
    for r in &rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut s = cells
            .iter()
            .zip(width)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ");
        s.truncate(s.trim_end().len());
        s.push('\n');
        s
    };
    let mut out = line(&head.map(String::from));
    for r in &rows {
        out.push_str(&line(r));
    }
    out
}
