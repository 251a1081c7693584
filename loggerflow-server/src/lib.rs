//! The LoggerFlow server: ingest, storage, lifecycle, alarms and the dashboard.
//!
//! This crate is at its first stage: [`serve`] answers `GET /api/v1/health`
//! and nothing else yet. Ingest, storage (sea-orm), the lifecycle sweeper and
//! the dashboard arrive with the server issue; until then, use the layer's
//! file sink or a custom sink.
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! loggerflow_server::serve(listener, std::future::pending()).await
//! # }
//! ```

use std::future::Future;

use axum::{Json, Router, routing::get};

/// The server's routes.
pub fn router() -> Router {
    Router::new().route("/api/v1/health", get(health))
}

async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "protocol": loggerflow_layer::protocol::PROTOCOL_VERSION,
    }))
}

/// Serves on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router())
        .with_graceful_shutdown(shutdown)
        .await
}
