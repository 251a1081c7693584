//! The login sessions that open event streams hang on: a stream ends when
//! its session does ([`SessionWatch`]).
//!
//! - A logout through this server tells the session's streams at once
//!   ([`SessionWatch::ended`]).
//! - Every [`CHECK_EVERY`] one task ([`SessionWatch::run`]) looks up whether
//!   the sessions of the open streams are still live, [`CHUNK`] to a query,
//!   and tells the same way of those that are not: a logout through another
//!   server, an expiry, a replaced database. A database that does not
//!   answer ends no stream; the next round looks again.
//!
//! A stream waits on its own session's `watch` channel ([`Watched::gone`]):
//! an ended session wakes only its own streams, nothing a stream does costs
//! the database, and waiting is cancel-safe.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use sea_orm::DatabaseConnection;
use tokio::sync::watch;

use crate::store::sessions;

/// How often the sessions of open streams are looked up.
pub const CHECK_EVERY: Duration = Duration::from_secs(15);
/// The longest one look-up may take (then the round is given up).
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);
/// Sessions looked up in one query at most.
const CHUNK: usize = 512;

/// The sessions of the open event streams, and the news of their ends
/// (cheap to clone).
#[derive(Clone, Default)]
pub struct SessionWatch {
    open: Arc<Mutex<HashMap<Arc<str>, Session>>>,
}

/// One watched session: its open streams, and whether it ended.
struct Session {
    streams: usize,
    ended: watch::Sender<bool>,
}

impl std::fmt::Debug for SessionWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionWatch")
            .field("sessions", &self.open().len())
            .finish_non_exhaustive()
    }
}

impl SessionWatch {
    fn open(&self) -> std::sync::MutexGuard<'_, HashMap<Arc<str>, Session>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Tells the streams of the session `key` that it ended.
    pub fn ended(&self, key: &str) {
        if let Some(session) = self.open().get(key) {
            session.ended.send_replace(true);
        }
    }

    /// Watches the session `key` for a stream, from now on: watch before
    /// checking that the session is live, so that a logout between the two
    /// is not missed.
    pub fn watch(&self, key: Arc<str>) -> Watched {
        let mut open = self.open();
        let session = open.entry(Arc::clone(&key)).or_insert_with(|| Session {
            streams: 0,
            ended: watch::channel(false).0,
        });
        session.streams += 1;
        Watched {
            ended: session.ended.subscribe(),
            key,
            watch: self.clone(),
        }
    }

    /// Every [`CHECK_EVERY`] until `stop` (which also cuts a round short):
    /// tells of the watched sessions that are no longer live.
    pub async fn run(self, db: DatabaseConnection, mut stop: watch::Receiver<bool>) {
        let mut tick =
            tokio::time::interval_at(tokio::time::Instant::now() + CHECK_EVERY, CHECK_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                _ = stop.changed() => return,
                _ = tick.tick() => {}
            }
            tokio::select! {
                biased;
                _ = stop.changed() => return,
                () = self.round(&db) => {}
            }
        }
    }

    /// Looks up every watched session once, [`CHUNK`] to a query.
    async fn round(&self, db: &DatabaseConnection) {
        let mut keys: Vec<Arc<str>> = self.open().keys().cloned().collect();
        if keys.is_empty() {
            return;
        }
        // a round cut short by a failing database does not always leave the
        // same sessions unchecked: it starts somewhere else each time
        let start = (uuid::Uuid::now_v7().as_u128() % keys.len() as u128) as usize;
        keys.rotate_left(start);
        for chunk in keys.chunks(CHUNK) {
            match tokio::time::timeout(CHECK_TIMEOUT, sessions::live(db, chunk)).await {
                Ok(Ok(live)) => {
                    for key in chunk.iter().filter(|k| !live.contains(&***k)) {
                        self.ended(key);
                    }
                }
                Ok(Err(error)) => {
                    tracing::warn!(%error, "could not look up the sessions of open event streams");
                    return;
                }
                Err(_) => {
                    tracing::warn!("looking up the sessions of open event streams timed out");
                    return;
                }
            }
        }
    }
}

/// One stream's watch on its session (it stops being watched when this is
/// dropped).
pub struct Watched {
    key: Arc<str>,
    ended: watch::Receiver<bool>,
    watch: SessionWatch,
}

impl Watched {
    /// Resolves when the session ended. Cancel-safe.
    pub async fn gone(&mut self) {
        // the sender lives as long as this stream is counted: an error
        // cannot happen, and would end the stream too
        let _ = self.ended.wait_for(|ended| *ended).await;
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        let mut open = self.watch.open();
        if let Some(session) = open.get_mut(&self.key) {
            session.streams -= 1;
            if session.streams == 0 {
                open.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_stream_hears_of_its_own_session_only_and_is_counted_while_open() {
        let watch = SessionWatch::default();
        let mut mine = watch.watch(Arc::from("a"));
        let other = watch.watch(Arc::from("b"));
        let same = watch.watch(Arc::from("a"));
        assert_eq!(watch.open().len(), 2);
        watch.ended("b");
        watch.ended("a");
        tokio::time::timeout(Duration::from_secs(1), mine.gone())
            .await
            .expect("told of its own session");
        drop(other);
        drop(mine);
        assert_eq!(watch.open().get("a").map(|s| s.streams), Some(1));
        drop(same);
        assert!(watch.open().is_empty());
    }

    #[tokio::test]
    async fn many_other_sessions_ending_wake_no_stream() {
        let watch = SessionWatch::default();
        let mut mine = watch.watch(Arc::from("a"));
        let others: Vec<Watched> = (0..1_000)
            .map(|n| watch.watch(Arc::from(format!("other-{n}"))))
            .collect();
        for n in 0..1_000 {
            watch.ended(&format!("other-{n}"));
        }
        assert!(
            tokio::time::timeout(Duration::from_millis(100), mine.gone())
                .await
                .is_err(),
            "a stream ended for other sessions"
        );
        drop(others);
        assert_eq!(watch.open().len(), 1);
        watch.ended("a");
        tokio::time::timeout(Duration::from_secs(1), mine.gone())
            .await
            .expect("told of its own session");
    }
}
