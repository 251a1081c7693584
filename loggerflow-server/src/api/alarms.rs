//! The alarm API: kinds, alarms, project connections, history.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use sea_orm::{ConnectionTrait, FromQueryResult};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::alarm::{self, AlarmMessage, Fields, TRIGGERS};
use crate::error::AppError;
use crate::router::AppState;
use crate::store::{now_ms, sql};

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

#[derive(FromQueryResult)]
struct AlarmRow {
    id: i64,
    name: String,
    kind: String,
    fields: String,
}

/// `GET /api/v1/alarms`: the alarms, secrets masked.
pub async fn list(State(state): State<AppState>) -> Result<Json<Value>, AppError> {
    let rows = AlarmRow::find_by_statement(sql(
        state.db.get_database_backend(),
        "SELECT id, name, kind, fields FROM alarms ORDER BY name",
        [],
    ))
    .all(&state.db)
    .await
    .map_err(crate::store::StoreError::from)?;
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
    let masked = create_alarm(&state, &body.kind, &body.name, &body.fields).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "name": body.name, "kind": body.kind, "fields": masked })),
    ))
}

/// Checks and stores an alarm; its fields with secrets masked.
pub(crate) async fn create_alarm(
    state: &AppState,
    kind: &str,
    name: &str,
    fields: &Fields,
) -> Result<Fields, AppError> {
    let spec = state.config.alarms.get(kind).ok_or_else(|| {
        let known: Vec<&str> = state.config.alarms.kinds().iter().map(|k| k.name).collect();
        AppError::bad_request(
            "unknown_kind",
            format!("no alarm kind `{kind}`: use one of {}", known.join(", ")),
        )
    })?;
    crate::names::alarm(name)?;
    spec.build(fields, &state.outbound)
        .map_err(|e| AppError::bad_request("invalid_alarm", e))?;
    let stored = serde_json::to_string(fields).unwrap_or_default();
    let inserted = state
        .db
        .execute_raw(sql(
            state.db.get_database_backend(),
            "INSERT INTO alarms (name, kind, fields, created_ms) VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING",
            [name.into(), kind.into(), stored.into(), now_ms().into()],
        ))
        .await
        .map_err(crate::store::StoreError::from)?;
    if inserted.rows_affected() == 0 {
        return Err(AppError::new(
            StatusCode::CONFLICT,
            "alarm_exists",
            format!("an alarm named `{name}` exists"),
        ));
    }
    Ok(spec.masked(fields))
}

async fn alarm_id(state: &AppState, name: &str) -> Result<i64, AppError> {
    #[derive(FromQueryResult)]
    struct Id {
        id: i64,
    }
    Id::find_by_statement(sql(
        state.db.get_database_backend(),
        "SELECT id FROM alarms WHERE name = $1",
        [name.into()],
    ))
    .one(&state.db)
    .await
    .map_err(crate::store::StoreError::from)?
    .map(|r| r.id)
    .ok_or_else(|| AppError::not_found(format!("no alarm named `{name}`")))
}

/// `DELETE /api/v1/alarms/{name}` (and its connections).
pub async fn delete(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<StatusCode, AppError> {
    delete_alarm(&state, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes an alarm and its connections.
pub(crate) async fn delete_alarm(state: &AppState, name: &str) -> Result<(), AppError> {
    let id = alarm_id(state, name).await?;
    let backend = state.db.get_database_backend();
    for statement in [
        "DELETE FROM alarm_connections WHERE alarm_id = $1",
        "DELETE FROM alarms WHERE id = $1",
    ] {
        state
            .db
            .execute_raw(sql(backend, statement, [id.into()]))
            .await
            .map_err(crate::store::StoreError::from)?;
    }
    Ok(())
}

/// `POST /api/v1/alarms/{name}/check`: sends a test message, says how it went.
pub async fn check(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, AppError> {
    match check_alarm(&state, &name).await? {
        Ok(()) => Ok(Json(json!({ "ok": true }))),
        Err(error) => Ok(Json(json!({ "ok": false, "error": error }))),
    }
}

/// Sends a test message through an alarm.
pub(crate) async fn check_alarm(
    state: &AppState,
    name: &str,
) -> Result<Result<(), String>, AppError> {
    let id = alarm_id(state, name).await?;
    let message = AlarmMessage {
        project: "LoggerFlow".into(),
        trigger: "check".into(),
        message: format!("a test message from alarm `{name}`"),
        time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    };
    Ok(alarm::dispatch::send(
        &state.db,
        &state.config.alarms,
        &state.outbound,
        id,
        message,
        alarm::dispatch::MAX_SEND,
    )
    .await)
}

/// Body of `POST /api/v1/projects/{project}/alarms`.
#[derive(Deserialize)]
pub struct Connect {
    pub(crate) alarm: String,
    pub(crate) triggers: Vec<String>,
    #[serde(default)]
    pub(crate) every_nth: i64,
    /// `cpu_high`: process CPU % above this…
    pub(crate) cpu_above: Option<f64>,
    /// `memory_high`: process memory above this many bytes…
    pub(crate) memory_above_bytes: Option<i64>,
    /// …for this many seconds (default 300).
    pub(crate) for_seconds: Option<i64>,
}

/// `POST /api/v1/projects/{project}/alarms` `{"alarm", "triggers", "every_nth"}`:
/// attaches an alarm to a project (the project is created if it is new).
pub async fn connect(
    State(state): State<AppState>,
    Path(project): Path<String>,
    Json(body): Json<Connect>,
) -> Result<Json<Value>, AppError> {
    connect_alarm(&state, &project, &body).await?;
    Ok(Json(
        json!({ "project": project, "alarm": body.alarm, "triggers": body.triggers, "every_nth": body.every_nth }),
    ))
}

/// Attaches an alarm to a project (created when new).
pub(crate) async fn connect_alarm(
    state: &AppState,
    project: &str,
    body: &Connect,
) -> Result<(), AppError> {
    if let Some(bad) = body
        .triggers
        .iter()
        .find(|t| !TRIGGERS.contains(&t.as_str()))
    {
        return Err(AppError::bad_request(
            "invalid_trigger",
            format!("unknown trigger `{bad}`: use {}", TRIGGERS.join(", ")),
        ));
    }
    if body.triggers.iter().any(|t| t == "every_nth") && body.every_nth < 1 {
        return Err(AppError::bad_request(
            "invalid_trigger",
            "`every_nth` needs `\"every_nth\": N` with N ≥ 1",
        ));
    }
    let wants = |t: &str| body.triggers.iter().any(|x| x == t);
    if wants("cpu_high") != body.cpu_above.is_some()
        || wants("memory_high") != body.memory_above_bytes.is_some()
    {
        return Err(AppError::bad_request(
            "invalid_trigger",
            "`cpu_high` goes with `cpu_above` (%), `memory_high` with `memory_above_bytes`",
        ));
    }
    crate::names::project(project)?;
    let for_seconds = body.for_seconds.unwrap_or(300).clamp(1, 604_800);
    let alarm = alarm_id(state, &body.alarm).await?;
    let backend = state.db.get_database_backend();
    let store = |e: sea_orm::DbErr| AppError::from(crate::store::StoreError::from(e));
    state
        .db
        .execute_raw(sql(
            backend,
            "INSERT INTO projects (name, created_ms, hidden) VALUES ($1, $2, FALSE) ON CONFLICT (name) DO NOTHING",
            [project.into(), now_ms().into()],
        ))
        .await
        .map_err(store)?;
    let id = crate::store::queries::project_id(&state.db, project)
        .await?
        .ok_or_else(|| AppError::not_found(format!("no project named `{project}`")))?;
    let triggers = serde_json::to_string(&body.triggers).unwrap_or_default();
    state
        .db
        .execute_raw(sql(
            backend,
            "INSERT INTO alarm_connections (project_id, alarm_id, triggers, every_nth, cpu_above, memory_above_bytes, \
             for_seconds, cpu_hot, memory_hot) VALUES ($1, $2, $3, $4, $5, $6, $7, FALSE, FALSE) \
             ON CONFLICT (project_id, alarm_id) DO UPDATE SET triggers = excluded.triggers, every_nth = excluded.every_nth, \
             cpu_above = excluded.cpu_above, memory_above_bytes = excluded.memory_above_bytes, \
             for_seconds = excluded.for_seconds, cpu_hot = FALSE, memory_hot = FALSE",
            [
                id.into(),
                alarm.into(),
                triggers.into(),
                body.every_nth.into(),
                body.cpu_above.into(),
                body.memory_above_bytes.into(),
                for_seconds.into(),
            ],
        ))
        .await
        .map_err(store)?;
    Ok(())
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
    let rows = crate::store::queries::alarm_events(
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
    let deleted = clear_events(&state, query.project.as_deref().unwrap_or("")).await?;
    Ok(Json(json!({ "deleted": deleted })))
}

/// Deletes finished history entries (of one project, or all with `""`).
pub(crate) async fn clear_events(state: &AppState, project: &str) -> Result<u64, AppError> {
    let result = state
        .db
        .execute_raw(sql(
            state.db.get_database_backend(),
            "DELETE FROM alarm_events WHERE status NOT IN ('pending', 'sending', 'digested') \
             AND ($1 = '' OR project_id IN (SELECT id FROM projects WHERE name = $1))",
            [project.into()],
        ))
        .await
        .map_err(crate::store::StoreError::from)?;
    Ok(result.rows_affected())
}
