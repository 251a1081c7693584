//! The JSON API the dashboard, scripts and tests read.

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::AppError;
use crate::router::AppState;
use crate::store::{groups, metrics, projects};

/// `GET /api/v1/health`: the server answers and its database too.
pub async fn health(State(state): State<AppState>) -> Result<Json<Value>, AppError> {
    let database = match state.db.ping().await {
        Ok(()) => "ok",
        Err(_) => "unavailable",
    };
    Ok(Json(json!({
        "status": "ok",
        "database": database,
        "version": env!("CARGO_PKG_VERSION"),
        "protocol": loggerflow_layer::protocol::PROTOCOL_VERSION,
    })))
}

/// `GET /api/v1/projects`.
pub async fn projects(State(state): State<AppState>) -> Result<Json<Value>, AppError> {
    let projects = projects::all(&state.db).await?;
    Ok(Json(json!({ "projects": projects })))
}

async fn project_id(state: &AppState, name: &str) -> Result<i64, AppError> {
    projects::id(&state.db, name)
        .await?
        .ok_or_else(|| AppError::not_found(format!("no project named `{name}`")))
}

/// Query of `GET /api/v1/projects/{project}/errors`.
#[derive(Deserialize)]
pub struct ErrorsQuery {
    state: Option<String>,
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

/// `GET /api/v1/projects/{project}/errors?state=`: the error groups.
pub async fn errors(
    State(state): State<AppState>,
    Path(project): Path<String>,
    Query(query): Query<ErrorsQuery>,
) -> Result<Json<Value>, AppError> {
    if let Some(s) = &query.state {
        check_state(s)?;
    }
    let id = project_id(&state, &project).await?;
    let groups = groups::of_project(&state.db, id, query.state.as_deref()).await?;
    Ok(Json(json!({ "project": project, "groups": groups })))
}

/// Body of `POST /api/v1/projects/{project}/errors/{group}/state`.
#[derive(Deserialize)]
pub struct StateBody {
    state: String,
}

/// `POST /api/v1/projects/{project}/errors/{group}/state` `{"state": "resolved"}`.
pub async fn set_state(
    State(state): State<AppState>,
    Path((project, group)): Path<(String, i64)>,
    Json(body): Json<StateBody>,
) -> Result<Json<Value>, AppError> {
    check_state(&body.state)?;
    let id = project_id(&state, &project).await?;
    if groups::set_state(&state.db, id, group, &body.state).await? {
        Ok(Json(json!({ "group": group, "state": body.state })))
    } else {
        Err(AppError::not_found(format!(
            "no group {group} in `{project}`"
        )))
    }
}

/// Query of `GET /api/v1/projects/{project}/reports`.
#[derive(Deserialize)]
pub struct ReportsQuery {
    group: Option<i64>,
    limit: Option<u64>,
    before: Option<String>,
}

/// `GET /api/v1/projects/{project}/reports?group=&limit=&before=`: newest first.
pub async fn reports(
    State(state): State<AppState>,
    Path(project): Path<String>,
    Query(query): Query<ReportsQuery>,
) -> Result<Json<Value>, AppError> {
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
    let reports = groups::reports(
        &state.db,
        id,
        query.group,
        query.limit.unwrap_or(50),
        before,
    )
    .await?;
    let next = reports.last().map(|r| r.cursor.clone());
    Ok(Json(
        json!({ "project": project, "reports": reports, "next": next }),
    ))
}

/// Query of `GET /api/v1/projects/{project}/metrics`.
#[derive(Deserialize)]
pub struct MetricsQuery {
    window: Option<String>,
}

/// `GET /api/v1/projects/{project}/metrics?window=5m`: bucketed averages.
pub async fn metrics(
    State(state): State<AppState>,
    Path(project): Path<String>,
    Query(query): Query<MetricsQuery>,
) -> Result<Json<Value>, AppError> {
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
    Ok(Json(
        json!({ "project": project, "window": window, "points": points }),
    ))
}

pub mod alarms;

/// `GET /metrics`: the server's own metrics in the Prometheus / OpenMetrics
/// text format ([`crate::telemetry`]).
pub async fn prometheus(
    State(state): State<AppState>,
) -> Result<axum::response::Response, AppError> {
    use axum::response::IntoResponse;
    let readings = crate::telemetry::Readings {
        writer_queue: state.writer.queued(),
        websockets: state
            .live_sockets
            .load(std::sync::atomic::Ordering::Relaxed),
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
