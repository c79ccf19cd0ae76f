//! `matrix serve`: bind (127.0.0.1 unless `--host` widens it, with a
//! warning), print the address it listens on as the first line of stdout
//! (tests and scripts wait for it; `--port 0` picks a free port), serve the
//! dashboard ([`crate::report::serve`]) until Ctrl-C (exit 130).

use std::net::IpAddr;

use camino::{Utf8Path, Utf8PathBuf};

use crate::Error;
use crate::report::serve::{ServeOptions, router};

/// What `matrix serve` needs.
#[derive(Debug, Clone)]
pub struct ServeRequest {
    pub host: String,
    pub port: u16,
    /// `--results DIR` (default `<root>/results`).
    pub results: Option<Utf8PathBuf>,
    /// `--db PATH`.
    pub db: Option<Utf8PathBuf>,
    /// `--page-cells N`.
    pub page_cells: usize,
}

fn io(context: String) -> impl FnOnce(std::io::Error) -> Error {
    move |source| Error::Io { context, source }
}

pub fn run(root: &Utf8Path, a: ServeRequest) -> Result<i32, Error> {
    let results = a.results.unwrap_or_else(|| root.join("results"));
    let results = if results.is_absolute() {
        results
    } else {
        root.join(results)
    };
    let db = super::db_path(&results, a.db.as_deref());
    let opts = ServeOptions {
        db,
        results,
        page_cells: a.page_cells,
    };
    let ip: IpAddr = match a.host.as_str() {
        "localhost" => IpAddr::from([127, 0, 0, 1]),
        h => h.parse().map_err(|_| Error::Io {
            context: format!(
                "--host {h:?} is not an IP address (give 127.0.0.1, 0.0.0.0, ::1 or an \
                 address of this machine)"
            ),
            source: std::io::Error::other("bad address"),
        })?,
    };
    if !ip.is_loopback() {
        super::write_stderr(&format!(
            "warning: serving on {ip}: every machine that can reach this one can read the \
             dashboard and the files of {} (no authentication)\n",
            opts.results
        ));
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(io("cannot start the async runtime".into()))?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind((ip, a.port))
            .await
            .map_err(io(format!(
                "cannot listen on {ip}:{} (another program on that port? try --port 0)",
                a.port
            )))?;
        let addr = listener
            .local_addr()
            .map_err(io("cannot read the bound address".into()))?;
        let host = match addr.ip() {
            IpAddr::V6(v6) => format!("[{v6}]"),
            v4 => v4.to_string(),
        };
        super::write_stdout(|out| {
            writeln!(out, "listening on http://{host}:{}/", addr.port())?;
            writeln!(out, "database {}", opts.db)?;
            writeln!(out, "results {}", opts.results)
        })?;
        axum::serve(listener, router(opts))
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .map_err(io("the dashboard's server stopped".into()))?;
        Ok::<_, Error>(())
    })?;
    Ok(crate::exit::EXIT_INTERRUPTED)
}
