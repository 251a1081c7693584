//! The alarm API: kinds, alarms, project connections, history. The checks
//! and the storage are `alarm::admin`'s, shared with the dashboard's forms.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::openapi::{self, ApiError};
use crate::alarm::admin::{self, Connect};
use crate::alarm::{FieldSpec, Fields};
use crate::error::AppError;
use crate::router::AppState;
use crate::store::alarm_events::AlarmEventView;
use crate::store::{alarm_events, alarms};

/// An alarm kind and the fields its form needs.
#[derive(Serialize, ToSchema)]
pub struct KindView {
    /// Its name (`telegram`, `discord`, `file`, `webhook`, …).
    pub kind: &'static str,
    /// Its fields.
    pub fields: Vec<FieldSpec>,
}

/// The answer of `GET /api/v1/alarm-kinds`.
#[derive(Serialize, ToSchema)]
pub struct Kinds {
    /// Every kind.
    pub kinds: Vec<KindView>,
}

/// `GET /api/v1/alarm-kinds`: every kind with the fields its form needs.
#[utoipa::path(get, path = "/api/v1/alarm-kinds", tag = "alarms", operation_id = "alarm_kinds",
    summary = "Every alarm kind with its fields (which are required, which secret)",
    responses((status = 200, description = "The kinds", body = Kinds)))]
pub async fn kinds(State(state): State<AppState>) -> Json<Kinds> {
    let kinds = state
        .config
        .alarms
        .kinds()
        .iter()
        .map(|k| KindView {
            kind: k.name,
            fields: k.fields.clone(),
        })
        .collect();
    Json(Kinds { kinds })
}

/// An alarm as the API shows it.
#[derive(Serialize, ToSchema)]
pub struct AlarmView {
    /// Its id.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// Its kind.
    pub kind: String,
    /// Its fields, secrets shown as `********`.
    #[schema(value_type = std::collections::BTreeMap<String, String>)]
    pub fields: Fields,
}

/// The answer of `GET /api/v1/alarms`.
#[derive(Serialize, ToSchema)]
pub struct Alarms {
    /// Every alarm.
    pub alarms: Vec<AlarmView>,
}

/// `GET /api/v1/alarms`: the alarms, secrets masked.
#[utoipa::path(get, path = "/api/v1/alarms", tag = "alarms", operation_id = "list_alarms",
    summary = "The alarms, secrets masked",
    responses((status = 200, description = "The alarms", body = Alarms)))]
pub async fn list(State(state): State<AppState>) -> Result<Json<Alarms>, AppError> {
    let rows = alarms::all(&state.db).await?;
    let alarms = rows
        .into_iter()
        .map(|row| {
            let fields: Fields = serde_json::from_str(&row.fields).unwrap_or_default();
            let shown = match state.config.alarms.get(&row.kind) {
                Some(kind) => kind.masked(&fields),
                None => Fields::new(),
            };
            AlarmView {
                id: row.id,
                name: row.name,
                kind: row.kind,
                fields: shown,
            }
        })
        .collect();
    Ok(Json(Alarms { alarms }))
}

/// Body of `POST /api/v1/alarms`.
#[derive(Deserialize, ToSchema)]
pub struct NewAlarm {
    /// Its kind (`GET /api/v1/alarm-kinds`).
    kind: String,
    /// Its name: letters, digits, `-`, `_`, `.` and spaces.
    name: String,
    /// The kind's fields by name.
    #[serde(default)]
    #[schema(value_type = std::collections::BTreeMap<String, String>)]
    fields: Fields,
}

/// The answer of `POST /api/v1/alarms`.
#[derive(Serialize, ToSchema)]
pub struct CreatedAlarm {
    /// Its name.
    pub name: String,
    /// Its kind.
    pub kind: String,
    /// Its fields, secrets shown as `********`.
    #[schema(value_type = std::collections::BTreeMap<String, String>)]
    pub fields: Fields,
}

/// `POST /api/v1/alarms` `{"kind", "name", "fields"}`.
#[utoipa::path(post, path = "/api/v1/alarms", tag = "alarms", operation_id = "create_alarm",
    summary = "Creates an alarm (its fields checked, its target refused if private)",
    request_body = NewAlarm,
    responses(
        (status = 201, description = "Created", body = CreatedAlarm),
        (status = 400, description = "`unknown_kind`, `invalid_name`, `invalid_alarm`",
            body = ApiError),
        (status = 409, description = "`alarm_exists`", body = ApiError)))]
pub async fn create(
    State(state): State<AppState>,
    Json(body): Json<NewAlarm>,
) -> Result<(StatusCode, Json<CreatedAlarm>), AppError> {
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
        Json(CreatedAlarm {
            name: body.name,
            kind: body.kind,
            fields: masked,
        }),
    ))
}

/// `DELETE /api/v1/alarms/{name}` (and its connections).
#[utoipa::path(delete, path = "/api/v1/alarms/{name}", tag = "alarms",
    operation_id = "delete_alarm",
    summary = "Deletes an alarm and its connections",
    params(openapi::AlarmName),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "`not_found`: no such alarm", body = ApiError)))]
pub async fn delete(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<StatusCode, AppError> {
    admin::delete(&state.db, &name).await?;
    state.changes.publish(crate::changes::Topic::Alarms, None);
    Ok(StatusCode::NO_CONTENT)
}

/// How a test message went.
#[derive(Serialize, ToSchema)]
pub struct Checked {
    /// Whether the target took it.
    pub ok: bool,
    /// Why not (only when `ok` is false).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `POST /api/v1/alarms/{name}/check`: sends a test message, says how it went.
#[utoipa::path(post, path = "/api/v1/alarms/{name}/check", tag = "alarms",
    operation_id = "check_alarm",
    summary = "Sends a test message through an alarm and says how it went",
    params(openapi::AlarmName),
    responses(
        (status = 200, body = Checked,
            description = "How it went (a failed delivery is `ok: false`, not an error)"),
        (status = 404, description = "`not_found`: no such alarm", body = ApiError)))]
pub async fn check(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Checked>, AppError> {
    let outcome = admin::check(
        &state.db,
        &state.config.alarms,
        &state.outbound,
        &state.config.links(),
        &name,
    )
    .await?;
    Ok(Json(Checked {
        ok: outcome.is_ok(),
        error: outcome.err(),
    }))
}

/// The answer of `POST /api/v1/projects/{project}/alarms`.
#[derive(Serialize, ToSchema)]
pub struct Connected {
    /// The project.
    pub project: String,
    /// The alarm.
    pub alarm: String,
    /// Its triggers for this project.
    pub triggers: Vec<String>,
    /// N of `every_nth` (0 without it).
    pub every_nth: i64,
}

/// `POST /api/v1/projects/{project}/alarms` `{"alarm", "triggers", "every_nth"}`:
/// attaches an alarm to a project (the project is created if it is new).
#[utoipa::path(post, path = "/api/v1/projects/{project}/alarms", tag = "alarms",
    operation_id = "connect_alarm",
    summary = "Connects an alarm to a project with its triggers (the project is created if new)",
    params(openapi::Project),
    request_body = Connect,
    responses(
        (status = 200, description = "Connected", body = Connected),
        (status = 400, description = "`invalid_trigger`, `invalid_name`", body = ApiError),
        (status = 404, description = "`not_found`: no such alarm", body = ApiError)))]
pub async fn connect(
    State(state): State<AppState>,
    Path(project): Path<String>,
    Json(body): Json<Connect>,
) -> Result<Json<Connected>, AppError> {
    admin::connect(&state.db, &project, &body).await?;
    // the project may be new: the projects table lists it
    state.changes.publish(crate::changes::Topic::Projects, None);
    Ok(Json(Connected {
        project,
        alarm: body.alarm,
        triggers: body.triggers,
        every_nth: body.every_nth,
    }))
}

/// Query of `GET /api/v1/alarm-events` (and `project` of `DELETE`).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Only this project's.
    project: Option<String>,
    /// Only this alarm's.
    alarm: Option<String>,
    /// At most this many (default 100).
    limit: Option<i64>,
}

/// The answer of `GET /api/v1/alarm-events`.
#[derive(Serialize, ToSchema)]
pub struct Events {
    /// The history, newest first.
    pub events: Vec<AlarmEventView>,
}

/// `GET /api/v1/alarm-events?project=&alarm=&limit=`: the alarm history, newest first.
#[utoipa::path(get, path = "/api/v1/alarm-events", tag = "alarms", operation_id = "alarm_events",
    summary = "The alarm history, newest first: sent, failed (with the error), digested, waiting",
    params(EventsQuery),
    responses((status = 200, description = "The history", body = Events)))]
pub async fn events(
    State(state): State<AppState>,
    Query(query): Query<EventsQuery>,
) -> Result<Json<Events>, AppError> {
    let rows = alarm_events::history(
        &state.db,
        query.project.as_deref().unwrap_or(""),
        query.alarm.as_deref().unwrap_or(""),
        query.limit.unwrap_or(100),
    )
    .await?;
    Ok(Json(Events { events: rows }))
}

/// The answer of `DELETE /api/v1/alarm-events`.
#[derive(Serialize, ToSchema)]
pub struct Cleared {
    /// How many entries were deleted.
    pub deleted: u64,
}

/// `DELETE /api/v1/alarm-events?project=`: clears the history (of one project).
#[utoipa::path(delete, path = "/api/v1/alarm-events", tag = "alarms",
    operation_id = "clear_alarm_events",
    summary = "Clears the finished alarm history (of one project, or all)",
    params(("project" = Option<String>, Query, description = "Only this project's")),
    responses((status = 200, description = "Cleared", body = Cleared)))]
pub async fn clear(
    State(state): State<AppState>,
    Query(query): Query<EventsQuery>,
) -> Result<Json<Cleared>, AppError> {
    let deleted = admin::clear_history(&state.db, query.project.as_deref().unwrap_or("")).await?;
    state.changes.publish(crate::changes::Topic::Alarms, None);
    Ok(Json(Cleared { deleted }))
}
