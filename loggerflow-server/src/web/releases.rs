//! A project's Releases page: its releases per environment, with their apps
//! and errors; and the same as JSON for its live table.

use axum::Extension;
use axum::extract::{Path, State};
use axum::response::Html;
use loggerflow_ui::model::{ReleaseRow, ReleasesPage, Visitor};

use super::project_id;
use crate::error::AppError;
use crate::router::AppState;
use crate::store::{StoreError, now_ms, releases};

/// `GET /projects/{project}/releases`.
pub async fn page(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    Path(project): Path<String>,
) -> Result<Html<String>, AppError> {
    let page = data(&state, project).await?;
    Ok(Html(loggerflow_ui::pages::releases(page, &visitor)))
}

/// `GET /api/v1/dashboard/projects/{project}/releases`: what the Releases
/// page shows, which its live table fetches when the project changed.
#[utoipa::path(get, path = "/api/v1/dashboard/projects/{project}/releases", tag = "dashboard",
    operation_id = "dashboard_releases",
    summary = "A project's releases as its Releases page shows them (what its live table fetches)",
    params(crate::api::openapi::Project),
    responses(
        (status = 200, description = "The page's data", body = ReleasesPage),
        (status = 404, description = "`not_found`: no such project", body = crate::api::openapi::ApiError)))]
pub async fn live(
    State(state): State<AppState>,
    Path(project): Path<String>,
) -> Result<axum::response::Response, AppError> {
    let key = format!("releases/{project}");
    super::views::json(&state, key, data(&state, project)).await
}

/// `project`'s releases, most recently seen first.
async fn data(state: &AppState, project: String) -> Result<ReleasesPage, AppError> {
    let id = project_id(state, &project).await?;
    let rows = releases::summary(&state.db, id)
        .await
        .map_err(StoreError::from)?
        .into_iter()
        .map(|r| ReleaseRow {
            environment: r.environment,
            version: r.version,
            first_seen_ms: r.first_seen_ms,
            last_seen_ms: r.last_seen_ms,
            apps: r.apps,
            new_errors: r.new_errors,
            regressions: r.regressions,
            resolved_since: r.resolved_since,
        })
        .collect();
    Ok(ReleasesPage {
        project,
        releases: rows,
        now_ms: now_ms(),
    })
}
