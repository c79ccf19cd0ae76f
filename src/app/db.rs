//! `matrix db rebuild` and `matrix db path`.

use camino::{Utf8Path, Utf8PathBuf};

use crate::Error;
use crate::record::db::Db;
use crate::record::db::folder::read_path;

use super::write_stdout;

/// Build a new database from the results folder's CSVs and run folders,
/// then rename it over the old one. The CSVs and run folders are only read.
pub fn rebuild(db: &Utf8Path, results: &Utf8Path) -> Result<i32, Error> {
    let runs = if results.is_dir() {
        read_path(results)?
    } else {
        return Err(crate::record::db::DbError::BadSource {
            path: results.to_owned(),
            line: None,
            reason: "no such results folder".into(),
            hint: Some("give the folder `matrix run` writes to with --results DIR".into()),
        }
        .into());
    };
    let tmp = Utf8PathBuf::from(format!("{db}.rebuild-{}", std::process::id()));
    for p in side_files(&tmp) {
        let _ = std::fs::remove_file(p);
    }
    let cells: usize = runs.iter().map(|r| r.cells.len()).sum();
    {
        let mut fresh = Db::open(&tmp)?;
        fresh.ingest_all(&runs)?;
    }
    // The old file's WAL and shared memory must not be read with the new
    // file: remove them, then rename.
    for p in side_files(db).into_iter().skip(1) {
        let _ = std::fs::remove_file(p);
    }
    std::fs::rename(&tmp, db).map_err(|source| Error::Io {
        context: format!("cannot rename {tmp} to {db}"),
        source,
    })?;
    for p in side_files(&tmp) {
        let _ = std::fs::remove_file(p);
    }
    write_stdout(|out| {
        writeln!(
            out,
            "rebuilt {db} from {results}: {} runs, {cells} cells",
            runs.len()
        )
    })?;
    Ok(0)
}

fn side_files(db: &Utf8Path) -> Vec<Utf8PathBuf> {
    ["", "-wal", "-shm", "-journal"]
        .iter()
        .map(|s| Utf8PathBuf::from(format!("{db}{s}")))
        .collect()
}

pub fn path(db: &Utf8Path) -> Result<i32, Error> {
    write_stdout(|out| writeln!(out, "{db}"))?;
    Ok(0)
}
