//! A report's page: its trace (full, clean or minimal), its details, and
//! its neighbours in its group.

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Response};
use loggerflow_layer::{Report, TraceMode};
use loggerflow_ui::model::{FrameRow, Neighbours, ReportPage, TraceLine, Traces, Visitor};
use serde::Deserialize;

use super::project_id;
use crate::error::AppError;
use crate::router::AppState;
use crate::store::{groups, payload, settings};

/// Query of the report page.
#[derive(Deserialize)]
pub struct ReportQuery {
    mode: Option<String>,
}

/// `GET /projects/{project}/reports/{id}`.
pub async fn page(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    Path((project, report_id)): Path<(String, String)>,
    Query(query): Query<ReportQuery>,
) -> Result<Response, AppError> {
    let stored = stored(&state, &project, &report_id).await?;
    let report: Report = payload::decode(&stored.body)?;
    let settings = settings::load(&state.db).await?;
    let mode: TraceMode = query
        .mode
        .as_deref()
        .unwrap_or(&settings.trace_mode)
        .parse()
        .unwrap_or(TraceMode::Clean);
    let mut page = report_page(
        project,
        report,
        mode,
        stored.group_id,
        stored.older,
        stored.newer,
    );
    page.backlight = settings.backlight;
    Ok(Html(loggerflow_ui::pages::report(page, &visitor)).into_response())
}

/// `GET /api/v1/dashboard/projects/{project}/reports/{id}/neighbours`: the
/// report's older and newer occurrence, which its page's pager fetches when
/// the project's errors changed.
#[utoipa::path(get, path = "/api/v1/dashboard/projects/{project}/reports/{id}/neighbours",
    tag = "dashboard", operation_id = "dashboard_report_neighbours",
    summary = "A report's older and newer occurrence in its group (what its page's pager fetches)",
    params(crate::api::openapi::Project,
        ("id" = String, Path, description = "The report's id (a UUID)")),
    responses(
        (status = 200, description = "Its neighbours", body = Neighbours),
        (status = 404, description = "`not_found`: no such project or report",
            body = crate::api::openapi::ApiError)))]
pub async fn neighbours(
    State(state): State<AppState>,
    Path((project, report_id)): Path<(String, String)>,
) -> Result<Response, AppError> {
    let key = format!("neighbours/{project}/{report_id}");
    let neighbours = async {
        let stored = stored(&state, &project, &report_id).await?;
        Ok(Neighbours {
            older: stored.older,
            newer: stored.newer,
        })
    };
    super::views::json(&state, key, neighbours).await
}

/// The report `report_id` of `project` as stored (404 when either is
/// unknown).
async fn stored(
    state: &AppState,
    project: &str,
    report_id: &str,
) -> Result<groups::StoredReport, AppError> {
    let id = project_id(state, project).await?;
    let not_found = || AppError::not_found(format!("no report {report_id}"));
    // ids are UUIDs: anything else names no report
    let uuid = uuid::Uuid::parse_str(report_id).map_err(|_| not_found())?;
    groups::report(&state.db, id, uuid)
        .await?
        .ok_or_else(not_found)
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
