//! The alarms page: the alarms, the forms that add, connect, check and
//! delete them (through `alarm::admin`, as the JSON API does), and the
//! history.

use axum::Extension;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{Html, Redirect};
use loggerflow_ui::model::{EventRow, History, Visitor};
use serde::Deserialize;

use crate::alarm::admin;
use crate::error::AppError;
use crate::router::AppState;
use crate::store::{alarm_events, alarms, projects};

/// Query of the alarms page.
#[derive(Deserialize)]
pub struct AlarmsQuery {
    kind: Option<String>,
    notice: Option<String>,
    project: Option<String>,
}

/// `GET /alarms?kind=&notice=`: the alarms, the forms to add and connect
/// them (built from each kind's fields), and the history.
pub async fn page(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    Query(query): Query<AlarmsQuery>,
) -> Result<Html<String>, AppError> {
    let mut rows: Vec<loggerflow_ui::model::AlarmRow> = Vec::new();
    for c in alarms::connections(&state.db).await? {
        let list = |json: &str| -> String {
            serde_json::from_str::<Vec<String>>(json)
                .unwrap_or_default()
                .join(", ")
        };
        let connection = match (c.project, c.triggers) {
            (Some(p), Some(t)) => match c.environments.as_deref().map(list) {
                Some(environments) if !environments.is_empty() => {
                    format!("{p}: {} (in {environments})", list(&t))
                }
                _ => format!("{p}: {}", list(&t)),
            },
            _ => String::new(),
        };
        match rows.last_mut().filter(|r| r.name == c.name) {
            Some(row) => {
                row.projects.push_str("; ");
                row.projects.push_str(&connection);
            }
            None => {
                let fields: crate::alarm::Fields =
                    serde_json::from_str(&c.fields).unwrap_or_default();
                let shown = state
                    .config
                    .alarms
                    .get(&c.kind)
                    .map(|k| k.masked(&fields))
                    .unwrap_or_default();
                rows.push(loggerflow_ui::model::AlarmRow {
                    fields: shown
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    name: c.name,
                    kind: c.kind,
                    projects: connection,
                });
            }
        }
    }
    let history_project = query.project.clone().unwrap_or_default();
    let events = history_rows(&state, &history_project).await?;
    let kinds: Vec<loggerflow_ui::model::KindForm> = state
        .config
        .alarms
        .kinds()
        .iter()
        .map(|k| loggerflow_ui::model::KindForm {
            kind: k.name.into(),
            fields: k
                .fields
                .iter()
                .map(|f| loggerflow_ui::model::FormField {
                    name: f.name.into(),
                    label: f.label.into(),
                    secret: f.secret,
                    required: f.required,
                    choices: f.choices.iter().map(|c| (*c).to_owned()).collect(),
                    multiline: f.multiline,
                })
                .collect(),
        })
        .collect();
    let kind = query
        .kind
        .filter(|k| kinds.iter().any(|f| &f.kind == k))
        .or_else(|| kinds.first().map(|k| k.kind.clone()))
        .unwrap_or_default();
    let projects = projects::names(&state.db).await?;
    Ok(Html(loggerflow_ui::pages::alarms(
        loggerflow_ui::model::AlarmsPage {
            alarms: rows,
            events,
            kinds,
            kind,
            projects,
            triggers: crate::alarm::TRIGGERS
                .iter()
                .map(|t| (*t).to_owned())
                .collect(),
            notice: query.notice,
            history_project,
        },
        &visitor,
    )))
}

/// Query of `GET /api/v1/dashboard/alarm-events`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Only this project's alarms (none: all).
    project: Option<String>,
}

/// `GET /api/v1/dashboard/alarm-events?project=`: the alarm history as the
/// alarms page shows it, which its live table fetches when it changed.
#[utoipa::path(get, path = "/api/v1/dashboard/alarm-events", tag = "dashboard",
    operation_id = "dashboard_alarm_events",
    summary = "The alarm history as the alarms page shows it (what its live table fetches)",
    params(HistoryQuery),
    responses((status = 200, description = "The newest 200 events", body = History)))]
pub async fn history(
    State(state): State<AppState>,
    Query(query): Query<HistoryQuery>,
) -> Result<axum::response::Response, AppError> {
    let project = query.project.unwrap_or_default();
    let key = format!("history/{project}");
    let history = async {
        Ok(History {
            events: history_rows(&state, &project).await?,
        })
    };
    super::views::json(&state, key, history).await
}

/// The newest 200 events of the history (of `project`; empty: all).
async fn history_rows(state: &AppState, project: &str) -> Result<Vec<EventRow>, AppError> {
    Ok(alarm_events::history(&state.db, project, "", 200)
        .await?
        .into_iter()
        .map(|e| EventRow {
            time: chrono::DateTime::from_timestamp_millis(e.created_ms)
                .unwrap_or_default()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            project: e.project,
            alarm: e.alarm,
            trigger: e.trigger,
            message: e.message,
            status: e.status,
            error: e.error,
            taken_over_from: e.taken_over_from,
        })
        .collect())
}

/// Back to the alarms page with a notice.
fn back(notice: &str, kind: Option<&str>) -> Redirect {
    // a notice may quote what an alarm's target said: kept short in the URL
    let notice = crate::markup::cut(notice, 600);
    let mut url = format!("/alarms?notice={}", loggerflow_ui::pages::segment(&notice));
    if let Some(kind) = kind {
        url.push_str(&format!("&kind={}", loggerflow_ui::pages::segment(kind)));
    }
    Redirect::to(&url)
}

fn form_value<'a>(form: &'a [(String, String)], key: &str) -> Option<&'a str> {
    form.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// `POST /alarms/new` (a plain form): adds an alarm.
pub async fn add(
    State(state): State<AppState>,
    Form(form): Form<Vec<(String, String)>>,
) -> Redirect {
    let kind = form_value(&form, "kind").unwrap_or_default().to_owned();
    let name = form_value(&form, "name").unwrap_or_default().to_owned();
    let fields: crate::alarm::Fields = form
        .iter()
        .filter_map(|(k, v)| k.strip_prefix("field.").map(|k| (k.to_owned(), v.clone())))
        .filter(|(_, v)| !v.is_empty())
        .collect();
    match admin::create(
        &state.db,
        &state.config.alarms,
        &state.outbound,
        &kind,
        &name,
        &fields,
    )
    .await
    {
        Ok(_) => back(&format!("alarm `{name}` added"), Some(&kind)),
        Err(e) => back(e.message(), Some(&kind)),
    }
}

/// `POST /alarms/connect` (a plain form): attaches an alarm to a project.
pub async fn connect(
    State(state): State<AppState>,
    Form(form): Form<Vec<(String, String)>>,
) -> Redirect {
    let number = |key: &str| {
        form_value(&form, key)
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let body = admin::Connect {
        alarm: form_value(&form, "alarm").unwrap_or_default().to_owned(),
        triggers: form
            .iter()
            .filter(|(k, _)| k == "trigger")
            .map(|(_, v)| v.clone())
            .collect(),
        every_nth: number("every_nth")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
        cpu_above: number("cpu_above").and_then(|v| v.parse().ok()),
        memory_above_bytes: number("memory_above_mib")
            .and_then(|v| v.parse::<f64>().ok())
            .map(|mib| (mib * 1024.0 * 1024.0) as i64),
        for_seconds: number("for_seconds").and_then(|v| v.parse().ok()),
        environments: form_value(&form, "environments")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(str::to_owned)
            .collect(),
    };
    let project = form_value(&form, "project").unwrap_or_default().to_owned();
    match admin::connect(&state.db, &project, &body).await {
        Ok(()) => {
            // the project may be new: the projects table lists it
            state.changes.publish(crate::changes::Topic::Projects, None);
            back(&format!("`{}` connected to `{project}`", body.alarm), None)
        }
        Err(e) => back(e.message(), None),
    }
}

/// `POST /alarms/{name}/check`: sends a test message.
pub async fn check(State(state): State<AppState>, Path(name): Path<String>) -> Redirect {
    match admin::check(
        &state.db,
        &state.config.alarms,
        &state.outbound,
        &state.config.links(),
        &name,
    )
    .await
    {
        Ok(Ok(())) => back(&format!("check of `{name}`: sent"), None),
        Ok(Err(e)) => back(&format!("check of `{name}` failed: {e}"), None),
        Err(e) => back(e.message(), None),
    }
}

/// `POST /alarms/{name}/delete`.
pub async fn delete(State(state): State<AppState>, Path(name): Path<String>) -> Redirect {
    match admin::delete(&state.db, &name).await {
        Ok(()) => {
            // its history rows now name no alarm
            state.changes.publish(crate::changes::Topic::Alarms, None);
            back(&format!("alarm `{name}` deleted"), None)
        }
        Err(e) => back(e.message(), None),
    }
}

/// `POST /alarms/clear`: clears the history.
pub async fn clear_history(State(state): State<AppState>) -> Redirect {
    match admin::clear_history(&state.db, "").await {
        Ok(n) => {
            state.changes.publish(crate::changes::Topic::Alarms, None);
            back(&format!("{n} history entries cleared"), None)
        }
        Err(e) => back(e.message(), None),
    }
}
