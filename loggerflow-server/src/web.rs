//! The dashboard's routes: the server reads its store, fills the UI's page
//! models and returns the pages `loggerflow-ui` renders.

use axum::Extension;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use loggerflow_layer::{Report, TraceMode};
use loggerflow_ui::model::{
    ErrorsPage, FrameRow, GroupRow, HiddenPage, HiddenRow, InstanceRow, MetricPoint, MetricsPage,
    ProjectRow, ProjectsPage, ReportPage, SettingsPage, TraceLine, Traces, Visitor,
};
use sea_orm::FromQueryResult;
use serde::Deserialize;

use crate::error::AppError;
use crate::router::AppState;
use crate::store::{StoreError, now_ms, payload, queries, settings, sql};

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

/// The projects page's data (also what its live island polls).
pub async fn projects_page(state: &AppState) -> Result<ProjectsPage, AppError> {
    let projects = queries::projects(&state.db).await?;
    let settings = settings::load(&state.db).await?;
    let hidden = projects.iter().filter(|p| p.hidden).count();
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
    Ok(ProjectsPage {
        projects: rows,
        hidden,
        show_process_memory: settings.show_process_memory,
        now_ms: now_ms(),
    })
}

/// The dashboard's wasm bundle, when it was built before this binary
/// (`scripts/bundle`): (version, glue JS, wasm).
#[cfg(bundle)]
pub const BUNDLE: Option<(&str, &[u8], &[u8])> = Some((
    env!("LOGGERFLOW_BUNDLE_VERSION"),
    include_bytes!(env!("LOGGERFLOW_BUNDLE_JS")),
    include_bytes!(env!("LOGGERFLOW_BUNDLE_WASM")),
));
/// The dashboard's wasm bundle: not built before this binary.
#[cfg(not(bundle))]
pub const BUNDLE: Option<(&str, &[u8], &[u8])> = None;

/// `GET /pkg/{file}`: the boot script and the bundle (404 without one).
pub async fn bundle(Path(file): Path<String>) -> Response {
    let Some((_, js, wasm)) = BUNDLE else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let (body, kind): (&'static [u8], &str) = match file.as_str() {
        "boot.js" => (
            loggerflow_ui::hydration::BOOT_JS.as_bytes(),
            "text/javascript; charset=utf-8",
        ),
        "loggerflow_ui.js" => (js, "text/javascript; charset=utf-8"),
        "loggerflow_ui_bg.wasm" => (wasm, "application/wasm"),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            // URLs carry the bundle's version
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        body,
    )
        .into_response()
}

/// `GET /`: the projects.
pub async fn projects(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
) -> Result<Html<String>, AppError> {
    let page = projects_page(&state).await?;
    Ok(Html(loggerflow_ui::pages::projects(page, &visitor)))
}

/// `GET /api/v1/dashboard/projects`: the projects page's data, polled by
/// its live table.
pub async fn live_projects(
    State(state): State<AppState>,
) -> Result<axum::Json<ProjectsPage>, AppError> {
    Ok(axum::Json(projects_page(&state).await?))
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
    /// The cursor of the page: `{last_seen_ms}:{group id}`.
    after: Option<String>,
}

/// `GET /projects/{project}?state=&q=&after=`: one page of error groups.
pub async fn errors(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    Path(project): Path<String>,
    Query(query): Query<ErrorsQuery>,
) -> Result<Html<String>, AppError> {
    let id = project_id(&state, &project).await?;
    let filter = query
        .state
        .filter(|s| matches!(s.as_str(), "open" | "resolved" | "ignored"));
    let search = query.q.unwrap_or_default();
    let after = match query.after.as_deref().filter(|a| !a.is_empty()) {
        None => None,
        Some(cursor) => Some(
            cursor
                .split_once(':')
                .and_then(|(seen, id)| Some((seen.parse().ok()?, id.parse().ok()?)))
                .ok_or_else(|| {
                    AppError::bad_request("invalid_cursor", "`after` is `{last_seen_ms}:{id}`")
                })?,
        ),
    };
    let (groups, next) =
        queries::groups_page(&state.db, id, filter.as_deref(), &search, after).await?;
    let now = now_ms();
    let ids: Vec<i64> = groups.iter().map(|(g, _)| g.id).collect();
    let hours = queries::hourly_counts(&state.db, &ids, now).await?;
    let rows = groups
        .into_iter()
        .map(|(g, newest)| {
            let mut last_24h = vec![0u32; 24];
            for (_, hour, n) in hours.iter().filter(|(group, _, _)| *group == g.id) {
                if let Some(slot) = usize::try_from(*hour)
                    .ok()
                    .and_then(|i| last_24h.get_mut(i))
                {
                    *slot = u32::try_from(*n).unwrap_or(u32::MAX);
                }
            }
            GroupRow {
                newest_report: newest,
                id: g.id,
                title: g.title,
                count: g.count,
                pruned: g.pruned,
                first_seen_ms: g.first_seen_ms,
                last_seen_ms: g.last_seen_ms,
                state: g.state,
                regressed: g.regressed,
                last_24h,
            }
        })
        .collect();
    Ok(Html(loggerflow_ui::pages::errors(
        ErrorsPage {
            project,
            groups: rows,
            state: filter,
            search,
            next_cursor: next.map(|(seen, id)| format!("{seen}:{id}")),
            paged: after.is_some(),
            now_ms: now,
        },
        &visitor,
    )))
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
    body: Vec<u8>,
}

#[derive(FromQueryResult)]
struct Neighbour {
    id: uuid::Uuid,
}

/// `GET /projects/{project}/reports/{id}`.
pub async fn report(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    Path((project, report_id)): Path<(String, String)>,
    Query(query): Query<ReportQuery>,
) -> Result<Response, AppError> {
    let id = project_id(&state, &project).await?;
    let backend = state.db.get_database_backend();
    let not_found = || AppError::not_found(format!("no report {report_id}"));
    let uuid = uuid::Uuid::parse_str(&report_id).map_err(|_| not_found())?;
    let stored = Stored::find_by_statement(sql(
        backend,
        "SELECT ts_ms, group_id, body FROM reports WHERE project_id = $1 AND id = $2",
        [id.into(), uuid.into()],
    ))
    .one(&state.db)
    .await
    .map_err(StoreError::from)?
    .ok_or_else(not_found)?;
    let report: Report = payload::decode(&stored.body)?;
    let settings = settings::load(&state.db).await?;
    let mode: TraceMode = query
        .mode
        .as_deref()
        .unwrap_or(&settings.trace_mode)
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
            [stored.group_id.into(), stored.ts_ms.into(), uuid.into()],
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
    let mut page = report_page(
        project,
        report,
        mode,
        stored.group_id,
        older.map(|n| n.id.to_string()),
        newer.map(|n| n.id.to_string()),
    );
    page.backlight = settings.backlight;
    Ok(Html(loggerflow_ui::pages::report(page, &visitor)).into_response())
}

fn report_page(
    project: String,
    report: Report,
    mode: TraceMode,
    group_id: i64,
    older: Option<String>,
    newer: Option<String>,
) -> ReportPage {
    let traces = Traces {
        full: trace_lines(&report, false),
        clean: trace_lines(&report, true),
        minimal: loggerflow_layer::trace::render::render(&report, TraceMode::Minimal),
    };
    let mode_name = match mode {
        TraceMode::Full => "full",
        TraceMode::Clean => "clean",
        TraceMode::Minimal => "minimal",
        _ => "full",
    };
    ReportPage {
        project,
        id: report.id.to_string(),
        title: report.title(),
        traces,
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
        group_id,
        older,
        newer,
        backlight: true,
    }
}

/// The frames of `report` as shown: all of them, or (`clean`) your own with
/// markers where others were hidden (all of them if none is yours).
fn trace_lines(report: &Report, clean: bool) -> Vec<TraceLine> {
    let clean = clean && report.frames.iter().any(|f| f.yours);
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
    trace
}

/// `GET /projects/{project}/metrics?window=`.
pub async fn metrics(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    Path(project): Path<String>,
    Query(query): Query<crate::api::MetricsQuery>,
) -> Result<Html<String>, AppError> {
    let id = project_id(&state, &project).await?;
    let instances = queries::instances(&state.db, id)
        .await?
        .into_iter()
        .map(|i| InstanceRow {
            name: if i.host.is_empty() {
                i.id.clone()
            } else {
                format!("{} (pid {})", i.host, i.pid)
            },
            transport: i.transport,
            client_version: i.client_version,
            status: i.status,
            status_since_ms: i.status_since_ms,
            last_seen_ms: i.last_seen_ms,
        })
        .collect();
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
    Ok(Html(loggerflow_ui::pages::metrics(
        MetricsPage {
            project,
            window: window.into(),
            windows: queries::WINDOWS
                .iter()
                .map(|(n, _)| (*n).to_owned())
                .collect(),
            points,
            instances,
            now_ms: now_ms(),
            notice: query.notice,
        },
        &visitor,
    )))
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
    Extension(visitor): Extension<Visitor>,
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
            taken_over_from: e.taken_over_from,
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
        &visitor,
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

/// Query of pages that show a notice after an action.
#[derive(Deserialize)]
pub struct NoticeQuery {
    notice: Option<String>,
}

/// `GET /hidden`: the hidden projects.
pub async fn hidden(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    Query(query): Query<NoticeQuery>,
) -> Result<Html<String>, AppError> {
    let projects = queries::projects(&state.db)
        .await?
        .into_iter()
        .filter(|p| p.hidden)
        .map(|p| HiddenRow {
            name: p.name,
            error_count: p.error_count,
            status: p.status,
        })
        .collect();
    Ok(Html(loggerflow_ui::pages::hidden(
        HiddenPage {
            projects,
            notice: query.notice,
        },
        &visitor,
    )))
}

fn to_hidden(notice: &str) -> Redirect {
    Redirect::to(&format!(
        "/hidden?notice={}",
        loggerflow_ui::pages::segment(notice)
    ))
}

/// `POST /projects/{project}/hide`: off the projects page (it keeps
/// receiving reports).
pub async fn hide(
    State(state): State<AppState>,
    Path(project): Path<String>,
) -> Result<Redirect, AppError> {
    if !queries::set_hidden(&state.db, &project, true).await? {
        return Err(AppError::not_found(format!("no project named `{project}`")));
    }
    Ok(Redirect::to("/"))
}

/// `POST /projects/{project}/unhide`: back on the projects page.
pub async fn unhide(
    State(state): State<AppState>,
    Path(project): Path<String>,
) -> Result<Redirect, AppError> {
    if !queries::set_hidden(&state.db, &project, false).await? {
        return Err(AppError::not_found(format!("no project named `{project}`")));
    }
    Ok(to_hidden(&format!(
        "`{project}` is back on the projects page"
    )))
}

/// The delete form: its checkbox must be ticked.
#[derive(Deserialize)]
pub struct DeleteForm {
    confirm: Option<String>,
}

/// `POST /projects/{project}/delete`: the project and everything it stored.
pub async fn delete_project(
    State(state): State<AppState>,
    Path(project): Path<String>,
    Form(form): Form<DeleteForm>,
) -> Result<Redirect, AppError> {
    if form.confirm.as_deref() != Some("yes") {
        return Ok(to_hidden("tick \"sure\" to delete a project"));
    }
    if !state.writer.delete_project(&project).await? {
        return Err(AppError::not_found(format!("no project named `{project}`")));
    }
    Ok(to_hidden(&format!("`{project}` and its data are deleted")))
}

/// `GET /settings`.
pub async fn settings(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    Query(query): Query<NoticeQuery>,
) -> Result<Html<String>, AppError> {
    let current = settings::load(&state.db).await?;
    Ok(Html(loggerflow_ui::pages::settings(
        SettingsPage {
            trace_mode: current.trace_mode,
            backlight: current.backlight,
            show_process_memory: current.show_process_memory,
            retention_days: current.retention_days,
            default_retention_days: state.config.retention.as_secs() / 86_400,
            report_retention_days: current.report_retention_days,
            default_report_retention_days: state
                .config
                .report_retention
                .map_or(0, |d| d.as_secs() / 86_400),
            max_reports_per_project: state.config.max_reports_per_project.unwrap_or(0),
            notice: query.notice,
        },
        &visitor,
    )))
}

/// The settings form (unticked boxes are absent).
#[derive(Deserialize)]
pub struct SettingsForm {
    trace_mode: String,
    backlight: Option<String>,
    show_process_memory: Option<String>,
    retention_days: Option<String>,
    report_retention_days: Option<String>,
}

/// A retention field of the settings form: empty is `None` (the flag's),
/// else `min` to `max` days of `what`.
fn days(value: Option<&str>, (min, max): (u32, u32), what: &str) -> Result<Option<u32>, AppError> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(days) => days
            .parse::<u32>()
            .ok()
            .filter(|d| (min..=max).contains(d))
            .map(Some)
            .ok_or_else(|| {
                AppError::bad_request(
                    "invalid_retention",
                    format!("keep {what} for {min} to {max} days"),
                )
            }),
    }
}

/// `POST /settings`: saves and comes back with a notice.
pub async fn save_settings(
    State(state): State<AppState>,
    Form(form): Form<SettingsForm>,
) -> Result<Redirect, AppError> {
    if !matches!(form.trace_mode.as_str(), "full" | "clean" | "minimal") {
        return Err(AppError::bad_request(
            "invalid_trace_mode",
            "use full, clean or minimal",
        ));
    }
    let retention_days = days(
        form.retention_days.as_deref(),
        (1, settings::MAX_RETENTION_DAYS),
        "metrics",
    )?;
    let report_retention_days = days(
        form.report_retention_days.as_deref(),
        (0, settings::MAX_REPORT_RETENTION_DAYS),
        "reports (0: forever)",
    )?;
    settings::save(
        &state.db,
        &settings::Settings {
            trace_mode: form.trace_mode,
            backlight: form.backlight.is_some(),
            show_process_memory: form.show_process_memory.is_some(),
            retention_days,
            report_retention_days,
        },
    )
    .await?;
    Ok(Redirect::to("/settings?notice=saved"))
}

/// `POST /projects/{project}/instances/clear`: forgets the project's apps
/// that are not online (their metrics stay).
pub async fn clear_instances(
    State(state): State<AppState>,
    Path(project): Path<String>,
) -> Result<Redirect, AppError> {
    let id = project_id(&state, &project).await?;
    let n = queries::clear_instances(&state.db, id).await?;
    Ok(Redirect::to(&format!(
        "/projects/{}/metrics?notice={}",
        loggerflow_ui::pages::segment(&project),
        loggerflow_ui::pages::segment(&format!("{n} app(s) cleared"))
    )))
}
