//! Live changes: what the dashboard's open tabs are told, and how it reaches
//! them from every server sharing the database.
//!
//! Whatever changes what a page shows says so here ([`Changes::publish`]):
//! the writer after each commit (reports, hellos, heartbeats, status,
//! pruning, deleted projects), the status sweeper, the alarm dispatcher, and
//! the forms and API calls that resolve, hide, connect, delete, clear or
//! change settings. One task ([`run`]) coalesces those notes (the first
//! change is passed on at once; more of the same in the next [`WINDOW`]
//! become one) and broadcasts them to the streams of
//! `GET /api/v1/events` ([`crate::api::events`]), which tell each tab what
//! to fetch again (see `loggerflow_ui::live`).
//!
//! On PostgreSQL the coalesced changes also go out as `NOTIFY` on the
//! channel [`CHANNEL`], and each server `LISTEN`s ([`listen`]): a report
//! written by one server updates the tabs open on another. A change is a
//! hint, never data: when a hint may have been lost (a tab's stream fell
//! behind, the listening connection dropped) the tabs are told to `resync`,
//! and fetch everything they show.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, broadcast, watch};

pub use loggerflow_ui::live::event;

/// The PostgreSQL channel the servers tell each other on.
pub const CHANNEL: &str = "loggerflow_changes";

/// How long the coalescer gathers changes after passing one on: at most
/// one event per topic and project per window reaches a tab (the first
/// change after a quiet spell goes at once).
pub const WINDOW: Duration = Duration::from_secs(1);

/// Readings alone (heartbeats: the projects table's bars) are passed on at
/// most this often: thousands of apps beating every few seconds would
/// otherwise have every projects tab fetch at every window.
pub const READINGS_WINDOW: Duration = Duration::from_secs(2);

/// Changes waiting for the coalescer at most; past it they are dropped and
/// every tab is told to `resync` instead.
const MAX_PENDING: usize = 10_000;

/// Events buffered per stream: a tab whose stream falls further behind is
/// told to `resync`.
const STREAM_BUFFER: usize = 256;

/// Bytes of one `NOTIFY` payload at most (PostgreSQL's limit is 8,000).
const MAX_PAYLOAD: usize = 7_000;

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Topic {
    /// The projects table (status, counts, releases run).
    Projects,
    /// Only the projects table's readings (heartbeats): told as
    /// `projects`, at most once per [`READINGS_WINDOW`].
    Readings,
    /// A project's error groups and reports.
    Errors,
    /// The alarm history.
    Alarms,
}

impl Topic {
    /// The event's name on the stream.
    pub fn event(self) -> &'static str {
        match self {
            Topic::Projects | Topic::Readings => event::PROJECTS,
            Topic::Errors => event::ERRORS,
            Topic::Alarms => event::ALARMS,
        }
    }
}

/// One change: a topic, and for [`Topic::Errors`] its project.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Change {
    /// What changed.
    #[serde(rename = "t")]
    pub topic: Topic,
    /// Whose errors changed.
    #[serde(rename = "p", default, skip_serializing_if = "Option::is_none")]
    pub project: Option<Arc<str>>,
}

/// What a stream receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A change.
    Changed(Change),
    /// Changes may have been missed: fetch everything again.
    Resync,
}

/// The hub every part of the server publishes changes to (cheap to clone).
#[derive(Clone)]
pub struct Changes {
    inner: Arc<Inner>,
}

struct Inner {
    pending: Mutex<Pending>,
    wake: Notify,
    events: broadcast::Sender<Event>,
    /// Counts every change noted or heard ([`Changes::epoch`]).
    epoch: std::sync::atomic::AtomicU64,
}

#[derive(Default)]
struct Pending {
    changes: HashSet<Change>,
    /// More than [`MAX_PENDING`] changes came between two windows.
    overflowed: bool,
}

impl Default for Changes {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Changes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Changes")
            .field("streams", &self.inner.events.receiver_count())
            .finish_non_exhaustive()
    }
}

impl Changes {
    /// A hub with no stream yet.
    pub fn new() -> Self {
        let (events, _) = broadcast::channel(STREAM_BUFFER);
        Self {
            inner: Arc::new(Inner {
                pending: Mutex::new(Pending::default()),
                wake: Notify::new(),
                events,
                epoch: std::sync::atomic::AtomicU64::new(0),
            }),
        }
    }

    /// Notes that `topic` changed (for [`Topic::Errors`]: of `project`).
    /// Never blocks: the coalescer passes it on.
    pub fn publish(&self, topic: Topic, project: Option<&str>) {
        self.inner
            .epoch
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        let change = Change {
            topic,
            project: match topic {
                Topic::Errors => project.map(Arc::from),
                _ => None,
            },
        };
        {
            let mut pending = self
                .inner
                .pending
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if pending.changes.len() >= MAX_PENDING {
                pending.overflowed = true;
                pending.changes.clear();
            }
            if !pending.overflowed {
                pending.changes.insert(change);
            }
        }
        self.inner.wake.notify_one();
    }

    /// Notes that a group of `project` changed state (resolved, ignored,
    /// reopened): its errors and the projects table's counts.
    pub fn group_state(&self, project: &str) {
        self.publish(Topic::Errors, Some(project));
        self.publish(Topic::Projects, None);
    }

    /// A new stream of events (a tab).
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.inner.events.subscribe()
    }

    /// Streams open now.
    pub fn streams(&self) -> usize {
        self.inner.events.receiver_count()
    }

    /// A number that grows with every change noted here or heard from
    /// another server: what was read at epoch `e` holds every change noted
    /// before `e` was (the live views' cache, [`crate::web::views`]).
    pub fn epoch(&self) -> u64 {
        self.inner.epoch.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Passes `event` to the streams on this server only.
    fn broadcast(&self, event: Event) {
        self.inner
            .epoch
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        // no stream open: nothing to tell
        let _ = self.inner.events.send(event);
    }

    /// Takes what is pending: the changes, or `None` for "everything".
    fn take(&self) -> Option<Vec<Change>> {
        let mut pending = self
            .inner
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let changes: Vec<Change> = pending.changes.drain().collect();
        if std::mem::take(&mut pending.overflowed) {
            None
        } else {
            Some(changes)
        }
    }
}

/// What a server says on [`CHANNEL`].
#[derive(Debug, Serialize, Deserialize)]
struct Notice {
    /// The server that made the changes ([`crate::store::servers::new_id`]).
    #[serde(rename = "s")]
    server: String,
    /// Its changes; none: everything (it dropped some).
    #[serde(rename = "c", default, skip_serializing_if = "Option::is_none")]
    changes: Option<Vec<Change>>,
}

/// Splits `changes` into `NOTIFY` payloads of at most [`MAX_PAYLOAD`] bytes
/// (`None`, everything: one payload).
fn payloads(server: &str, changes: Option<Vec<Change>>) -> Vec<String> {
    let Some(changes) = changes else {
        let notice = Notice {
            server: server.to_owned(),
            changes: None,
        };
        return serde_json::to_string(&notice).into_iter().collect();
    };
    if changes.is_empty() {
        // a beat: nothing changed, the server is alive
        let notice = Notice {
            server: server.to_owned(),
            changes: Some(Vec::new()),
        };
        return serde_json::to_string(&notice).into_iter().collect();
    }
    let mut out = Vec::new();
    let mut chunk: Vec<Change> = Vec::new();
    let mut size = server.len() + 32;
    let flush = |chunk: &mut Vec<Change>, out: &mut Vec<String>| {
        if chunk.is_empty() {
            return;
        }
        let notice = Notice {
            server: server.to_owned(),
            changes: Some(std::mem::take(chunk)),
        };
        if let Ok(json) = serde_json::to_string(&notice) {
            out.push(json);
        }
    };
    for change in changes {
        // a change's JSON: its topic, and its project escaped (≤ 6 bytes a
        // character in the worst case)
        let cost = 24 + change.project.as_deref().map_or(0, |p| p.len() * 6);
        if size + cost > MAX_PAYLOAD && !chunk.is_empty() {
            flush(&mut chunk, &mut out);
            size = server.len() + 32;
        }
        size += cost;
        chunk.push(change);
    }
    flush(&mut chunk, &mut out);
    out
}

/// How often each server says on [`CHANNEL`] that it is alive (its own
/// listener hears it too): a listening connection that heard nothing for
/// [`LISTEN_SILENCE`] is taken for dead and made again.
pub const BEAT: Duration = Duration::from_secs(10);

/// See [`BEAT`].
pub const LISTEN_SILENCE: Duration = Duration::from_secs(35);

/// When each change may next be passed on: the first of a change after a
/// quiet spell at once, the next ones at most once per its window
/// ([`WINDOW`]; [`READINGS_WINDOW`] for readings alone).
#[derive(Default)]
struct Schedule {
    /// Changes passed on within their window, and when.
    sent: HashMap<Change, tokio::time::Instant>,
    /// Changes waiting for their window to pass.
    waiting: HashSet<Change>,
}

impl Schedule {
    fn window(change: &Change) -> Duration {
        match change.topic {
            Topic::Readings => READINGS_WINDOW,
            _ => WINDOW,
        }
    }

    /// Adds `changes` and takes those that may go now.
    fn ready(&mut self, changes: Vec<Change>, now: tokio::time::Instant) -> Vec<Change> {
        self.waiting.extend(changes);
        let mut ready = Vec::new();
        let sent = &self.sent;
        self.waiting.retain(|change| {
            let free = sent
                .get(change)
                .is_none_or(|at| now >= *at + Self::window(change));
            if free {
                ready.push(change.clone());
            }
            !free
        });
        let readings = Change {
            topic: Topic::Readings,
            project: None,
        };
        if ready.iter().any(|c| c.topic == Topic::Projects) {
            // the projects table fetches its readings too
            ready.retain(|c| c.topic != Topic::Readings);
            self.waiting.remove(&readings);
            self.sent.insert(readings, now);
        }
        for change in &ready {
            self.sent.insert(change.clone(), now);
        }
        self.sent
            .retain(|change, at| now < *at + Self::window(change));
        ready
    }

    /// When the next waiting change may go (none: nothing waits).
    fn due(&self) -> Option<tokio::time::Instant> {
        self.waiting
            .iter()
            .filter_map(|change| self.sent.get(change).map(|at| *at + Self::window(change)))
            .min()
    }

    /// Everything was passed on (a `resync`): nothing waits.
    fn clear(&mut self) {
        self.waiting.clear();
    }
}

/// The coalescer: passes changes to this server's streams as they come, at
/// most once per change and window ([`Schedule`]), and on PostgreSQL tells
/// the other servers (`db`, as the server `me`), with a beat every
/// [`BEAT`]. Runs until `stop`.
pub async fn run(
    changes: Changes,
    db: DatabaseConnection,
    me: String,
    mut stop: watch::Receiver<bool>,
) {
    let postgres = db.get_database_backend() == DbBackend::Postgres;
    let mut schedule = Schedule::default();
    let mut beat = tokio::time::interval(BEAT);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // a NOTIFY failed: the others may have missed changes, and are told to
    // fetch everything at the next one that works
    let mut owed = false;
    loop {
        let due = schedule.due();
        let beating = tokio::select! {
            () = changes.inner.wake.notified() => false,
            () = sleep_until(due) => false,
            _ = beat.tick(), if postgres => true,
            _ = stop.changed() => return,
        };
        let now = tokio::time::Instant::now();
        let told = match changes.take() {
            None => {
                schedule.clear();
                changes.broadcast(Event::Resync);
                None
            }
            Some(list) => {
                let ready = schedule.ready(list, now);
                for change in &ready {
                    changes.broadcast(Event::Changed(change.clone()));
                }
                Some(ready)
            }
        };
        if !postgres {
            continue;
        }
        let sent = match told {
            _ if owed => payloads(&me, None),
            None => payloads(&me, None),
            Some(list) if !list.is_empty() => payloads(&me, Some(list)),
            Some(_) if beating => payloads(&me, Some(Vec::new())),
            Some(_) => Vec::new(),
        };
        let mut failed = false;
        for payload in sent {
            // the database is down or slow: the rest waits no longer
            if !notify(&db, &payload).await {
                failed = true;
                break;
            }
            owed = false;
        }
        owed |= failed;
    }
}

/// Sleeps until `at`; never wakes without one.
async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// One `NOTIFY`, best effort (false: it failed): a hint that does not reach
/// the others is caught up by their tabs at the next change or reconnect.
async fn notify(db: &DatabaseConnection, payload: &str) -> bool {
    let statement = Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_notify($1, $2)",
        [CHANNEL.into(), payload.into()],
    );
    match tokio::time::timeout(Duration::from_secs(2), db.execute_raw(statement)).await {
        Ok(Ok(_)) => true,
        Ok(Err(error)) => {
            tracing::debug!(%error, "could not tell the other servers of a change");
            false
        }
        Err(_) => {
            tracing::debug!("telling the other servers of a change took over 2 s");
            false
        }
    }
}

/// On PostgreSQL (`url`): listens on [`CHANNEL`] and passes the other
/// servers' changes to this server's streams (not to the coalescer, so
/// nothing is told twice). A lost connection is made again (1 s, doubling to
/// 30 s), and the tabs are told to `resync`: what was said meanwhile is
/// lost. Runs until `stop`; on SQLite it returns at once (one server).
pub async fn listen(changes: Changes, url: String, me: String, mut stop: watch::Receiver<bool>) {
    use sea_orm::sqlx::postgres::PgListener;
    if !(url.starts_with("postgres:") || url.starts_with("postgresql:")) {
        return;
    }
    let mut backoff = Duration::from_secs(1);
    loop {
        // a network that swallows packets must not hold this forever
        let connected = async {
            let mut listener = PgListener::connect(&url).await?;
            listener.listen(CHANNEL).await?;
            Ok::<_, sea_orm::sqlx::Error>(listener)
        };
        let connected = async {
            tokio::time::timeout(Duration::from_secs(10), connected)
                .await
                .unwrap_or_else(|_| {
                    Err(sea_orm::sqlx::Error::Io(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "no answer within 10 s",
                    )))
                })
        };
        let listener = tokio::select! {
            connected = connected => connected,
            _ = stop.changed() => return,
        };
        let mut listener = match listener {
            Ok(listener) => listener,
            Err(error) => {
                tracing::warn!(%error, "cannot listen for the other servers' changes; trying again in {} s", backoff.as_secs());
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    _ = stop.changed() => return,
                }
                backoff = (backoff * 2).min(Duration::from_secs(30));
                continue;
            }
        };
        backoff = Duration::from_secs(1);
        // what the others said while this server was not listening
        changes.broadcast(Event::Resync);
        loop {
            let received = tokio::select! {
                received = tokio::time::timeout(LISTEN_SILENCE, listener.try_recv()) => received,
                _ = stop.changed() => return,
            };
            // every server beats, this one too: silence means the
            // connection died without a word (a firewall dropped it)
            let Ok(received) = received else {
                tracing::warn!(
                    "heard nothing from the database for {} s; listening again",
                    LISTEN_SILENCE.as_secs()
                );
                break;
            };
            match received {
                Ok(Some(notification)) => {
                    let Ok(notice) = serde_json::from_str::<Notice>(notification.payload()) else {
                        continue;
                    };
                    if notice.server == me {
                        continue;
                    }
                    match notice.changes {
                        None => changes.broadcast(Event::Resync),
                        Some(list) => {
                            for change in list {
                                changes.broadcast(Event::Changed(change));
                            }
                        }
                    }
                }
                // the connection was lost and made again by sqlx
                Ok(None) => changes.broadcast(Event::Resync),
                Err(error) => {
                    tracing::warn!(%error, "lost the connection that listens for the other servers' changes");
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(project: &str) -> Change {
        Change {
            topic: Topic::Errors,
            project: Some(Arc::from(project)),
        }
    }

    #[test]
    fn changes_are_coalesced_and_only_errors_name_a_project() {
        let changes = Changes::new();
        changes.publish(Topic::Errors, Some("Shop"));
        changes.publish(Topic::Errors, Some("Shop"));
        changes.publish(Topic::Projects, Some("Shop"));
        changes.publish(Topic::Projects, None);
        let mut taken = changes.take().expect("no overflow");
        taken.sort_by_key(|c| format!("{c:?}"));
        assert_eq!(
            taken,
            vec![
                errors("Shop"),
                Change {
                    topic: Topic::Projects,
                    project: None
                }
            ]
        );
        assert_eq!(changes.take(), Some(Vec::new()));
    }

    fn projects(topic: Topic) -> Change {
        Change {
            topic,
            project: None,
        }
    }

    #[test]
    fn each_change_goes_at_once_then_once_per_window() {
        let t0 = tokio::time::Instant::now();
        let mut schedule = Schedule::default();
        assert_eq!(schedule.ready(vec![errors("A")], t0), vec![errors("A")]);
        assert_eq!(schedule.due(), None, "nothing waits");
        // A again within its window waits; B, never sent, goes at once
        let later = t0 + Duration::from_millis(100);
        assert_eq!(
            schedule.ready(vec![errors("A"), errors("B")], later),
            vec![errors("B")]
        );
        assert_eq!(schedule.due(), Some(t0 + WINDOW));
        assert_eq!(schedule.ready(Vec::new(), t0 + WINDOW), vec![errors("A")]);
        assert_eq!(schedule.due(), None);
    }

    #[test]
    fn readings_alone_wait_longer_and_go_with_the_projects() {
        let t0 = tokio::time::Instant::now();
        let mut schedule = Schedule::default();
        let readings = projects(Topic::Readings);
        assert_eq!(
            schedule.ready(vec![readings.clone()], t0),
            vec![readings.clone()]
        );
        let soon = t0 + WINDOW;
        assert!(schedule.ready(vec![readings.clone()], soon).is_empty());
        assert_eq!(schedule.due(), Some(t0 + READINGS_WINDOW));
        // a status change tells the projects table; the readings go with it
        assert_eq!(
            schedule.ready(vec![projects(Topic::Projects)], soon),
            vec![projects(Topic::Projects)]
        );
        assert_eq!(schedule.due(), None, "the readings were told");
    }

    #[test]
    fn too_many_pending_changes_become_one_resync() {
        let changes = Changes::new();
        for i in 0..=MAX_PENDING {
            changes.publish(Topic::Errors, Some(&format!("p{i}")));
        }
        assert_eq!(changes.take(), None, "everything, once");
        assert_eq!(changes.take(), Some(Vec::new()), "then back to normal");
    }

    #[test]
    fn payloads_stay_under_postgres_limit_and_keep_every_change() {
        let long = "ж".repeat(200);
        let list: Vec<Change> = (0..500).map(|i| errors(&format!("{long}{i}"))).collect();
        let sent = payloads("server-1", Some(list.clone()));
        assert!(sent.len() > 1);
        let mut back = Vec::new();
        for payload in &sent {
            assert!(payload.len() <= 8_000, "{} bytes", payload.len());
            let notice: Notice = serde_json::from_str(payload).expect("JSON");
            assert_eq!(notice.server, "server-1");
            back.extend(notice.changes.expect("changes"));
        }
        assert_eq!(back, list);
        assert_eq!(payloads("s", None).len(), 1);
    }
}
