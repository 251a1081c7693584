//! Ingest: the native protocol v1 ([`native`]) and the Python `loggerflow`
//! 0.0.6 clients' endpoints ([`compat`]).

pub mod compat;
pub mod native;
pub mod quota;
mod socket;

use axum::body::{Body, Bytes};

use crate::error::AppError;

/// The client that sent the request (see [`crate::connections::Client`]).
pub use crate::connections::Client;

/// Reads a request body of at most `limit` bytes.
pub(crate) async fn read_body(body: Body, limit: usize) -> Result<Bytes, AppError> {
    axum::body::to_bytes(body, limit).await.map_err(|_| {
        AppError::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the body is larger than {limit} bytes (or was cut off)"),
        )
        .limit(limit)
    })
}

/// Parses JSON, naming the position of the problem.
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    serde_json::from_slice(bytes).map_err(|e| {
        let code = if e.is_data() {
            "invalid_message"
        } else {
            "malformed_json"
        };
        AppError::bad_request(code, format!("cannot read the body: {e}"))
    })
}
