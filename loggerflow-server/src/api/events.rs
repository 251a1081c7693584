//! `GET /api/v1/events`: the stream of server-sent events a dashboard tab
//! listens to ([`crate::changes`]; the tab's side is `loggerflow_ui::live`).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::Stream;
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;
use utoipa::IntoParams;

use crate::changes::{Event, Topic, event};
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
}

/// `GET /api/v1/events?project=`: what changed, as it happens.
#[utoipa::path(get, path = "/api/v1/events", tag = "dashboard",
    operation_id = "events",
    summary = "Server-sent events: what changed, for the dashboard's live pages",
    description = "A `text/event-stream` that stays open. Events: `projects` (the projects \
        table changed), `errors` (data `{\"project\": name}`: that project's error groups or \
        reports changed), `alarms` (the alarm history changed), `resync` (changes may have \
        been missed: fetch everything again). The data is a hint, never the change itself: \
        fetch the view again (`/api/v1/dashboard/…`). A comment is sent every 15 s while \
        nothing happens; the stream ends when the server stops (reconnect: it says `retry: \
        1000`).",
    params(EventsQuery),
    responses((status = 200, description = "The stream", content_type = "text/event-stream",
        body = String)))]
pub async fn stream(
    State(state): State<AppState>,
    Query(query): Query<EventsQuery>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let project: Option<Arc<str>> = query.project.map(Arc::from);
    let changes = state.changes.subscribe();
    let shutdown = state.shutdown.clone();
    let first = SseEvent::default().retry(RETRY).comment("loggerflow");
    let events = futures_util::stream::unfold(
        (changes, shutdown, project),
        |(mut changes, mut shutdown, project)| async move {
            loop {
                if *shutdown.borrow_and_update() {
                    return None;
                }
                let received = tokio::select! {
                    received = changes.recv() => received,
                    // the server stops: the stream ends, and the browser
                    // reconnects (to this server once it is back)
                    _ = shutdown.changed() => return None,
                };
                let sse = match received {
                    Ok(Event::Changed(change)) => {
                        let data = match (&change.topic, change.project.as_deref()) {
                            (Topic::Errors, Some(p)) => {
                                if project.as_deref().is_some_and(|wanted| wanted != p) {
                                    continue;
                                }
                                serde_json::json!({ "project": p }).to_string()
                            }
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
                return Some((Ok(sse), (changes, shutdown, project)));
            }
        },
    );
    let stream = futures_util::stream::StreamExt::chain(
        futures_util::stream::once(async move { Ok(first) }),
        events,
    );
    Sse::new(stream).keep_alive(KeepAlive::default())
}
