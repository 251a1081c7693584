//! An axum service whose handler errors are captured (the model's FastAPI
//! `exception_handler` example).
//!
//! axum turns a handler's error into a response itself, so nothing panics
//! and no `error!` is raised: the error type's `IntoResponse` hands the error
//! to LoggerFlow and answers with the report id. Panicking handlers are
//! captured by the panic hook (add tower-http's `CatchPanicLayer` to answer
//! them with a 500).
//!
//! Run with: `cargo run -p loggerflow-examples --bin axum_service`, then
//! `curl 127.0.0.1:3000/users/abc`. With `LOGGERFLOW_EXAMPLE_ONCE=1` it
//! requests that URL itself and exits.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router, routing::get};
use loggerflow_layer::sink::FileSink;
use loggerflow_layer::{LoggerFlowLayer, TraceMode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing_subscriber::prelude::*;

/// The service's error type.
#[derive(Debug)]
enum AppError {
    BadId(std::num::ParseIntError),
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AppError::BadId(_) => f.write_str("the user id is not a number"),
        }
    }
}

impl std::error::Error for AppError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AppError::BadId(e) => Some(e),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        // the model's `await lf.async_send_traceback(...)`: non-blocking
        let id = loggerflow_layer::capture_error(&self);
        let body = serde_json::json!({
            "status": 500,
            "error": self.to_string(),
            "report": id.map(|id| id.to_string()),
        });
        (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response()
    }
}

async fn user(Path(id): Path<String>) -> Result<Json<serde_json::Value>, AppError> {
    let id: u64 = id.parse().map_err(AppError::BadId)?;
    Ok(Json(serde_json::json!({ "id": id })))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let path = std::env::var("LOGGERFLOW_EXAMPLE_LOG").unwrap_or_else(|_| "test.log".into());
    let layer = LoggerFlowLayer::builder("Axum")
        .sink(FileSink::new(&path))
        .trace_mode(TraceMode::Clean)
        .build();
    let handle = layer.handle();
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer())
        .with(layer)
        .init();

    let app = Router::new().route("/users/{id}", get(user));
    let once = std::env::var_os("LOGGERFLOW_EXAMPLE_ONCE").is_some();
    let listener = tokio::net::TcpListener::bind(if once {
        "127.0.0.1:0"
    } else {
        "127.0.0.1:3000"
    })
    .await?;
    let addr = listener.local_addr()?;
    println!("listening on http://{addr}/users/abc");
    if once {
        tokio::spawn(async move { axum::serve(listener, app).await });
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        stream
            .write_all(b"GET /users/abc HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await?;
        let mut response = String::new();
        stream.read_to_string(&mut response).await?;
        println!("{}", response.lines().last().unwrap_or_default());
    } else {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await?;
    }
    // async code: flush without blocking the runtime
    handle.shutdown(std::time::Duration::from_secs(5)).await;
    Ok(())
}
