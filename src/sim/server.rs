//! The axum router: SGLang's endpoints plus `/sim/*`, behind a gate that
//! answers 503 while "loading" and goes silent once the server is hung.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use super::state::{AppState, Arrival, hang};
use super::{api_admin as admin, api_native as native, api_openai as openai};

/// Serve `app` until the process ends, with Nagle off on every accepted
/// socket: each SSE token is a small write, and with Nagle on, a write
/// while the previous one is unacknowledged waits for the peer's delayed
/// ACK (~40 ms on Linux), which would show up as fake inter-token latency.
pub async fn serve(listener: tokio::net::TcpListener, app: Router) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app).await
}

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/health", get(admin::health))
        .route("/health_generate", get(admin::health))
        .route("/v1/models", get(openai::models))
        .route("/model_info", get(admin::model_info))
        .route("/get_model_info", get(admin::model_info))
        .route("/server_info", get(admin::server_info))
        .route("/get_server_info", get(admin::server_info))
        .route(
            "/flush_cache",
            get(admin::flush_cache).post(admin::flush_cache),
        )
        .route("/generate", post(native::generate))
        .route("/v1/completions", post(openai::completions))
        .route("/v1/chat/completions", post(openai::chat))
        .route("/start_profile", post(admin::start_profile))
        .route("/stop_profile", post(admin::stop_profile))
        .layer(middleware::from_fn_with_state(state.clone(), gate))
        .route("/sim/trace", get(admin::trace))
        .route("/sim/stats", get(admin::stats))
        .with_state(state)
}

/// Hung: never answer. Loading: 503 (health answers it itself).
/// Every request is stamped with its [`Arrival`] here, first thing.
async fn gate(State(state): State<Arc<AppState>>, mut req: Request, next: Next) -> Response {
    req.extensions_mut().insert(Arrival(state.clock.wall_now()));
    if state.hung.load(Ordering::Relaxed) {
        hang().await;
    }
    let health = req.uri().path().starts_with("/health");
    if !state.is_ready() && !health {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "The server is not ready yet.\n",
        )
            .into_response();
    }
    next.run(req).await
}
