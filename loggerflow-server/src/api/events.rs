//! `GET /api/v1/events`: the stream of server-sent events a dashboard tab
//! listens to ([`crate::changes`]; the tab's side is `loggerflow_ui::live`).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::Stream;
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;
use utoipa::IntoParams;

use crate::auth::SessionKey;
use crate::auth::watch::Watched;
use crate::changes::{Event, Topic, event};
use crate::error::AppError;
use crate::router::AppState;

/// How long a browser waits before it reconnects a stream that dropped.
const RETRY: Duration = Duration::from_secs(1);

/// Query of `GET /api/v1/events`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Only this project's `errors` events (the other events are about
    /// every project).
    project: Option<String>,
    /// Only these events, comma-separated: `projects`, `errors`, `alarms`
    /// (none: all; `resync` is always sent).
    topics: Option<String>,
}

/// The topics `topics` names (none: all), or a refusal.
fn topics(topics: Option<&str>) -> Result<Vec<Topic>, AppError> {
    let Some(list) = topics else {
        return Ok(vec![
            Topic::Projects,
            Topic::Readings,
            Topic::Errors,
            Topic::Alarms,
        ]);
    };
    let mut wanted = Vec::new();
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        match name {
            event::PROJECTS => wanted.extend([Topic::Projects, Topic::Readings]),
            event::ERRORS => wanted.push(Topic::Errors),
            event::ALARMS => wanted.push(Topic::Alarms),
            _ => {
                return Err(AppError::bad_request(
                    "invalid_topics",
                    "`topics` lists projects, errors and alarms, comma-separated",
                ));
            }
        }
    }
    Ok(wanted)
}

/// The longest a stream stays open (plus up to 30 s, so that tabs opened
/// together do not all reconnect together): then it ends and the browser
/// opens a new one, whose login is checked again.
const LIFETIME: Duration = Duration::from_secs(5 * 60);

/// Resolves when the session `watched` ends; never without one.
async fn session_gone(watched: &mut Option<Watched>) {
    match watched {
        Some(watched) => watched.gone().await,
        None => std::future::pending().await,
    }
}

/// `GET /api/v1/events?project=`: what changed, as it happens.
#[utoipa::path(get, path = "/api/v1/events", tag = "dashboard",
    operation_id = "events",
    summary = "Server-sent events: what changed, for the dashboard's live pages",
    description = "A `text/event-stream` that stays open. Events: `projects` (the projects \
        table changed), `errors` (data `{\"project\": name}`: that project's error groups or \
        reports changed), `alarms` (the alarm history changed), `resync` (changes may have \
        been missed: fetch everything again). The data is a hint, never the change itself: \
        fetch the view again (`/api/v1/dashboard/…`). A `projects` event whose data is \
        `{\"readings\": true}` brought only new readings (CPU, memory) from heartbeats. \
        A comment is sent every 15 s while nothing happens; the stream ends when the \
        server stops, after about 5 minutes, and when the login session it was opened \
        with ends (reconnect: it says `retry: 1000`). At most `--max-event-streams` are \
        open at once.",
    params(EventsQuery),
    responses(
        (status = 200, description = "The stream", content_type = "text/event-stream",
            body = String),
        (status = 400, description = "`invalid_name`: `project` is no project name; \
            `invalid_topics`: `topics` names something else", body = crate::api::openapi::ApiError),
        (status = 503, description = "`too_many_streams`: try again after `Retry-After`",
            body = crate::api::openapi::ApiError)))]
pub async fn stream(
    State(state): State<AppState>,
    session: Option<Extension<SessionKey>>,
    Query(query): Query<EventsQuery>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, AppError> {
    if let Some(project) = &query.project {
        crate::names::project(project)?;
    }
    let wanted = topics(query.topics.as_deref())?;
    let permit = Arc::clone(&state.streams)
        .try_acquire_owned()
        .map_err(|_| {
            AppError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "too_many_streams",
                "this server has as many live dashboard tabs as it takes (--max-event-streams)",
            )
            .retry_after(30)
        })?;
    let project: Option<Arc<str>> = query.project.map(Arc::from);
    // watched from before its last look-up, so that a logout in between is
    // heard: the session ends the stream
    let mut watched = None;
    if let Some(Extension(SessionKey(key))) = session {
        let watch = state.sessions.watch(Arc::clone(&key));
        if crate::store::sessions::live(&state.db, std::slice::from_ref(&key))
            .await?
            .is_empty()
        {
            return Err(AppError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "the login session ended",
            ));
        }
        watched = Some(watch);
    }
    let changes = state.changes.subscribe();
    let shutdown = state.shutdown.clone();
    // the low bits of a v7 UUID are random
    let jitter = Duration::from_millis((uuid::Uuid::now_v7().as_u128() % 30_000) as u64);
    let ends = tokio::time::Instant::now() + LIFETIME + jitter;
    let first = SseEvent::default().retry(RETRY).comment("loggerflow");
    let events = futures_util::stream::unfold(
        (changes, shutdown, watched, project, wanted, permit),
        move |(mut changes, mut shutdown, mut watched, project, wanted, permit)| async move {
            loop {
                if *shutdown.borrow_and_update() {
                    return None;
                }
                let received = tokio::select! {
                    received = changes.recv() => received,
                    // the server stops: the stream ends, and the browser
                    // reconnects (to this server once it is back)
                    _ = shutdown.changed() => return None,
                    // long enough: the browser opens a new one, its login
                    // checked again
                    () = tokio::time::sleep_until(ends) => return None,
                    // its login session ended: the next one is refused
                    () = session_gone(&mut watched) => return None,
                };
                let sse = match received {
                    Ok(Event::Changed(change)) => {
                        if !wanted.contains(&change.topic) {
                            continue;
                        }
                        let data = match (&change.topic, change.project.as_deref()) {
                            (Topic::Errors, Some(p)) => {
                                if project.as_deref().is_some_and(|wanted| wanted != p) {
                                    continue;
                                }
                                serde_json::json!({ "project": p }).to_string()
                            }
                            // only new readings: what shows no reading may
                            // skip it
                            (Topic::Readings, _) => r#"{"readings":true}"#.to_owned(),
                            _ => "{}".to_owned(),
                        };
                        SseEvent::default().event(change.topic.event()).data(data)
                    }
                    // fell behind: what it missed is fetched again
                    Ok(Event::Resync) | Err(RecvError::Lagged(_)) => {
                        SseEvent::default().event(event::RESYNC).data("{}")
                    }
                    Err(RecvError::Closed) => return None,
                };
                return Some((
                    Ok(sse),
                    (changes, shutdown, watched, project, wanted, permit),
                ));
            }
        },
    );
    let stream = futures_util::stream::StreamExt::chain(
        futures_util::stream::once(async move { Ok(first) }),
        events,
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
