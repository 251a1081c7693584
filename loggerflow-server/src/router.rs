//! Routes, shared state, and the ingest key (`--ingest-key`). Who may use
//! the dashboard and API is decided in [`crate::auth`].

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse as _, Response};
use axum::routing::{get, post};
use sea_orm::DatabaseConnection;

use crate::Config;
use crate::api;
use crate::auth;
use crate::error::AppError;
use crate::ingest::{Client, compat, native};
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
    /// The names the server answers to.
    pub hosts: Arc<crate::hosts::Allowed>,
    /// What alarms may reach.
    pub outbound: crate::alarm::Outbound,
    /// Failed logins per client.
    pub throttle: Arc<auth::throttle::Throttle>,
    /// Turns true when the server starts shutting down (websockets close).
    pub shutdown: tokio::sync::watch::Receiver<bool>,
    /// Websockets being served (the shutdown waits for them to end).
    pub live_sockets: Arc<std::sync::atomic::AtomicUsize>,
    /// What changed, told to the dashboard's live pages.
    pub changes: crate::changes::Changes,
    /// Room for more event streams (`--max-event-streams`).
    pub streams: Arc<tokio::sync::Semaphore>,
    /// The live views' answers, shared by the tabs that ask together.
    pub views: Arc<web::views::Views>,
    /// The login sessions of open event streams (which end with them).
    pub sessions: auth::watch::SessionWatch,
}

/// The server's routes.
pub fn router(state: AppState) -> Router {
    if let Some((version, _, _)) = web::BUNDLE {
        loggerflow_ui::hydration::enable(version);
    }
    let ingest = Router::new()
        .route("/loggerflow/v1/batch", post(native::batch))
        .route("/loggerflow/v1/ws", get(native::websocket))
        .route("/loggerflow/handshake", post(compat::handshake))
        .route("/loggerflow/heartbeat", post(compat::heartbeat))
        .route("/loggerflow/project_error", post(compat::project_error))
        .route("/loggerflow/", get(compat::websocket))
        .route_layer(middleware::from_fn_with_state(state.clone(), ingest_key))
        .route_layer(middleware::from_fn(not_from_a_browser));
    // Python clients cannot send headers: the key may be a path segment
    let keyed = Router::new()
        .route("/loggerflow/k/{key}/handshake", post(keyed_handshake))
        .route("/loggerflow/k/{key}/heartbeat", post(keyed_heartbeat))
        .route(
            "/loggerflow/k/{key}/project_error",
            post(keyed_project_error),
        )
        .route("/loggerflow/k/{key}/", get(keyed_ws))
        .route_layer(middleware::from_fn(not_from_a_browser));
    let badges = Router::new()
        .route("/badge/{project}/status.svg", get(web::badges::status))
        .route("/badge/{project}/errors.svg", get(web::badges::errors));
    // behind the login like the API, unless the operator made them public
    let (public_badges, private_badges) = if state.config.public_badges {
        (badges, Router::new())
    } else {
        (Router::new(), badges)
    };
    let api = Router::new()
        .merge(private_badges)
        .route("/api/v1/openapi.json", get(api::openapi::openapi_json))
        .route("/api/v1/projects", get(api::projects))
        .route("/metrics", get(api::prometheus))
        .route("/api/v1/dashboard/projects", get(web::projects::live))
        .route(
            "/api/v1/dashboard/projects/{project}/errors",
            get(web::errors::live),
        )
        .route(
            "/api/v1/dashboard/projects/{project}/reports/{id}/neighbours",
            get(web::report::neighbours),
        )
        .route(
            "/api/v1/dashboard/projects/{project}/releases",
            get(web::releases::live),
        )
        .route(
            "/api/v1/dashboard/projects/{project}/metrics",
            get(web::metrics::live),
        )
        .route("/api/v1/dashboard/alarm-events", get(web::alarms::history))
        .route("/api/v1/events", get(api::events::stream))
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
        .route("/", get(web::projects::page))
        .route("/projects/{project}", get(web::errors::page))
        .route(
            "/projects/{project}/errors/{group}/state",
            post(web::errors::set_state),
        )
        .route("/projects/{project}/reports/{id}", get(web::report::page))
        .route("/projects/{project}/metrics", get(web::metrics::page))
        .route("/projects/{project}/releases", get(web::releases::page))
        .route("/alarms", get(web::alarms::page))
        .route("/alarms/new", post(web::alarms::add))
        .route("/alarms/connect", post(web::alarms::connect))
        .route("/alarms/clear", post(web::alarms::clear_history))
        .route("/alarms/{name}/check", post(web::alarms::check))
        .route("/alarms/{name}/delete", post(web::alarms::delete))
        .route("/hidden", get(web::hidden::page))
        .route("/projects/{project}/hide", post(web::hidden::hide))
        .route(
            "/projects/{project}/instances/clear",
            post(web::metrics::clear_instances),
        )
        .route("/projects/{project}/unhide", post(web::hidden::unhide))
        .route("/projects/{project}/delete", post(web::hidden::delete))
        .route(
            "/settings",
            get(web::settings::page).post(web::settings::save),
        )
        .route("/logout", post(auth::logout))
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::guard))
        .route_layer(middleware::from_fn(auth::same_origin));
    let login = Router::new()
        .route("/login", get(auth::login_page).post(auth::login))
        .route_layer(middleware::from_fn(auth::same_origin));
    Router::new()
        .route("/assets/style.css", get(web::style))
        .route("/pkg/{file}", get(web::bundle))
        .route("/api/v1/health", get(api::health))
        .merge(public_badges)
        .merge(ingest)
        .merge(keyed)
        .merge(api)
        .merge(login)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::hosts::guard,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), deadline))
        .layer(middleware::from_fn(crate::error::json_refusals))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            security_headers,
        ))
        .with_state(state)
}

type JsonResult = Result<axum::Json<serde_json::Value>, AppError>;

async fn keyed_handshake(
    State(state): State<AppState>,
    client: Client,
    Path(key): Path<String>,
    body: Body,
) -> JsonResult {
    check_key(&state, Some(&key))?;
    compat::handshake(State(state), client, body).await
}

async fn keyed_heartbeat(
    State(state): State<AppState>,
    client: Client,
    Path(key): Path<String>,
    body: Body,
) -> JsonResult {
    check_key(&state, Some(&key))?;
    compat::heartbeat(State(state), client, body).await
}

async fn keyed_project_error(
    State(state): State<AppState>,
    client: Client,
    Path(key): Path<String>,
    body: Body,
) -> JsonResult {
    check_key(&state, Some(&key))?;
    compat::project_error(State(state), client, body).await
}

async fn keyed_ws(
    State(state): State<AppState>,
    client: Client,
    Path(key): Path<String>,
    upgrade: axum::extract::ws::WebSocketUpgrade,
) -> Result<Response, AppError> {
    check_key(&state, Some(&key))?;
    Ok(compat::websocket(State(state), client, upgrade).await)
}

fn check_key(state: &AppState, given: Option<&str>) -> Result<(), AppError> {
    match &state.config.ingest_key {
        None => Ok(()),
        Some(key)
            if given
                .is_some_and(|g| crate::auth::constant_time_eq(g.as_bytes(), key.as_bytes())) =>
        {
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

/// The content security policy of every page: scripts only from this server
/// (the boot script and the wasm bundle, no inline script), no frames, forms
/// only to this server. A second line of defence behind escaping.
const CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
    style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
    frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// The policy of every answer that is not a page: it loads nothing and may
/// be framed by nobody.
const CSP_NOT_HTML: &str = "default-src 'none'; frame-ancestors 'none'";

/// Security headers on every answer (pages, JSON, assets, errors, 404s).
async fn security_headers(State(state): State<AppState>, request: Request, next: Next) -> Response {
    use header::HeaderValue;
    let mut response = next.run(request).await;
    let html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    let headers = response.headers_mut();
    let csp = if html { CSP } else { CSP_NOT_HTML };
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(csp),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("same-origin"),
    );
    if state.config.https() {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    response
}

/// Answers 408 to a request that takes longer than `--request-timeout`,
/// body included (a client trickling its body is cut off).
async fn deadline(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let limit = state.config.request_timeout;
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => AppError::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            format!("the request took longer than {} s", limit.as_secs()),
        )
        .into_response(),
    }
}

/// Refuses ingest from a web page: browsers name the page's origin in
/// `Origin` (also for `fetch(.., {mode: "no-cors"})` and websockets);
/// apps never send it.
async fn not_from_a_browser(request: Request, next: Next) -> Result<Response, AppError> {
    if request.headers().contains_key(header::ORIGIN) {
        return Err(AppError::new(
            StatusCode::FORBIDDEN,
            "browser_origin_refused",
            "ingest is for apps, not web pages: a request with an Origin header is refused",
        ));
    }
    Ok(next.run(request).await)
}
