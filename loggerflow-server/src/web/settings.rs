//! The settings page.

use axum::extract::{Query, State};
use axum::response::{Html, Redirect};
use axum::{Extension, Form};
use loggerflow_ui::model::{SettingsPage, Visitor};
use serde::Deserialize;

use super::NoticeQuery;
use crate::error::AppError;
use crate::router::AppState;
use crate::store::settings;

/// `GET /settings`.
pub async fn page(
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
pub async fn save(
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
    // the projects table shows process memory or not
    state.changes.publish(crate::changes::Topic::Projects, None);
    Ok(Redirect::to("/settings?notice=saved"))
}
