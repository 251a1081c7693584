//! A project's Releases page: its releases per environment, with their apps
//! and errors.

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
    let id = project_id(&state, &project).await?;
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
    Ok(Html(loggerflow_ui::pages::releases(
        ReleasesPage {
            project,
            releases: rows,
            now_ms: now_ms(),
        },
        &visitor,
    )))
}
