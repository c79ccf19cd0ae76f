//! `matrix ingest PATH...`: add runs to the results database. All or
//! nothing: every source is read before anything is written, and the
//! writes are one transaction.

use camino::{Utf8Path, Utf8PathBuf};

use crate::Error;
use crate::record::db::Db;
use crate::record::db::folder::read_path;

use super::write_stdout;

pub fn run(db: &Utf8Path, paths: &[Utf8PathBuf]) -> Result<i32, Error> {
    let mut runs = Vec::new();
    let mut from = Vec::new();
    for p in paths {
        for r in read_path(p)? {
            from.push(p.clone());
            runs.push(r);
        }
    }
    let mut store = Db::open(db)?;
    let done = store.ingest_all(&runs)?;
    write_stdout(|out| {
        for ((run, what), p) in runs.iter().zip(&done).zip(&from) {
            writeln!(
                out,
                "{p}: run {}: {}, {} cells",
                run.run_id,
                what.word(),
                run.cells.len()
            )?;
        }
        writeln!(out, "database: {db}")
    })?;
    Ok(0)
}
