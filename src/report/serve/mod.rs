//! `matrix serve`: a read-only web dashboard over the results database and
//! the results folder. Pages are rendered on the server ([`pages`]); one
//! small stylesheet and one script are compiled in ([`ASSET_CSS`],
//! [`ASSET_JS`]); the JSON API ([`api`]) is what the script polls. Nothing
//! is written: the database is opened per request (runs that land while
//! the dashboard runs show up), files are served only from inside the
//! results folder ([`files`]). Routes and JSON shapes: docs/DASHBOARD.md.

pub mod api;
pub mod data;
pub mod files;
pub mod pages;
pub mod plots;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use camino::Utf8PathBuf;

/// The stylesheet of every page.
pub const ASSET_CSS: &str = include_str!("assets/style.css");
/// The script of every page: live run tables, reproduce boxes, the compare form.
pub const ASSET_JS: &str = include_str!("assets/app.js");

/// Where the dashboard reads from.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The results database (`--db`, `MATRIX_DB`, `<results>/matrix.db`).
    pub db: Utf8PathBuf,
    /// The results folder: the only folder files are served from.
    pub results: Utf8PathBuf,
    /// Cells per page of a run's results table (`--page-cells`).
    pub page_cells: usize,
}

type Shared = Arc<ServeOptions>;

/// What a handler could not do, as an HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// 404: an unknown run, cell or page.
    NotFound(String),
    /// 400: a bad query or path.
    BadRequest(String),
    /// 500: the database or a file could not be read.
    Internal(String),
}

impl Failure {
    fn status(&self) -> StatusCode {
        match self {
            Failure::NotFound(_) => StatusCode::NOT_FOUND,
            Failure::BadRequest(_) => StatusCode::BAD_REQUEST,
            Failure::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn message(&self) -> &str {
        match self {
            Failure::NotFound(m) | Failure::BadRequest(m) | Failure::Internal(m) => m,
        }
    }

    /// The error as an HTML page.
    fn page(self) -> Response {
        let status = self.status();
        let body = pages::error_page(status.as_u16(), self.message());
        (status, html_headers(), body).into_response()
    }

    /// The error as JSON: `{"error": "..."}`.
    fn json(self) -> Response {
        let status = self.status();
        let body = serde_json::json!({ "error": self.message() }).to_string();
        (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
    }
}

/// Headers of every page: HTML, no script from anywhere but the dashboard
/// itself (no inline script), inline styles allowed (SVG plots and the
/// compare report carry them).
fn html_headers() -> [(header::HeaderName, HeaderValue); 3] {
    [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        ),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                 img-src 'self' data:",
            ),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
    ]
}

/// Run blocking work (SQLite, files) off the async threads; a panic in it
/// becomes a 500, never a dead server.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Failure> + Send + 'static,
) -> Result<T, Failure> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(Failure::Internal(format!("the request failed: {e}"))))
}

async fn page(f: impl FnOnce() -> Result<String, Failure> + Send + 'static) -> Response {
    match blocking(f).await {
        Ok(body) => (StatusCode::OK, html_headers(), body).into_response(),
        Err(e) => e.page(),
    }
}

async fn json(f: impl FnOnce() -> Result<serde_json::Value, Failure> + Send + 'static) -> Response {
    match blocking(f).await {
        Ok(v) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            v.to_string(),
        )
            .into_response(),
        Err(e) => e.json(),
    }
}

/// The dashboard's routes.
pub fn router(opts: ServeOptions) -> Router {
    let st: Shared = Arc::new(opts);
    Router::new()
        .route("/", get(runs_page))
        .route("/runs/{id}", get(run_page))
        .route("/runs/{id}/plots", get(run_plots))
        .route("/compare", get(compare_form))
        .route("/compare/{base}/{new}", get(compare_page))
        .route("/compare/{base}/{new}/plots", get(compare_plots))
        .route("/trends", get(trends_page))
        .route("/trends/plots", get(trend_plots))
        .route("/files/{*path}", get(file))
        .route("/assets/style.css", get(css))
        .route("/assets/app.js", get(js))
        .route("/api/runs", get(api_runs))
        .route("/api/runs/{id}", get(api_run))
        .route("/api/runs/{id}/cells", get(api_cells))
        .route("/api/runs/{id}/reproduce", get(api_reproduce))
        .route("/api/compare/{base}/{new}", get(api_compare))
        .route("/api/trends", get(api_trends))
        .fallback(not_found)
        .with_state(st)
}

async fn runs_page(State(st): State<Shared>, Query(q): Query<data::RunFilter>) -> Response {
    page(move || pages::runs(&st, &q)).await
}

/// `/runs/<id>?page=N`.
#[derive(Debug, serde::Deserialize)]
struct RunQuery {
    page: Option<usize>,
}

async fn run_page(
    State(st): State<Shared>,
    Path(id): Path<String>,
    Query(q): Query<RunQuery>,
) -> Response {
    page(move || pages::run(&st, &id, q.page)).await
}

async fn run_plots(State(st): State<Shared>, Path(id): Path<String>) -> Response {
    page(move || plots::run(&st, &id)).await
}

async fn compare_plots(
    State(st): State<Shared>,
    Path((base, new)): Path<(String, String)>,
) -> Response {
    page(move || plots::compare(&st, &base, &new)).await
}

async fn trend_plots(State(st): State<Shared>, Query(q): Query<data::TrendFilter>) -> Response {
    page(move || plots::trend(&st, &q)).await
}

/// `/compare?base=A&new=B` (the runs page's form): the compare page's URL.
async fn compare_form(Query(q): Query<std::collections::HashMap<String, String>>) -> Response {
    let (Some(base), Some(new)) = (q.get("base"), q.get("new")) else {
        return Failure::BadRequest("give two runs: /compare?base=RUN&new=RUN".into()).page();
    };
    let to = format!(
        "/compare/{}/{}",
        pages::url_part(base),
        pages::url_part(new)
    );
    axum::response::Redirect::to(&to).into_response()
}

async fn compare_page(
    State(st): State<Shared>,
    Path((base, new)): Path<(String, String)>,
) -> Response {
    page(move || pages::compare(&st, &base, &new)).await
}

async fn trends_page(State(st): State<Shared>, Query(q): Query<data::TrendFilter>) -> Response {
    page(move || pages::trends(&st, &q)).await
}

async fn api_runs(State(st): State<Shared>, Query(q): Query<data::RunFilter>) -> Response {
    json(move || api::runs(&st, &q)).await
}

async fn api_run(State(st): State<Shared>, Path(id): Path<String>) -> Response {
    json(move || api::run(&st, &id)).await
}

async fn api_cells(State(st): State<Shared>, Path(id): Path<String>) -> Response {
    json(move || api::cells(&st, &id)).await
}

async fn api_reproduce(
    State(st): State<Shared>,
    Path(id): Path<String>,
    Query(q): Query<api::ReproduceQuery>,
) -> Response {
    json(move || api::reproduce(&st, &id, &q)).await
}

async fn api_compare(
    State(st): State<Shared>,
    Path((base, new)): Path<(String, String)>,
) -> Response {
    json(move || api::compare(&st, &base, &new)).await
}

async fn api_trends(State(st): State<Shared>, Query(q): Query<data::TrendFilter>) -> Response {
    json(move || api::trends(&st, &q)).await
}

async fn file(State(st): State<Shared>, Path(rel): Path<String>) -> Response {
    let root = st.results.clone();
    let found = blocking(move || {
        let path = files::resolve(root.as_std_path(), &rel).map_err(|e| match e {
            files::FileRefusal::BadPath(m) => Failure::BadRequest(format!("refused: {m}")),
            files::FileRefusal::NotFound => {
                Failure::NotFound(format!("no file {rel:?} in the results folder"))
            }
        })?;
        let bytes = std::fs::read(&path)
            .map_err(|e| Failure::Internal(format!("cannot read {rel:?}: {e}")))?;
        Ok((files::content_type(&path), bytes))
    })
    .await;
    match found {
        Ok((ctype, bytes)) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, ctype),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                (header::CONTENT_SECURITY_POLICY, "sandbox"),
            ],
            Body::from(bytes),
        )
            .into_response(),
        Err(e) => e.page(),
    }
}

async fn css() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        ASSET_CSS,
    )
        .into_response()
}

async fn js() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        ASSET_JS,
    )
        .into_response()
}

async fn not_found(uri: axum::http::Uri) -> Response {
    Failure::NotFound(format!("no page at {}", uri.path())).page()
}
