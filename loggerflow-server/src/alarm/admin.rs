//! Managing alarms: what the JSON API (`api::alarms`) and the dashboard's
//! alarm forms (`web::alarms`) both do, checked once here.

use axum::http::StatusCode;
use sea_orm::DatabaseConnection;
use serde::Deserialize;

use super::{AlarmMessage, Fields, Links, Outbound, Registry, TRIGGERS};
use crate::error::AppError;
use crate::store::{alarm_events, alarms, projects};

/// Checks and stores an alarm; its fields with secrets masked.
pub async fn create(
    db: &DatabaseConnection,
    registry: &Registry,
    outbound: &Outbound,
    kind: &str,
    name: &str,
    fields: &Fields,
) -> Result<Fields, AppError> {
    let spec = registry.get(kind).ok_or_else(|| {
        let known: Vec<&str> = registry.kinds().iter().map(|k| k.name).collect();
        AppError::bad_request(
            "unknown_kind",
            format!("no alarm kind `{kind}`: use one of {}", known.join(", ")),
        )
    })?;
    crate::names::alarm(name)?;
    spec.build(fields, outbound)
        .map_err(|e| AppError::bad_request("invalid_alarm", e))?;
    let stored = serde_json::to_string(fields).unwrap_or_default();
    if !alarms::create(db, name, kind, &stored).await? {
        return Err(AppError::new(
            StatusCode::CONFLICT,
            "alarm_exists",
            format!("an alarm named `{name}` exists"),
        ));
    }
    Ok(spec.masked(fields))
}

/// The id of the alarm `name`, or a 404.
async fn id(db: &DatabaseConnection, name: &str) -> Result<i64, AppError> {
    alarms::id(db, name)
        .await?
        .ok_or_else(|| AppError::not_found(format!("no alarm named `{name}`")))
}

/// Deletes an alarm and its connections.
pub async fn delete(db: &DatabaseConnection, name: &str) -> Result<(), AppError> {
    let id = id(db, name).await?;
    alarms::delete(db, id).await?;
    Ok(())
}

/// Sends a test message through an alarm (linking to the alarms page):
/// how it went.
pub async fn check(
    db: &DatabaseConnection,
    registry: &Registry,
    outbound: &Outbound,
    links: &Links,
    name: &str,
) -> Result<Result<(), String>, AppError> {
    let id = id(db, name).await?;
    let message = AlarmMessage {
        project: "LoggerFlow".into(),
        trigger: "check".into(),
        message: format!("a test message from alarm `{name}`"),
        time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        link: links.alarms(),
        trace: None,
    };
    Ok(super::dispatch::send(
        db,
        registry,
        outbound,
        id,
        message,
        super::dispatch::MAX_SEND,
    )
    .await)
}

/// What connects an alarm to a project (the body of
/// `POST /api/v1/projects/{project}/alarms`, or the dashboard's form).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct Connect {
    /// The alarm's name.
    pub alarm: String,
    /// The triggers (`TRIGGERS`): `offline`, `online`, `stopped`, `new_error`,
    /// `regression`, `every_nth`, `cpu_high`, `memory_high`.
    pub triggers: Vec<String>,
    /// N of `every_nth`.
    #[serde(default)]
    pub every_nth: i64,
    /// `cpu_high`: process CPU % above this…
    pub cpu_above: Option<f64>,
    /// `memory_high`: process memory above this many bytes…
    pub memory_above_bytes: Option<i64>,
    /// …for this many seconds (default 300).
    pub for_seconds: Option<i64>,
    /// Only events from these environments (`new_error` in `staging`…);
    /// none or empty: every environment.
    #[serde(default)]
    pub environments: Vec<String>,
}

/// Attaches an alarm to a project (created when new).
pub async fn connect(
    db: &DatabaseConnection,
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
    if body.environments.len() > 32 {
        return Err(AppError::bad_request(
            "invalid_environment",
            "at most 32 environments per connection",
        ));
    }
    let mut environments: Vec<String> = Vec::new();
    for given in &body.environments {
        let environment = crate::store::releases::environment(Some(given));
        if environment != given.trim() {
            return Err(AppError::bad_request(
                "invalid_environment",
                format!(
                    "`{}` is not an environment name (printable, at most {} characters)",
                    crate::names::bounded(given, 64),
                    crate::store::releases::MAX_ENVIRONMENT_CHARS
                ),
            ));
        }
        if !environments.contains(&environment) {
            environments.push(environment);
        }
    }
    let for_seconds = body.for_seconds.unwrap_or(300).clamp(1, 604_800);
    let alarm = id(db, &body.alarm).await?;
    let project_id = projects::ensure(db, project)
        .await?
        .ok_or_else(|| AppError::not_found(format!("no project named `{project}`")))?;
    alarms::connect(
        db,
        &alarms::Connection {
            project: project_id,
            alarm,
            triggers: serde_json::to_string(&body.triggers).unwrap_or_default(),
            every_nth: body.every_nth,
            cpu_above: body.cpu_above,
            memory_above_bytes: body.memory_above_bytes,
            for_seconds,
            environments: (!environments.is_empty())
                .then(|| serde_json::to_string(&environments).unwrap_or_default()),
        },
    )
    .await?;
    Ok(())
}

/// Deletes finished history entries (of one project, or all with `""`);
/// returns how many.
pub async fn clear_history(db: &DatabaseConnection, project: &str) -> Result<u64, AppError> {
    Ok(alarm_events::clear(db, project).await?)
}
