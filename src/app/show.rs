//! `matrix show RUN [CELL]`: a run's results table, or one cell's row, its
//! commands and its logs ([`crate::report::show`]).

use camino::{Utf8Path, Utf8PathBuf};

use crate::Error;

use super::write_stdout;

/// What `matrix show` needs.
#[derive(Debug, Clone, Default)]
pub struct ShowRequest {
    /// The run: its id, `latest`, or the path of its run folder.
    pub run: String,
    /// A cell id, or a unique start of one.
    pub cell: Option<String>,
    /// `--only AXIS=VALUES`, in order.
    pub only: Vec<String>,
    /// `--results DIR` [default: <root>/results].
    pub results: Option<Utf8PathBuf>,
}

/// `matrix show`: the table (or the cell) on stdout.
pub fn run(root: &Utf8Path, a: ShowRequest) -> Result<i32, Error> {
    let text = crate::report::show::show(&crate::report::show::ShowRequest {
        results_dir: a.results.unwrap_or_else(|| root.join("results")),
        run: a.run,
        cell: a.cell,
        only: a.only,
    })?;
    write_stdout(|out| out.write_all(text.as_bytes()))?;
    Ok(0)
}
