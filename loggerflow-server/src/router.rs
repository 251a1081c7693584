//! Routes, shared state, and the two kinds of authentication: HTTP Basic
//! (`--auth`) for the API and pages, the ingest key (`--ingest-key`) for
//! ingest.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use base64::Engine as _;
use sea_orm::DatabaseConnection;

use crate::Config;
use crate::api;
use crate::error::AppError;
use crate::ingest::{compat, native};
use crate::store::writer::Writer;
use crate::web;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The configuration.
    pub config: Arc<Config>,
    /// The pool, for reads.
    pub db: DatabaseConnection,
    /// The writer, for ingest.
    pub writer: Writer,
}

/// The server's routes.
pub fn router(state: AppState) -> Router {
    let ingest = Router::new()
        .route("/loggerflow/v1/batch", post(native::batch))
        .route("/loggerflow/v1/ws", get(native::websocket))
        .route("/loggerflow/handshake", post(compat::handshake))
        .route("/loggerflow/heartbeat", post(compat::heartbeat))
        .route("/loggerflow/project_error", post(compat::project_error))
        .route("/loggerflow/", get(compat::websocket))
        .route_layer(middleware::from_fn_with_state(state.clone(), ingest_key));
    // Python clients cannot send headers: the key may be a path segment
    let keyed = Router::new()
        .route("/loggerflow/k/{key}/handshake", post(keyed_handshake))
        .route("/loggerflow/k/{key}/heartbeat", post(keyed_heartbeat))
        .route(
            "/loggerflow/k/{key}/project_error",
            post(keyed_project_error),
        )
        .route("/loggerflow/k/{key}/", get(keyed_ws));
    let api = Router::new()
        .route("/api/v1/projects", get(api::projects))
        .route("/api/v1/projects/{project}/errors", get(api::errors))
        .route(
            "/api/v1/projects/{project}/errors/{group}/state",
            post(api::set_state),
        )
        .route("/api/v1/projects/{project}/reports", get(api::reports))
        .route("/api/v1/projects/{project}/metrics", get(api::metrics))
        .route(
            "/api/v1/projects/{project}/alarms",
            post(api::alarms::connect),
        )
        .route("/api/v1/alarm-kinds", get(api::alarms::kinds))
        .route(
            "/api/v1/alarms",
            get(api::alarms::list).post(api::alarms::create),
        )
        .route(
            "/api/v1/alarms/{name}",
            axum::routing::delete(api::alarms::delete),
        )
        .route("/api/v1/alarms/{name}/check", post(api::alarms::check))
        .route(
            "/api/v1/alarm-events",
            get(api::alarms::events).delete(api::alarms::clear),
        )
        .route("/", get(web::projects))
        .route("/projects/{project}", get(web::errors))
        .route(
            "/projects/{project}/errors/{group}/state",
            post(web::set_state),
        )
        .route("/projects/{project}/reports/{id}", get(web::report))
        .route("/projects/{project}/metrics", get(web::metrics))
        .route("/alarms", get(web::alarms))
        .route("/alarms/new", post(web::add_alarm))
        .route("/alarms/connect", post(web::connect_alarm))
        .route("/alarms/clear", post(web::clear_history))
        .route("/alarms/{name}/check", post(web::check_alarm))
        .route("/alarms/{name}/delete", post(web::delete_alarm))
        .route_layer(middleware::from_fn_with_state(state.clone(), basic_auth))
        .route_layer(middleware::from_fn(same_origin));
    Router::new()
        .route("/assets/style.css", get(web::style))
        .route("/api/v1/health", get(api::health))
        .merge(ingest)
        .merge(keyed)
        .merge(api)
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            state.config.request_timeout,
        ))
        .with_state(state)
}

type JsonResult = Result<axum::Json<serde_json::Value>, AppError>;

async fn keyed_handshake(
    State(state): State<AppState>,
    Path(key): Path<String>,
    body: Body,
) -> JsonResult {
    check_key(&state, Some(&key))?;
    compat::handshake(State(state), body).await
}

async fn keyed_heartbeat(
    State(state): State<AppState>,
    Path(key): Path<String>,
    body: Body,
) -> JsonResult {
    check_key(&state, Some(&key))?;
    compat::heartbeat(State(state), body).await
}

async fn keyed_project_error(
    State(state): State<AppState>,
    Path(key): Path<String>,
    body: Body,
) -> JsonResult {
    check_key(&state, Some(&key))?;
    compat::project_error(State(state), body).await
}

async fn keyed_ws(
    State(state): State<AppState>,
    Path(key): Path<String>,
    upgrade: axum::extract::ws::WebSocketUpgrade,
) -> Result<Response, AppError> {
    check_key(&state, Some(&key))?;
    Ok(compat::websocket(State(state), upgrade).await)
}

fn check_key(state: &AppState, given: Option<&str>) -> Result<(), AppError> {
    match &state.config.ingest_key {
        None => Ok(()),
        Some(key) if given.is_some_and(|g| constant_time_eq(g.as_bytes(), key.as_bytes())) => {
            Ok(())
        }
        Some(_) => Err(AppError::new(
            StatusCode::UNAUTHORIZED,
            "ingest_key_required",
            "this server needs the ingest key: `Authorization: Bearer KEY` (or `/loggerflow/k/KEY/` for Python clients)",
        )),
    }
}

async fn ingest_key(
    State(state): State<AppState>,
    headers: HeaderMap,
    request: Request,
    next: Next,
) -> Result<Response, AppError> {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    check_key(&state, given)?;
    Ok(next.run(request).await)
}

async fn basic_auth(
    State(state): State<AppState>,
    headers: HeaderMap,
    request: Request,
    next: Next,
) -> Result<Response, AppError> {
    let Some((user, password)) = &state.config.auth else {
        return Ok(next.run(request).await);
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|b| String::from_utf8(b).ok());
    let expected = format!("{user}:{password}");
    match given {
        Some(given) if constant_time_eq(given.as_bytes(), expected.as_bytes()) => {
            Ok(next.run(request).await)
        }
        _ => Err(AppError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "this server needs credentials (HTTP Basic)",
        )),
    }
}

/// Compares secrets in time that does not depend on where they differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Refuses state-changing requests sent by another site's page (CSRF): a
/// browser names the page's origin in `Origin` (or `Referer`); when it does,
/// it must be this server. Scripts and API clients send neither.
async fn same_origin(
    headers: HeaderMap,
    request: Request,
    next: Next,
) -> Result<Response, AppError> {
    let safe = matches!(
        *request.method(),
        axum::http::Method::GET | axum::http::Method::HEAD
    );
    if !safe {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default();
        let from = headers
            .get(header::ORIGIN)
            .or_else(|| headers.get(header::REFERER))
            .and_then(|v| v.to_str().ok());
        if let Some(from) = from {
            let from_host = from
                .split("://")
                .nth(1)
                .and_then(|rest| rest.split('/').next())
                .unwrap_or_default();
            if from_host != host {
                return Err(AppError::new(
                    StatusCode::FORBIDDEN,
                    "cross_site_request",
                    "this request came from another site's page and was refused",
                ));
            }
        }
    }
    Ok(next.run(request).await)
}
