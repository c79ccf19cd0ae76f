//! The library's entry points, one per subcommand, taking plain request types
//! (no clap) and returning what to print.

use camino::Utf8PathBuf;

use crate::Error;

/// Where conf/, model_conf/ and matrices/ live.
pub fn project_root(explicit: Option<Utf8PathBuf>) -> Result<Utf8PathBuf, Error> {
    match explicit {
        Some(p) => Ok(p),
        None => {
            let cwd = std::env::current_dir().map_err(|source| Error::Io {
                context: "cannot read the current directory".into(),
                source,
            })?;
            Utf8PathBuf::from_path_buf(cwd).map_err(|p| Error::Io {
                context: format!("current directory {} is not UTF-8", p.display()),
                source: std::io::Error::other("non-UTF-8 path"),
            })
        }
    }
}
