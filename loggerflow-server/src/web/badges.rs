//! Status badges, shields-style SVG: `/badge/{project}/status.svg` (online /
//! offline / stopped, with how long) and `/badge/{project}/errors.svg`
//! (reports in the last 24 h). Behind the login unless the operator turns
//! public badges on (`--public-badges`); cacheable for 10 s.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::project_id;
use crate::error::AppError;
use crate::router::AppState;
use crate::store::{groups, instances, now_ms};

/// How long a badge may be cached.
const MAX_AGE_S: u32 = 10;

/// `GET /badge/{project}/status.svg`.
pub async fn status(
    State(state): State<AppState>,
    Path(project): Path<String>,
) -> Result<Response, AppError> {
    let id = project_id(&state, &project).await?;
    let apps = instances::of_project(&state.db, id).await?;
    let now = now_ms();
    let (text, color) = match ["online", "offline", "stopped"]
        .into_iter()
        .find(|s| apps.iter().any(|a| a.status == *s))
    {
        Some(status) => {
            // since the most recent change to that status
            let since = apps
                .iter()
                .filter(|a| a.status == status)
                .map(|a| a.status_since_ms)
                .max()
                .unwrap_or(now);
            let color = match status {
                "online" => "#4c1",
                "offline" => "#e05d44",
                _ => "#9f9f9f",
            };
            (format!("{status} {}", ago(now - since)), color)
        }
        None => ("unknown".to_owned(), "#9f9f9f"),
    };
    Ok(svg(&project, "status", &text, color))
}

/// `GET /badge/{project}/errors.svg`.
pub async fn errors(
    State(state): State<AppState>,
    Path(project): Path<String>,
) -> Result<Response, AppError> {
    let id = project_id(&state, &project).await?;
    let count = groups::reports_since(&state.db, id, now_ms() - 86_400_000).await?;
    let color = match count {
        0 => "#4c1",
        1..=9 => "#dfb317",
        _ => "#e05d44",
    };
    Ok(svg(&project, "errors 24h", &count.to_string(), color))
}

/// A duration as the badge says it: `42s`, `5m`, `3h`, `2d`.
fn ago(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..=59 => format!("{s}s"),
        60..=3_599 => format!("{}m", s / 60),
        3_600..=86_399 => format!("{}h", s / 3_600),
        _ => format!("{}d", s / 86_400),
    }
}

/// A two-part badge: `label` on grey, `value` on `color` (the widths
/// estimated as shields does for Verdana 11 px: ~7 px a character).
fn svg(project: &str, label: &str, value: &str, color: &str) -> Response {
    let width = |text: &str| 10 + 7 * text.chars().count();
    let (left, right) = (width(label), width(value));
    let total = left + right;
    let title = crate::markup::html(&format!("{project}: {label} {value}"));
    let (label, value) = (crate::markup::html(label), crate::markup::html(value));
    let (lx, rx) = (left * 5, left * 10 + right * 5);
    let body = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{total}" height="20" role="img" aria-label="{title}"><title>{title}</title><linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient><clipPath id="r"><rect width="{total}" height="20" rx="3" fill="#fff"/></clipPath><g clip-path="url(#r)"><rect width="{left}" height="20" fill="#555"/><rect x="{left}" width="{right}" height="20" fill="{color}"/><rect width="{total}" height="20" fill="url(#s)"/></g><g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="110"><text x="{lx}" y="140" transform="scale(.1)">{label}</text><text x="{rx}" y="140" transform="scale(.1)">{value}</text></g></svg>"##
    );
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml".to_owned()),
            (header::CACHE_CONTROL, format!("max-age={MAX_AGE_S}")),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_a_badge_says_them() {
        assert_eq!(ago(42_000), "42s");
        assert_eq!(ago(5 * 60_000 + 1), "5m");
        assert_eq!(ago(3 * 3_600_000), "3h");
        assert_eq!(ago(2 * 86_400_000), "2d");
        assert_eq!(ago(-5), "0s");
    }
}
