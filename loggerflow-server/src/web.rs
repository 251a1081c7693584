//! The dashboard's routes: the server reads its store, fills the UI's page
//! models and returns the pages `loggerflow-ui` renders.

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use loggerflow_layer::{Report, TraceMode};
use loggerflow_ui::model::{
    ErrorsPage, FrameRow, GroupRow, MetricPoint, MetricsPage, ProjectRow, ProjectsPage, ReportPage,
    TraceLine,
};
use sea_orm::FromQueryResult;
use serde::Deserialize;

use crate::error::AppError;
use crate::router::AppState;
use crate::store::{StoreError, now_ms, queries, sql};

/// `GET /assets/style.css`.
pub async fn style() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        loggerflow_ui::STYLE,
    )
        .into_response()
}

/// `GET /`: the projects.
pub async fn projects(State(state): State<AppState>) -> Result<Html<String>, AppError> {
    let projects = queries::projects(&state.db).await?;
    let rows = projects
        .into_iter()
        .filter(|p| !p.hidden)
        .map(|p| {
            let newest = p
                .instances
                .iter()
                .find(|i| i.status == p.status)
                .or(p.instances.first());
            ProjectRow {
                status_since_ms: newest.map(|i| i.status_since_ms),
                cpu_percent: newest.and_then(|i| i.cpu_percent),
                process_memory_bytes: newest.and_then(|i| i.process_memory_bytes),
                memory_used_bytes: newest.and_then(|i| i.memory_used_bytes),
                memory_total_bytes: newest.and_then(|i| i.memory_total_bytes),
                name: p.name,
                status: p.status,
                error_count: p.error_count,
                last_error: p.last_error,
                heartbeat_s: p.heartbeat_s,
                last_heartbeat_ms: p.last_heartbeat_ms,
                implementation: p.implementation,
            }
        })
        .collect();
    Ok(Html(loggerflow_ui::pages::projects(ProjectsPage {
        projects: rows,
        now_ms: now_ms(),
    })))
}

async fn project_id(state: &AppState, name: &str) -> Result<i64, AppError> {
    queries::project_id(&state.db, name)
        .await?
        .ok_or_else(|| AppError::not_found(format!("no project named `{name}`")))
}

/// Query of the errors page.
#[derive(Deserialize)]
pub struct ErrorsQuery {
    state: Option<String>,
    q: Option<String>,
}

#[derive(FromQueryResult)]
struct HourCount {
    group_id: i64,
    hour: i64,
    n: i64,
}

#[derive(FromQueryResult)]
struct Newest {
    group_id: i64,
    id: String,
}

/// `GET /projects/{project}`: the error groups.
pub async fn errors(
    State(state): State<AppState>,
    Path(project): Path<String>,
    Query(query): Query<ErrorsQuery>,
) -> Result<Html<String>, AppError> {
    let id = project_id(&state, &project).await?;
    let filter = query
        .state
        .filter(|s| matches!(s.as_str(), "open" | "resolved" | "ignored"));
    let search = query.q.unwrap_or_default();
    let needle = search.to_lowercase();
    let groups = queries::groups(&state.db, id, filter.as_deref()).await?;
    let now = now_ms();
    let since = now - 24 * 3_600_000;
    let backend = state.db.get_database_backend();
    let hours = HourCount::find_by_statement(sql(
        backend,
        "SELECT group_id, (ts_ms - $2) / 3600000 AS hour, COUNT(*) AS n FROM reports \
         WHERE project_id = $1 AND ts_ms >= $2 GROUP BY group_id, (ts_ms - $2) / 3600000",
        [id.into(), since.into()],
    ))
    .all(&state.db)
    .await
    .map_err(StoreError::from)?;
    let newest: HashMap<i64, String> = Newest::find_by_statement(sql(
        backend,
        "SELECT group_id, MAX(id) AS id FROM reports WHERE project_id = $1 GROUP BY group_id",
        [id.into()],
    ))
    .all(&state.db)
    .await
    .map_err(StoreError::from)?
    .into_iter()
    .map(|n| (n.group_id, n.id))
    .collect();
    let rows = groups
        .into_iter()
        .filter(|g| needle.is_empty() || g.title.to_lowercase().contains(&needle))
        .map(|g| {
            let mut last_24h = vec![0u32; 24];
            for h in hours.iter().filter(|h| h.group_id == g.id) {
                if let Some(slot) = usize::try_from(h.hour)
                    .ok()
                    .and_then(|i| last_24h.get_mut(i))
                {
                    *slot = u32::try_from(h.n).unwrap_or(u32::MAX);
                }
            }
            GroupRow {
                newest_report: newest.get(&g.id).cloned(),
                id: g.id,
                title: g.title,
                count: g.count,
                first_seen_ms: g.first_seen_ms,
                last_seen_ms: g.last_seen_ms,
                state: g.state,
                regressed: g.regressed,
                last_24h,
            }
        })
        .collect();
    Ok(Html(loggerflow_ui::pages::errors(ErrorsPage {
        project,
        groups: rows,
        state: filter,
        search,
        now_ms: now,
    })))
}

/// The form of the resolve / ignore / reopen buttons.
#[derive(Deserialize)]
pub struct StateForm {
    state: String,
}

/// `POST /projects/{project}/errors/{group}/state` (a plain form): back to the errors.
pub async fn set_state(
    State(state): State<AppState>,
    Path((project, group)): Path<(String, i64)>,
    Form(form): Form<StateForm>,
) -> Result<Redirect, AppError> {
    if !matches!(form.state.as_str(), "open" | "resolved" | "ignored") {
        return Err(AppError::bad_request(
            "invalid_state",
            "use open, resolved or ignored",
        ));
    }
    let id = project_id(&state, &project).await?;
    if !queries::set_group_state(&state.db, id, group, &form.state).await? {
        return Err(AppError::not_found(format!("no group {group}")));
    }
    Ok(Redirect::to(&format!(
        "/projects/{}",
        loggerflow_ui::pages::segment(&project)
    )))
}

/// Query of the report page.
#[derive(Deserialize)]
pub struct ReportQuery {
    mode: Option<String>,
}

#[derive(FromQueryResult)]
struct Stored {
    ts_ms: i64,
    group_id: i64,
    payload: String,
}

#[derive(FromQueryResult)]
struct Neighbour {
    id: String,
}

/// `GET /projects/{project}/reports/{id}`.
pub async fn report(
    State(state): State<AppState>,
    Path((project, report_id)): Path<(String, String)>,
    Query(query): Query<ReportQuery>,
) -> Result<Response, AppError> {
    let id = project_id(&state, &project).await?;
    let backend = state.db.get_database_backend();
    let stored = Stored::find_by_statement(sql(
        backend,
        "SELECT ts_ms, group_id, payload FROM reports WHERE project_id = $1 AND id = $2",
        [id.into(), report_id.clone().into()],
    ))
    .one(&state.db)
    .await
    .map_err(StoreError::from)?
    .ok_or_else(|| AppError::not_found(format!("no report {report_id}")))?;
    let report: Report = serde_json::from_str(&stored.payload).map_err(|e| {
        AppError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "storage_error",
            e.to_string(),
        )
    })?;
    let mode: TraceMode = query
        .mode
        .as_deref()
        .unwrap_or("clean")
        .parse()
        .unwrap_or(TraceMode::Clean);
    let neighbour = |older: bool| {
        let (cmp, order) = if older { ("<", "DESC") } else { (">", "ASC") };
        sql(
            backend,
            &format!(
                "SELECT id FROM reports WHERE group_id = $1 AND (ts_ms {cmp} $2 OR (ts_ms = $2 AND id {cmp} $3)) \
                 ORDER BY ts_ms {order}, id {order} LIMIT 1"
            ),
            [
                stored.group_id.into(),
                stored.ts_ms.into(),
                report_id.clone().into(),
            ],
        )
    };
    let older = Neighbour::find_by_statement(neighbour(true))
        .one(&state.db)
        .await
        .map_err(StoreError::from)?;
    let newer = Neighbour::find_by_statement(neighbour(false))
        .one(&state.db)
        .await
        .map_err(StoreError::from)?;
    let page = report_page(
        project,
        report,
        mode,
        stored.group_id,
        older.map(|n| n.id),
        newer.map(|n| n.id),
    );
    Ok(Html(loggerflow_ui::pages::report(page)).into_response())
}

fn report_page(
    project: String,
    report: Report,
    mode: TraceMode,
    group_id: i64,
    older: Option<String>,
    newer: Option<String>,
) -> ReportPage {
    let clean = mode == TraceMode::Clean && report.frames.iter().any(|f| f.yours);
    let mut trace = Vec::new();
    let mut hidden = 0usize;
    for (index, frame) in report.frames.iter().enumerate() {
        if clean && !frame.yours {
            hidden += 1;
            continue;
        }
        if hidden > 0 {
            trace.push(TraceLine::Hidden(hidden));
            hidden = 0;
        }
        trace.push(TraceLine::Frame(FrameRow {
            index,
            function: frame.function.clone(),
            location: frame.file.as_ref().map(|f| match frame.line {
                Some(l) => format!("{f}:{l}"),
                None => f.clone(),
            }),
            yours: frame.yours,
        }));
    }
    if hidden > 0 {
        trace.push(TraceLine::Hidden(hidden));
    }
    let mode_name = match mode {
        TraceMode::Full => "full",
        TraceMode::Clean => "clean",
        TraceMode::Minimal => "minimal",
    };
    ReportPage {
        project,
        id: report.id.to_string(),
        title: report.title(),
        minimal: loggerflow_layer::trace::render::render(&report, TraceMode::Minimal),
        mode: mode_name.into(),
        level: report.level.to_string(),
        kind: format!("{:?}", report.kind).to_lowercase(),
        time: report
            .timestamp
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        thread: report.thread.clone(),
        host: report.host.clone(),
        release: report.release.clone(),
        location: report.file.as_ref().map(|f| match report.line {
            Some(l) => format!("{f}:{l}"),
            None => f.clone(),
        }),
        causes: report
            .error
            .as_ref()
            .map(|e| {
                let mut c = vec![format!("{}: {}", e.type_name, e.message)];
                c.extend(e.sources.iter().cloned());
                c
            })
            .unwrap_or_default(),
        fields: report
            .fields
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| v.to_string()),
                )
            })
            .collect(),
        spans: report
            .spans
            .iter()
            .map(|s| {
                let at = s
                    .file
                    .as_ref()
                    .map(|f| format!(" at {f}:{}", s.line.unwrap_or(0)))
                    .unwrap_or_default();
                if s.fields.is_empty() {
                    format!("{}::{}{at}", s.target, s.name)
                } else {
                    format!("{}::{} with {}{at}", s.target, s.name, s.fields)
                }
            })
            .collect(),
        message: report.message,
        trace,
        group_id,
        older,
        newer,
    }
}

/// `GET /projects/{project}/metrics?window=`.
pub async fn metrics(
    State(state): State<AppState>,
    Path(project): Path<String>,
    Query(query): Query<crate::api::MetricsQuery>,
) -> Result<Html<String>, AppError> {
    let id = project_id(&state, &project).await?;
    let window = query.window.unwrap_or_else(|| "5m".into());
    let (window, window_ms) = queries::window(&window).unwrap_or(("5m", 300_000));
    let points = queries::metrics(&state.db, id, window_ms)
        .await?
        .into_iter()
        .map(|p| MetricPoint {
            ts_ms: p.ts_ms,
            cpu_percent: p.cpu_percent,
            process_cpu_percent: p.process_cpu_percent,
            process_memory_bytes: p.process_memory_bytes,
            memory_used_bytes: p.memory_used_bytes,
            memory_total_bytes: p.memory_total_bytes,
        })
        .collect();
    Ok(Html(loggerflow_ui::pages::metrics(MetricsPage {
        project,
        window: window.into(),
        windows: queries::WINDOWS
            .iter()
            .map(|(n, _)| (*n).to_owned())
            .collect(),
        points,
    })))
}

/// Query of the alarms page.
#[derive(Deserialize)]
pub struct AlarmsQuery {
    kind: Option<String>,
    notice: Option<String>,
    project: Option<String>,
}

/// `GET /alarms?kind=&notice=`: the alarms, the forms to add and connect
/// them (built from each kind's fields), and the history.
pub async fn alarms(
    State(state): State<AppState>,
    Query(query): Query<AlarmsQuery>,
) -> Result<Html<String>, AppError> {
    let mut rows: Vec<loggerflow_ui::model::AlarmRow> = Vec::new();
    for c in queries::alarm_connections(&state.db).await? {
        let connection = match (c.project, c.triggers) {
            (Some(p), Some(t)) => format!("{p}: {}", t.trim_matches(['[', ']']).replace('"', "")),
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
    let events = queries::alarm_events(&state.db, &history_project, "", 200)
        .await?
        .into_iter()
        .map(|e| loggerflow_ui::model::EventRow {
            time: chrono::DateTime::from_timestamp_millis(e.created_ms)
                .unwrap_or_default()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            project: e.project,
            alarm: e.alarm,
            trigger: e.trigger,
            message: e.message,
            status: e.status,
            error: e.error,
        })
        .collect();
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
                })
                .collect(),
        })
        .collect();
    let kind = query
        .kind
        .filter(|k| kinds.iter().any(|f| &f.kind == k))
        .or_else(|| kinds.first().map(|k| k.kind.clone()))
        .unwrap_or_default();
    let projects = queries::projects(&state.db)
        .await?
        .into_iter()
        .map(|p| p.name)
        .collect();
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
    )))
}

/// Back to the alarms page with a notice.
fn back(notice: &str, kind: Option<&str>) -> Redirect {
    let mut url = format!("/alarms?notice={}", loggerflow_ui::pages::segment(notice));
    if let Some(kind) = kind {
        url.push_str(&format!("&kind={}", loggerflow_ui::pages::segment(kind)));
    }
    Redirect::to(&url)
}

fn form_value<'a>(form: &'a [(String, String)], key: &str) -> Option<&'a str> {
    form.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// `POST /alarms/new` (a plain form): adds an alarm.
pub async fn add_alarm(
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
    match crate::api::alarms::create_alarm(&state, &kind, &name, &fields).await {
        Ok(_) => back(&format!("alarm `{name}` added"), Some(&kind)),
        Err(e) => back(e.message(), Some(&kind)),
    }
}

/// `POST /alarms/connect` (a plain form): attaches an alarm to a project.
pub async fn connect_alarm(
    State(state): State<AppState>,
    Form(form): Form<Vec<(String, String)>>,
) -> Redirect {
    let number = |key: &str| {
        form_value(&form, key)
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let body = crate::api::alarms::Connect {
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
    };
    let project = form_value(&form, "project").unwrap_or_default().to_owned();
    match crate::api::alarms::connect_alarm(&state, &project, &body).await {
        Ok(()) => back(&format!("`{}` connected to `{project}`", body.alarm), None),
        Err(e) => back(e.message(), None),
    }
}

/// `POST /alarms/{name}/check`: sends a test message.
pub async fn check_alarm(State(state): State<AppState>, Path(name): Path<String>) -> Redirect {
    match crate::api::alarms::check_alarm(&state, &name).await {
        Ok(Ok(())) => back(&format!("check of `{name}`: sent"), None),
        Ok(Err(e)) => back(&format!("check of `{name}` failed: {e}"), None),
        Err(e) => back(e.message(), None),
    }
}

/// `POST /alarms/{name}/delete`.
pub async fn delete_alarm(State(state): State<AppState>, Path(name): Path<String>) -> Redirect {
    match crate::api::alarms::delete_alarm(&state, &name).await {
        Ok(()) => back(&format!("alarm `{name}` deleted"), None),
        Err(e) => back(e.message(), None),
    }
}

/// `POST /alarms/clear`: clears the history.
pub async fn clear_history(State(state): State<AppState>) -> Redirect {
    match crate::api::alarms::clear_events(&state, "").await {
        Ok(n) => back(&format!("{n} history entries cleared"), None),
        Err(e) => back(e.message(), None),
    }
}
