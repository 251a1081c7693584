//! A project's metrics page: its charts and its instances (apps), and the
//! button that forgets the apps that are not online.

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::response::{Html, Redirect};
use loggerflow_ui::model::{InstanceRow, MetricPoint, MetricsPage, Visitor};
use serde::Deserialize;

use super::project_id;
use crate::error::AppError;
use crate::router::AppState;
use crate::store::{instances, metrics, now_ms};

/// Query of the metrics page.
#[derive(Deserialize)]
pub struct MetricsQuery {
    /// The chart window (`5m` when absent or unknown).
    window: Option<String>,
    /// A message after an action.
    notice: Option<String>,
}

/// `GET /projects/{project}/metrics?window=`.
pub async fn page(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    Path(project): Path<String>,
    Query(query): Query<MetricsQuery>,
) -> Result<Html<String>, AppError> {
    let mut page = data(&state, project, query.window.as_deref()).await?;
    page.notice = query.notice;
    Ok(Html(loggerflow_ui::pages::metrics(page, &visitor)))
}

/// Query of `GET /api/v1/dashboard/projects/{project}/metrics`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WindowQuery {
    /// The chart window: `1m`, `5m`, `30m`, `1h`, `3h`, `1d`, `3d`, `7d`
    /// (`5m` when absent or unknown).
    window: Option<String>,
}

/// `GET /api/v1/dashboard/projects/{project}/metrics?window=`: what the
/// metrics page shows, which its live charts fetch when the project changed.
#[utoipa::path(get, path = "/api/v1/dashboard/projects/{project}/metrics", tag = "dashboard",
    operation_id = "dashboard_metrics",
    summary = "A project's charts and apps as its metrics page shows them (what its live charts fetch)",
    params(crate::api::openapi::Project, WindowQuery),
    responses(
        (status = 200, description = "The page's data", body = MetricsPage),
        (status = 404, description = "`not_found`: no such project", body = crate::api::openapi::ApiError)))]
pub async fn live(
    State(state): State<AppState>,
    Path(project): Path<String>,
    Query(query): Query<WindowQuery>,
) -> Result<axum::response::Response, AppError> {
    let (window, _) = window(query.window.as_deref());
    let key = format!("metrics/{project}/{window}");
    super::views::json(&state, key, data(&state, project, Some(window))).await
}

/// The window named `asked` (`5m` when none or unknown), and its length.
fn window(asked: Option<&str>) -> (&'static str, i64) {
    metrics::window(asked.unwrap_or("5m")).unwrap_or(("5m", 300_000))
}

/// `project`'s charts over `window`, and its apps.
async fn data(
    state: &AppState,
    project: String,
    window: Option<&str>,
) -> Result<MetricsPage, AppError> {
    let id = project_id(state, &project).await?;
    let instances = instances::of_project(&state.db, id)
        .await?
        .into_iter()
        .map(|i| InstanceRow {
            name: instances::name(&i.id, &i.host, i.pid),
            transport: i.transport,
            client_version: i.client_version,
            status: i.status,
            status_since_ms: i.status_since_ms,
            last_seen_ms: i.last_seen_ms,
        })
        .collect();
    let (window, window_ms) = self::window(window);
    let points = metrics::chart(&state.db, id, window_ms)
        .await?
        .into_iter()
        // averages rounded (0.01 %, whole bytes): what a chart can show,
        // without 17-digit fractions in the JSON and the island's data
        .map(|p| MetricPoint {
            ts_ms: p.ts_ms,
            cpu_percent: (p.cpu_percent * 100.0).round() / 100.0,
            process_cpu_percent: (p.process_cpu_percent * 100.0).round() / 100.0,
            process_memory_bytes: p.process_memory_bytes.round(),
            memory_used_bytes: p.memory_used_bytes.round(),
            memory_total_bytes: p.memory_total_bytes.round(),
        })
        .collect();
    Ok(MetricsPage {
        project,
        window: window.into(),
        window_ms,
        windows: metrics::WINDOWS
            .iter()
            .map(|(n, _)| (*n).to_owned())
            .collect(),
        points,
        instances,
        now_ms: now_ms(),
        notice: None,
    })
}

/// `POST /projects/{project}/instances/clear`: forgets the project's apps
/// that are not online (their metrics stay).
pub async fn clear_instances(
    State(state): State<AppState>,
    Path(project): Path<String>,
) -> Result<Redirect, AppError> {
    let id = project_id(&state, &project).await?;
    let n = instances::clear(&state.db, id).await?;
    state.changes.publish(crate::changes::Topic::Projects, None);
    Ok(Redirect::to(&format!(
        "/projects/{}/metrics?notice={}",
        loggerflow_ui::pages::segment(&project),
        loggerflow_ui::pages::segment(&format!("{n} app(s) cleared"))
    )))
}
