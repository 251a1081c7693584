//! Which names the server answers to: the defence against DNS rebinding.
//!
//! A web page on `evil.example` can make its own name resolve to 127.0.0.1
//! and then talk to a server on the developer's laptop as if it were its
//! own origin; the browser then sends `Host: evil.example`. So a request is
//! served only when its `Host` is `localhost` (or `*.localhost`), an IP
//! address (rebinding needs a name), the host of `--public-url`, or a name
//! in [`crate::Config::allowed_hosts`]. Anything else is refused with 400
//! `host_not_allowed`, before any route runs.
//!
//! Ingest (`/loggerflow/…`) and the health check answer under any name:
//! apps and load balancers reach the server by whatever name their network
//! gives it, and a web page cannot use ingest even under a rebound name,
//! because browsers send `Origin` with every POST and websocket, which
//! ingest refuses (see `router`).

use std::str::FromStr as _;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::http::uri::Authority;
use axum::middleware::Next;
use axum::response::Response;

use crate::Config;
use crate::error::AppError;
use crate::router::AppState;

/// The names allowed in `Host` besides loopback names and IP addresses.
#[derive(Debug, Clone, Default)]
pub struct Allowed {
    names: Vec<String>,
}

fn normalise(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

impl Allowed {
    /// The public URL's host and the configured names.
    pub fn new(config: &Config) -> Self {
        let mut names: Vec<String> = config.allowed_hosts.iter().map(|h| normalise(h)).collect();
        if let Some(host) = config.public_url.as_ref().and_then(url::Url::host_str) {
            names.push(normalise(host));
        }
        Self { names }
    }

    /// Whether a request with this `Host` header value is served.
    pub fn allows(&self, host_header: &str) -> bool {
        let Ok(authority) = Authority::from_str(host_header.trim()) else {
            return false;
        };
        // no user info in a Host
        if authority.as_str().contains('@') {
            return false;
        }
        let host = normalise(authority.host());
        if host == "localhost" || host.ends_with(".localhost") {
            return true;
        }
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if bare.parse::<std::net::IpAddr>().is_ok() {
            return true;
        }
        self.names.contains(&host)
    }
}

/// Refuses requests whose `Host` is not allowed (or missing).
pub async fn guard(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, AppError> {
    let path = request.uri().path();
    if path.starts_with("/loggerflow/") || path == "/api/v1/health" {
        return Ok(next.run(request).await);
    }
    let mut hosts = request.headers().get_all(axum::http::header::HOST).iter();
    let (first, second) = (hosts.next(), hosts.next());
    if second.is_some() {
        return Err(AppError::new(
            StatusCode::BAD_REQUEST,
            "host_not_allowed",
            "the request names more than one Host",
        ));
    }
    // an absolute-form target (`GET http://name/ HTTP/1.1`) names the host too
    if let Some(authority) = request.uri().authority()
        && !state.hosts.allows(authority.as_str())
    {
        return Err(AppError::new(
            StatusCode::BAD_REQUEST,
            "host_not_allowed",
            "this server does not answer to that host name",
        ));
    }
    let host = first.and_then(|h| h.to_str().ok());
    match host {
        Some(host) if state.hosts.allows(host) => Ok(next.run(request).await),
        Some(_) => Err(AppError::new(
            StatusCode::BAD_REQUEST,
            "host_not_allowed",
            "this server does not answer to that host name; if it is the server's public address, \
             start it with --public-url",
        )),
        None => Err(AppError::new(
            StatusCode::BAD_REQUEST,
            "host_not_allowed",
            "the request names no Host",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_addresses_and_configured_names_only() {
        let mut config = Config::new("sqlite::memory:");
        config.public_url = url::Url::parse("https://LF.example.com/").ok();
        config.allowed_hosts = vec!["monitor.internal".into()];
        let allowed = Allowed::new(&config);
        for ok in [
            "localhost",
            "localhost:8000",
            "app.localhost:1",
            "127.0.0.1:8000",
            "10.0.0.5",
            "[::1]:8000",
            "lf.example.com",
            "LF.Example.com.:443",
            "monitor.internal:8000",
        ] {
            assert!(allowed.allows(ok), "{ok} is allowed");
        }
        for bad in [
            "rb.evil.example",
            "rb.evil.example:8000",
            "localhost.evil.example",
            "lf.example.com.evil.example",
            "evil@localhost",
            "",
            "a b",
        ] {
            assert!(!allowed.allows(bad), "{bad} is refused");
        }
    }
}
