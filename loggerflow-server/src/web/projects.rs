//! The projects page (`/`) and the data its live table fetches.

use axum::Extension;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::header::HOST;
use axum::response::Html;
use loggerflow_ui::model::{ProjectRow, ProjectsPage, Visitor};

use crate::error::AppError;
use crate::router::AppState;
use crate::store::{now_ms, projects, releases, settings};

/// The projects page's data (also what its live island fetches).
pub async fn data(state: &AppState) -> Result<ProjectsPage, AppError> {
    let projects = projects::all(&state.db).await?;
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
            // what its online apps run, each release once
            let mut running: Vec<String> = Vec::new();
            for i in p.instances.iter().filter(|i| i.status == "online") {
                let Some(release) = i.release.as_deref() else {
                    continue;
                };
                let label = match i.environment.as_deref() {
                    Some(e) if e != releases::DEFAULT_ENVIRONMENT => format!("{release} ({e})"),
                    _ => release.to_owned(),
                };
                if !running.contains(&label) {
                    running.push(label);
                }
            }
            ProjectRow {
                release: (!running.is_empty()).then(|| running.join(", ")),
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
                backends: p.backends,
                authors: p.authors,
            }
        })
        .collect();
    Ok(ProjectsPage {
        projects: rows,
        hidden,
        show_process_memory: settings.show_process_memory,
        now_ms: now_ms(),
        ingest_url: String::new(),
    })
}

/// `GET /`: the projects.
pub async fn page(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    headers: HeaderMap,
) -> Result<Html<String>, AppError> {
    let mut page = data(&state).await?;
    // `hosts::guard` let this `Host` in: it is a name the server answers to
    let host = headers.get(HOST).and_then(|h| h.to_str().ok());
    page.ingest_url = ingest_url(&state.config.links(), host);
    Ok(Html(loggerflow_ui::pages::projects(page, &visitor)))
}

/// Where apps send to: under the public URL when there is one, else at the
/// address the page was asked for.
fn ingest_url(links: &crate::alarm::Links, host: Option<&str>) -> String {
    links
        .ingest()
        .unwrap_or_else(|| format!("http://{}/loggerflow/", host.unwrap_or("localhost")))
}

/// `GET /api/v1/dashboard/projects`: the projects page's data, which its
/// live table fetches when the projects changed.
#[utoipa::path(get, path = "/api/v1/dashboard/projects", tag = "projects",
    operation_id = "dashboard_projects",
    summary = "The projects page's data (visible projects, last readings), what its live \
        table fetches",
    responses((status = 200, description = "The page's data", body = ProjectsPage)))]
pub async fn live(State(state): State<AppState>) -> Result<axum::response::Response, AppError> {
    super::views::json(&state, "projects".into(), data(&state)).await
}
