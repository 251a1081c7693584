//! The hidden projects page, and hiding, returning and deleting a project.

use axum::extract::{Path, Query, State};
use axum::response::{Html, Redirect};
use axum::{Extension, Form};
use loggerflow_ui::model::{HiddenPage, HiddenRow, Visitor};
use serde::Deserialize;

use super::NoticeQuery;
use crate::error::AppError;
use crate::router::AppState;
use crate::store::projects;

/// `GET /hidden`: the hidden projects.
pub async fn page(
    State(state): State<AppState>,
    Extension(visitor): Extension<Visitor>,
    Query(query): Query<NoticeQuery>,
) -> Result<Html<String>, AppError> {
    let projects = projects::all(&state.db)
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
    if !projects::set_hidden(&state.db, &project, true).await? {
        return Err(AppError::not_found(format!("no project named `{project}`")));
    }
    state.changes.publish(crate::changes::Topic::Projects, None);
    Ok(Redirect::to("/"))
}

/// `POST /projects/{project}/unhide`: back on the projects page.
pub async fn unhide(
    State(state): State<AppState>,
    Path(project): Path<String>,
) -> Result<Redirect, AppError> {
    if !projects::set_hidden(&state.db, &project, false).await? {
        return Err(AppError::not_found(format!("no project named `{project}`")));
    }
    state.changes.publish(crate::changes::Topic::Projects, None);
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
pub async fn delete(
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
