//! The JSON API the dashboard, scripts and tests read.

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::AppError;
use crate::router::AppState;
use crate::store::groups::{GroupView, ReportView};
use crate::store::metrics::MetricPoint;
use crate::store::projects::ProjectView;
use crate::store::{groups, metrics, projects};
use openapi::ApiError;

pub mod openapi;

/// The answer of `GET /api/v1/health`.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`: the server answers.
    pub status: &'static str,
    /// `ok`, or `unavailable` when the database does not answer.
    pub database: &'static str,
    /// The server's version.
    pub version: &'static str,
    /// The ingest protocol's version.
    pub protocol: u32,
}

/// `GET /api/v1/health`: the server answers and its database too.
#[utoipa::path(get, path = "/api/v1/health", tag = "server", operation_id = "health",
    summary = "The server answers, and whether its database does (open to all, for load balancers)",
    security(()),
    responses((status = 200, description = "The server answers", body = Health)))]
pub async fn health(State(state): State<AppState>) -> Result<Json<Health>, AppError> {
    let database = match state.db.ping().await {
        Ok(()) => "ok",
        Err(_) => "unavailable",
    };
    Ok(Json(Health {
        status: "ok",
        database,
        version: env!("CARGO_PKG_VERSION"),
        protocol: loggerflow_layer::protocol::PROTOCOL_VERSION,
    }))
}

/// The answer of `GET /api/v1/projects`.
#[derive(Serialize, ToSchema)]
pub struct Projects {
    /// Every project, hidden ones too.
    pub projects: Vec<ProjectView>,
}

/// `GET /api/v1/projects`.
#[utoipa::path(get, path = "/api/v1/projects", tag = "projects", operation_id = "list_projects",
    summary = "Every project with its status, instances and error totals",
    responses((status = 200, description = "The projects", body = Projects)))]
pub async fn projects(State(state): State<AppState>) -> Result<Json<Projects>, AppError> {
    let projects = projects::all(&state.db).await?;
    Ok(Json(Projects { projects }))
}

async fn project_id(state: &AppState, name: &str) -> Result<i64, AppError> {
    projects::id(&state.db, name)
        .await?
        .ok_or_else(|| AppError::not_found(format!("no project named `{name}`")))
}

/// Query of `GET /api/v1/projects/{project}/errors`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ErrorsQuery {
    /// Only the groups in this state: `open`, `resolved` or `ignored`.
    state: Option<String>,
    /// Only the groups seen in this environment.
    environment: Option<String>,
    /// Only the groups seen in this release (of `environment` when given).
    release: Option<String>,
}

/// The release filter the query names, if any.
fn filter_of(
    project: i64,
    environment: Option<&str>,
    release: Option<&str>,
) -> Option<crate::store::releases::Filter> {
    crate::store::releases::Filter::new(project, environment, release)
}

fn check_state(state: &str) -> Result<(), AppError> {
    match state {
        "open" | "resolved" | "ignored" => Ok(()),
        other => Err(AppError::bad_request(
            "invalid_state",
            format!("unknown state `{other}`: use open, resolved or ignored"),
        )),
    }
}

/// The answer of `GET /api/v1/projects/{project}/errors`.
#[derive(Serialize, ToSchema)]
pub struct Errors {
    /// The project.
    pub project: String,
    /// Its error groups, most recently seen first.
    pub groups: Vec<GroupView>,
}

/// `GET /api/v1/projects/{project}/errors?state=`: the error groups.
#[utoipa::path(get, path = "/api/v1/projects/{project}/errors", tag = "projects",
    operation_id = "list_errors", summary = "A project's error groups, by state",
    params(openapi::Project, ErrorsQuery),
    responses(
        (status = 200, description = "The error groups", body = Errors),
        (status = 400, description = "`invalid_state`", body = ApiError)))]
pub async fn errors(
    State(state): State<AppState>,
    Path(project): Path<String>,
    Query(query): Query<ErrorsQuery>,
) -> Result<Json<Errors>, AppError> {
    if let Some(s) = &query.state {
        check_state(s)?;
    }
    let id = project_id(&state, &project).await?;
    let filter = filter_of(id, query.environment.as_deref(), query.release.as_deref());
    let groups = groups::of_project(&state.db, id, query.state.as_deref(), filter.as_ref()).await?;
    Ok(Json(Errors { project, groups }))
}

/// Body of `POST /api/v1/projects/{project}/errors/{group}/state`.
#[derive(Deserialize, ToSchema)]
pub struct StateBody {
    /// `open`, `resolved` or `ignored`.
    state: String,
}

/// The answer of `POST /api/v1/projects/{project}/errors/{group}/state`.
#[derive(Serialize, ToSchema)]
pub struct StateChanged {
    /// The group's id.
    pub group: i64,
    /// Its state now.
    pub state: String,
}

/// `POST /api/v1/projects/{project}/errors/{group}/state` `{"state": "resolved"}`.
#[utoipa::path(post, path = "/api/v1/projects/{project}/errors/{group}/state", tag = "projects",
    operation_id = "set_error_state", summary = "Resolves, ignores or reopens an error group",
    params(openapi::Project, openapi::Group),
    request_body = StateBody,
    responses(
        (status = 200, description = "The group's new state", body = StateChanged),
        (status = 400, description = "`invalid_state`", body = ApiError),
        (status = 404, description = "`not_found`: no such project or group", body = ApiError)))]
pub async fn set_state(
    State(state): State<AppState>,
    Path((project, group)): Path<(String, i64)>,
    Json(body): Json<StateBody>,
) -> Result<Json<StateChanged>, AppError> {
    check_state(&body.state)?;
    let id = project_id(&state, &project).await?;
    if groups::set_state(&state.db, id, group, &body.state).await? {
        state.changes.group_state(&project);
        Ok(Json(StateChanged {
            group,
            state: body.state,
        }))
    } else {
        Err(AppError::not_found(format!(
            "no group {group} in `{project}`"
        )))
    }
}

/// Query of `GET /api/v1/projects/{project}/reports`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportsQuery {
    /// Only the reports of this error group.
    group: Option<i64>,
    /// At most this many (default 50).
    limit: Option<u64>,
    /// The page after this cursor (`next` of the previous page).
    before: Option<String>,
    /// Only the reports from this environment.
    environment: Option<String>,
    /// Only the reports from this release (of `environment` when given).
    release: Option<String>,
}

/// The answer of `GET /api/v1/projects/{project}/reports`.
#[derive(Serialize, ToSchema)]
pub struct Reports {
    /// The project.
    pub project: String,
    /// Its reports, newest first.
    pub reports: Vec<ReportView>,
    /// The cursor of the next (older) page: pass it as `before`; `null` on an empty page.
    pub next: Option<String>,
}

/// `GET /api/v1/projects/{project}/reports?group=&limit=&before=`: newest first.
#[utoipa::path(get, path = "/api/v1/projects/{project}/reports", tag = "projects",
    operation_id = "list_reports", summary = "A project's reports, newest first, a page at a time",
    params(openapi::Project, ReportsQuery),
    responses(
        (status = 200, description = "A page of reports", body = Reports),
        (status = 400, description = "`invalid_cursor`", body = ApiError)))]
pub async fn reports(
    State(state): State<AppState>,
    Path(project): Path<String>,
    Query(query): Query<ReportsQuery>,
) -> Result<Json<Reports>, AppError> {
    let before = match &query.before {
        Some(cursor) => Some(
            cursor
                .split_once(':')
                .and_then(|(ts, id)| {
                    // ids are UUIDs: anything else is not a cursor of ours
                    let id = uuid::Uuid::parse_str(id).ok()?;
                    Some((ts.parse::<i64>().ok()?, id))
                })
                .ok_or_else(|| {
                    AppError::bad_request(
                        "invalid_cursor",
                        "`before` must be a cursor from a previous page",
                    )
                })?,
        ),
        None => None,
    };
    let id = project_id(&state, &project).await?;
    let filter = filter_of(id, query.environment.as_deref(), query.release.as_deref());
    let reports = groups::reports(
        &state.db,
        id,
        query.group,
        filter.as_ref(),
        query.limit.unwrap_or(50),
        before,
    )
    .await?;
    let next = reports.last().map(|r| r.cursor.clone());
    Ok(Json(Reports {
        project,
        reports,
        next,
    }))
}

/// Query of `GET /api/v1/projects/{project}/metrics`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MetricsQuery {
    /// `1m`, `5m` (default), `30m`, `1h`, `3h`, `1d`, `3d` or `7d`.
    window: Option<String>,
}

/// The answer of `GET /api/v1/projects/{project}/metrics`.
#[derive(Serialize, ToSchema)]
pub struct Metrics {
    /// The project.
    pub project: String,
    /// The window.
    pub window: String,
    /// Averages over its buckets (at most about 300), oldest first.
    pub points: Vec<MetricPoint>,
}

/// `GET /api/v1/projects/{project}/metrics?window=5m`: bucketed averages.
#[utoipa::path(get, path = "/api/v1/projects/{project}/metrics", tag = "projects",
    operation_id = "project_metrics",
    summary = "A project's CPU and memory readings, averaged over a window",
    params(openapi::Project, MetricsQuery),
    responses(
        (status = 200, description = "The averaged readings", body = Metrics),
        (status = 400, description = "`invalid_window`", body = ApiError)))]
pub async fn metrics(
    State(state): State<AppState>,
    Path(project): Path<String>,
    Query(query): Query<MetricsQuery>,
) -> Result<Json<Metrics>, AppError> {
    let window = query.window.unwrap_or_else(|| "5m".into());
    let Some((_, window_ms)) = metrics::window(&window) else {
        let names: Vec<&str> = metrics::WINDOWS.iter().map(|(n, _)| *n).collect();
        return Err(AppError::bad_request(
            "invalid_window",
            format!("unknown window `{window}`: use one of {}", names.join(", ")),
        ));
    };
    let id = project_id(&state, &project).await?;
    let points = metrics::chart(&state.db, id, window_ms).await?;
    Ok(Json(Metrics {
        project,
        window,
        points,
    }))
}

pub mod alarms;
pub mod events;

/// `GET /metrics`: the server's own metrics in the Prometheus / OpenMetrics
/// text format ([`crate::telemetry`]).
#[utoipa::path(get, path = "/metrics", tag = "server", operation_id = "prometheus",
    summary = "The server's own metrics for Prometheus (OpenMetrics text)",
    responses((status = 200, description = "The metrics",
        content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8",
        body = String)))]
pub async fn prometheus(
    State(state): State<AppState>,
) -> Result<axum::response::Response, AppError> {
    use axum::response::IntoResponse;
    let readings = crate::telemetry::Readings {
        writer_queue: state.writer.queued(),
        websockets: state
            .live_sockets
            .load(std::sync::atomic::Ordering::Relaxed),
        event_streams: state.changes.streams(),
        apps: crate::store::instances::count_by_status(&state.db).await?,
    };
    let text = crate::telemetry::encode(&readings).map_err(|e| {
        AppError::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "metrics_error",
            e.to_string(),
        )
    })?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response())
}
