//! The JSON of the live views (`/api/v1/dashboard/…`), computed once and
//! shared by the tabs that ask for the same view after the same change.
//!
//! When something changes, every open tab showing it fetches its view at
//! about the same moment. The first request of a view computes it; those
//! that arrive meanwhile wait for that answer instead of computing it again
//! (one computation at a time per view). An answer is served to a request
//! if it was computed after every change noted before the request arrived
//! ([`crate::changes::Changes::epoch`]) and is younger than [`FRESH`]; so a
//! tab never gets data older than what it was told of.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::changes::Changes;
use crate::error::AppError;
use crate::router::AppState;

/// The longest an answer is served, changes or not (the views hold ages and
/// hourly counts).
pub const FRESH: Duration = Duration::from_secs(2);

/// Views kept at most; past it, a new view is computed for its request only.
const MAX_VIEWS: usize = 1_024;

/// The longest key of a view kept (a longer query is computed for its
/// request only).
const MAX_KEY: usize = 512;

/// The cache (one per server, in [`AppState`]).
#[derive(Default)]
pub struct Views {
    slots: Mutex<HashMap<String, Slot>>,
}

type Slot = Arc<tokio::sync::Mutex<Option<Answer>>>;

struct Answer {
    /// The epoch read before it was computed.
    epoch: u64,
    at: Instant,
    json: Bytes,
}

impl std::fmt::Debug for Views {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Views").finish_non_exhaustive()
    }
}

impl Views {
    /// The slot of `key`, if there is room for it.
    fn slot(&self, key: &str) -> Option<Slot> {
        if key.len() > MAX_KEY {
            return None;
        }
        let mut slots = self
            .slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(slot) = slots.get(key) {
            return Some(Arc::clone(slot));
        }
        if slots.len() >= MAX_VIEWS {
            // forget the views nobody is asking for whose answers are old
            slots.retain(|_, slot| {
                Arc::strong_count(slot) > 1
                    || slot
                        .try_lock()
                        .is_ok_and(|a| a.as_ref().is_some_and(|a| a.at.elapsed() < FRESH))
            });
            if slots.len() >= MAX_VIEWS {
                return None;
            }
        }
        let slot = Slot::default();
        slots.insert(key.to_owned(), Arc::clone(&slot));
        Some(slot)
    }
}

/// The view `key` as JSON: a shared answer when one holds every change
/// noted before this request, else `compute`'s (shared from then on).
pub async fn json<T, F>(state: &AppState, key: String, compute: F) -> Result<Response, AppError>
where
    T: Serialize,
    F: Future<Output = Result<T, AppError>>,
{
    state.views.answer(&state.changes, key, compute).await
}

impl Views {
    /// [`json`], on this cache and the epochs of `changes`.
    pub async fn answer<T, F>(
        &self,
        changes: &Changes,
        key: String,
        compute: F,
    ) -> Result<Response, AppError>
    where
        T: Serialize,
        F: Future<Output = Result<T, AppError>>,
    {
        let arrived = changes.epoch();
        let Some(slot) = self.slot(&key) else {
            return respond(encode(&compute.await?)?);
        };
        let mut answer = slot.lock().await;
        if let Some(shared) = answer.as_ref()
            && shared.epoch >= arrived
            && shared.at.elapsed() < FRESH
        {
            return respond(shared.json.clone());
        }
        let epoch = changes.epoch();
        let json = encode(&compute.await?)?;
        *answer = Some(Answer {
            epoch,
            at: Instant::now(),
            json: json.clone(),
        });
        respond(json)
    }
}

fn encode<T: Serialize>(value: &T) -> Result<Bytes, AppError> {
    serde_json::to_vec(value).map(Bytes::from).map_err(|e| {
        AppError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "encoding_error",
            e.to_string(),
        )
    })
}

fn respond(json: Bytes) -> Result<Response, AppError> {
    Ok(([(header::CONTENT_TYPE, "application/json")], json).into_response())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::changes::Topic;

    /// A view computed by `computed`, slowly.
    async fn view(
        views: &Views,
        changes: &Changes,
        computed: &AtomicUsize,
    ) -> Result<Response, AppError> {
        views
            .answer(changes, "errors/Shop".into(), async {
                let n = computed.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(50)).await;
                Ok(n)
            })
            .await
    }

    #[tokio::test]
    async fn tabs_asking_together_share_one_computation_until_a_change() {
        let (views, changes) = (Views::default(), Changes::new());
        let computed = AtomicUsize::new(0);
        let answers =
            futures_util::future::join_all((0..50).map(|_| view(&views, &changes, &computed)))
                .await;
        assert!(answers.iter().all(Result::is_ok));
        assert_eq!(computed.load(Ordering::SeqCst), 1, "one computation for 50");
        view(&views, &changes, &computed).await.ok();
        assert_eq!(computed.load(Ordering::SeqCst), 1, "still fresh");
        // a change: the next request gets a view that holds it
        changes.publish(Topic::Errors, Some("Shop"));
        view(&views, &changes, &computed).await.ok();
        assert_eq!(computed.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_refusal_is_not_kept_and_long_keys_are_not_kept() {
        let (views, changes) = (Views::default(), Changes::new());
        let refused = views
            .answer(&changes, "errors/Nope".into(), async {
                Err::<(), _>(AppError::not_found("no project"))
            })
            .await;
        assert!(refused.is_err());
        assert!(views.slot(&"x".repeat(MAX_KEY + 1)).is_none());
    }
}
