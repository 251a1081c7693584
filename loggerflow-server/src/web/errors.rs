//! A project's errors page: its groups, a page at a time, and the buttons
//! that resolve, ignore or reopen one.

use axum::extract::{Path, Query, State};
use axum::response::{Html, Redirect};
use axum::{Extension, Form};
use loggerflow_ui::model::{ErrorsPage, GroupRow, Visitor};
use serde::Deserialize;

use super::project_id;
use crate::error::AppError;
use crate::router::AppState;
use crate::store::{StoreError, groups, now_ms, releases};

/// Query of the errors page.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ErrorsQuery {
    /// Only the groups in this state: `open`, `resolved` or `ignored`.
    state: Option<String>,
    /// Only the groups whose title contains this text.
    q: Option<String>,
    /// The cursor of the page: `{last_seen_ms}:{group id}`.
    after: Option<String>,
    /// Only the groups seen in this environment.
    environment: Option<String>,
    /// Only the groups seen in this release.
    release: Option<String>,
}

/// `GET /projects/{project}?state=&q=&after=`: one page of error groups.
pub async fn page(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    Path(project): Path<String>,
    Query(query): Query<ErrorsQuery>,
) -> Result<Html<String>, AppError> {
    let page = data(&state, project, query).await?;
    Ok(Html(loggerflow_ui::pages::errors(page, &visitor)))
}

/// `GET /api/v1/dashboard/projects/{project}/errors?state=&q=&after=`: the
/// errors page's data for the same query, which its live table fetches when
/// the project's errors changed.
#[utoipa::path(get, path = "/api/v1/dashboard/projects/{project}/errors", tag = "dashboard",
    operation_id = "dashboard_errors",
    summary = "The errors page's data for a query (what its live table fetches)",
    params(crate::api::openapi::Project, ErrorsQuery),
    responses(
        (status = 200, description = "The page's data", body = ErrorsPage),
        (status = 400, description = "`invalid_cursor`", body = crate::api::openapi::ApiError),
        (status = 404, description = "`not_found`: no such project", body = crate::api::openapi::ApiError)))]
pub async fn live(
    State(state): State<AppState>,
    Path(project): Path<String>,
    Query(query): Query<ErrorsQuery>,
) -> Result<axum::response::Response, AppError> {
    let key = format!("errors/{project}/{query:?}");
    super::views::json(&state, key, data(&state, project, query)).await
}

/// One page of `project`'s error groups for `query`.
async fn data(
    state: &AppState,
    project: String,
    query: ErrorsQuery,
) -> Result<ErrorsPage, AppError> {
    let id = project_id(state, &project).await?;
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
    // as stored: trimmed, bounded, no control character (a NUL included)
    let environment = query
        .environment
        .filter(|e| !e.trim().is_empty())
        .map(|e| releases::environment(Some(&e)));
    let release = query
        .release
        .filter(|r| !r.trim().is_empty())
        .map(|r| releases::version(Some(&r)));
    let by_release = releases::Filter::new(id, environment.as_deref(), release.as_deref());
    let (environments, versions) = releases::filters(&state.db, id, environment.as_deref())
        .await
        .map_err(StoreError::from)?;
    let (groups, next) = groups::page(
        &state.db,
        id,
        filter.as_deref(),
        &search,
        by_release.as_ref(),
        after,
    )
    .await?;
    let now = now_ms();
    let ids: Vec<i64> = groups.iter().map(|(g, _)| g.id).collect();
    let hours = groups::hourly_counts(&state.db, &ids, now).await?;
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
                releases: seen_label(g.first_release.as_ref(), g.last_release.as_ref()),
            }
        })
        .collect();
    Ok(ErrorsPage {
        project,
        groups: rows,
        state: filter,
        search,
        next_cursor: next.map(|(seen, id)| format!("{seen}:{id}")),
        paged: after.is_some(),
        now_ms: now,
        environments,
        environment,
        versions,
        release,
    })
}

/// `1.2.0 → 1.3.1 (staging)`: where a group was first and last seen, when
/// its reports named a release or an environment other than production.
fn seen_label(first: Option<&groups::SeenIn>, last: Option<&groups::SeenIn>) -> Option<String> {
    let (first, last) = (first?, last?);
    let name = |s: &groups::SeenIn| {
        let release = if s.release.is_empty() {
            "no release"
        } else {
            s.release.as_str()
        };
        if s.environment == releases::DEFAULT_ENVIRONMENT {
            release.to_owned()
        } else {
            format!("{release} ({})", s.environment)
        }
    };
    if first.release.is_empty()
        && last.release.is_empty()
        && first.environment == releases::DEFAULT_ENVIRONMENT
        && last.environment == releases::DEFAULT_ENVIRONMENT
    {
        return None;
    }
    Some(if first == last {
        name(first)
    } else {
        format!("{} → {}", name(first), name(last))
    })
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
    if !groups::set_state(&state.db, id, group, &form.state).await? {
        return Err(AppError::not_found(format!("no group {group}")));
    }
    state.changes.group_state(&project);
    Ok(Redirect::to(&format!(
        "/projects/{}",
        loggerflow_ui::pages::segment(&project)
    )))
}
