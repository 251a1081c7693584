//! Ingest: the native protocol v1 ([`native`]) and the Python `loggerflow`
//! 0.0.6 clients' endpoints ([`compat`]).

pub mod compat;
pub mod native;
pub mod quota;
mod socket;

use std::net::IpAddr;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

use crate::error::AppError;
use crate::router::AppState;

/// The client that sent an ingest request (its creation quota is kept by
/// this address): the TCP peer, or behind a trusted proxy the address it
/// forwarded.
#[derive(Debug, Clone, Copy)]
pub struct Client(pub IpAddr);

impl FromRequestParts<AppState> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0);
        let ip =
            crate::connections::client_ip(peer, &parts.headers, state.config.trust_forwarded_for)
                .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
        Ok(Self(ip))
    }
}

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
