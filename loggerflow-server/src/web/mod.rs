//! The dashboard's routes, one module per page: each reads the store
//! (`crate::store`) or calls a service (`crate::alarm::admin`), fills the
//! UI's page model and returns the page `loggerflow-ui` renders. A page and
//! the JSON endpoint that does the same call the same function. This
//! module holds what the pages share: the assets and the project lookup.

pub mod alarms;
pub mod badges;
pub mod errors;
pub mod hidden;
pub mod metrics;
pub mod projects;
pub mod releases;
pub mod report;
pub mod settings;
pub mod views;

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::error::AppError;
use crate::router::AppState;

/// `GET /assets/style.css`.
pub async fn style() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        loggerflow_ui::STYLE,
    )
        .into_response()
}

/// The dashboard's wasm bundle, when it was built before this binary
/// (`scripts/bundle`): (version, glue JS, wasm).
#[cfg(bundle)]
pub const BUNDLE: Option<(&str, &[u8], &[u8])> = Some((
    env!("LOGGERFLOW_BUNDLE_VERSION"),
    include_bytes!(env!("LOGGERFLOW_BUNDLE_JS")),
    include_bytes!(env!("LOGGERFLOW_BUNDLE_WASM")),
));
/// The dashboard's wasm bundle: not built before this binary.
#[cfg(not(bundle))]
pub const BUNDLE: Option<(&str, &[u8], &[u8])> = None;

/// `GET /pkg/{file}`: the boot script and the bundle (404 without one).
pub async fn bundle(Path(file): Path<String>) -> Response {
    let Some((_, js, wasm)) = BUNDLE else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let (body, kind): (&'static [u8], &str) = match file.as_str() {
        "boot.js" => (
            loggerflow_ui::hydration::BOOT_JS.as_bytes(),
            "text/javascript; charset=utf-8",
        ),
        "loggerflow_ui.js" => (js, "text/javascript; charset=utf-8"),
        "loggerflow_ui_bg.wasm" => (wasm, "application/wasm"),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            // URLs carry the bundle's version
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        body,
    )
        .into_response()
}

/// The id of the project `name`, or a 404.
async fn project_id(state: &AppState, name: &str) -> Result<i64, AppError> {
    crate::store::projects::id(&state.db, name)
        .await?
        .ok_or_else(|| AppError::not_found(format!("no project named `{name}`")))
}

/// Query of pages that show a notice after an action.
#[derive(Deserialize)]
pub struct NoticeQuery {
    notice: Option<String>,
}
