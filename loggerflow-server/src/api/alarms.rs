//! The alarm API: kinds, alarms, project connections, history. The checks
//! and the storage are `alarm::admin`'s, shared with the dashboard's forms.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::alarm::Fields;
use crate::alarm::admin::{self, Connect};
use crate::error::AppError;
use crate::router::AppState;
use crate::store::{alarm_events, alarms};

/// `GET /api/v1/alarm-kinds`: every kind with the fields its form needs.
pub async fn kinds(State(state): State<AppState>) -> Json<Value> {
    let kinds: Vec<Value> = state
        .config
        .alarms
        .kinds()
        .iter()
        .map(|k| json!({ "kind": k.name, "fields": k.fields }))
        .collect();
    Json(json!({ "kinds": kinds }))
}

/// `GET /api/v1/alarms`: the alarms, secrets masked.
pub async fn list(State(state): State<AppState>) -> Result<Json<Value>, AppError> {
    let rows = alarms::all(&state.db).await?;
    let alarms: Vec<Value> = rows
        .into_iter()
        .map(|row| {
            let fields: Fields = serde_json::from_str(&row.fields).unwrap_or_default();
            let shown = match state.config.alarms.get(&row.kind) {
                Some(kind) => kind.masked(&fields),
                None => Fields::new(),
            };
            json!({ "id": row.id, "name": row.name, "kind": row.kind, "fields": shown })
        })
        .collect();
    Ok(Json(json!({ "alarms": alarms })))
}

/// Body of `POST /api/v1/alarms`.
#[derive(Deserialize)]
pub struct NewAlarm {
    kind: String,
    name: String,
    #[serde(default)]
    fields: Fields,
}

/// `POST /api/v1/alarms` `{"kind", "name", "fields"}`.
pub async fn create(
    State(state): State<AppState>,
    Json(body): Json<NewAlarm>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let masked = admin::create(
        &state.db,
        &state.config.alarms,
        &state.outbound,
        &body.kind,
        &body.name,
        &body.fields,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "name": body.name, "kind": body.kind, "fields": masked })),
    ))
}

/// `DELETE /api/v1/alarms/{name}` (and its connections).
pub async fn delete(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<StatusCode, AppError> {
    admin::delete(&state.db, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/alarms/{name}/check`: sends a test message, says how it went.
pub async fn check(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, AppError> {
    match admin::check(
        &state.db,
        &state.config.alarms,
        &state.outbound,
        &state.config.links(),
        &name,
    )
    .await?
    {
        Ok(()) => Ok(Json(json!({ "ok": true }))),
        Err(error) => Ok(Json(json!({ "ok": false, "error": error }))),
    }
}

/// `POST /api/v1/projects/{project}/alarms` `{"alarm", "triggers", "every_nth"}`:
/// attaches an alarm to a project (the project is created if it is new).
pub async fn connect(
    State(state): State<AppState>,
    Path(project): Path<String>,
    Json(body): Json<Connect>,
) -> Result<Json<Value>, AppError> {
    admin::connect(&state.db, &project, &body).await?;
    Ok(Json(
        json!({ "project": project, "alarm": body.alarm, "triggers": body.triggers, "every_nth": body.every_nth }),
    ))
}

/// Query of `GET /api/v1/alarm-events`.
#[derive(Deserialize)]
pub struct EventsQuery {
    project: Option<String>,
    alarm: Option<String>,
    limit: Option<i64>,
}

/// `GET /api/v1/alarm-events?project=&alarm=&limit=`: the alarm history, newest first.
pub async fn events(
    State(state): State<AppState>,
    Query(query): Query<EventsQuery>,
) -> Result<Json<Value>, AppError> {
    let rows = alarm_events::history(
        &state.db,
        query.project.as_deref().unwrap_or(""),
        query.alarm.as_deref().unwrap_or(""),
        query.limit.unwrap_or(100),
    )
    .await?;
    Ok(Json(json!({ "events": rows })))
}

/// `DELETE /api/v1/alarm-events?project=`: clears the history (of one project).
pub async fn clear(
    State(state): State<AppState>,
    Query(query): Query<EventsQuery>,
) -> Result<Json<Value>, AppError> {
    let deleted = admin::clear_history(&state.db, query.project.as_deref().unwrap_or("")).await?;
    Ok(Json(json!({ "deleted": deleted })))
}
