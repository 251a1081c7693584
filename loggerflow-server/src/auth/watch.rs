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
//! A stream waits on a broadcast receiver only ([`Watched::gone`]), so
//! nothing a stream does costs the database, and waiting is cancel-safe.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use sea_orm::DatabaseConnection;
use tokio::sync::{broadcast, watch};

use crate::store::sessions;

/// How often the sessions of open streams are looked up.
pub const CHECK_EVERY: Duration = Duration::from_secs(15);
/// The longest one look-up may take (then the round is given up).
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);
/// Sessions looked up in one query.
const CHUNK: usize = 500;
/// Ended sessions a stream may fall behind by before it ends anyway.
const ENDED_BUFFER: usize = 256;

/// The sessions of the open event streams, and the news of their ends
/// (cheap to clone).
#[derive(Clone)]
pub struct SessionWatch {
    inner: Arc<Inner>,
}

struct Inner {
    ended: broadcast::Sender<Arc<str>>,
    /// Open streams per session key.
    open: Mutex<HashMap<Arc<str>, usize>>,
}

impl Default for SessionWatch {
    fn default() -> Self {
        Self {
            inner: Arc::new(Inner {
                ended: broadcast::channel(ENDED_BUFFER).0,
                open: Mutex::new(HashMap::new()),
            }),
        }
    }
}

impl std::fmt::Debug for SessionWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionWatch")
            .field("sessions", &self.open().len())
            .finish_non_exhaustive()
    }
}

impl SessionWatch {
    fn open(&self) -> std::sync::MutexGuard<'_, HashMap<Arc<str>, usize>> {
        self.inner
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Tells the streams of the session `key` that it ended.
    pub fn ended(&self, key: &str) {
        // no stream listening is fine
        let _ = self.inner.ended.send(Arc::from(key));
    }

    /// Watches the session `key` for a stream, from now on: subscribe
    /// before checking that the session is live, so that a logout between
    /// the two is not missed.
    pub fn watch(&self, key: Arc<str>) -> Watched {
        *self.open().entry(Arc::clone(&key)).or_default() += 1;
        Watched {
            ended: self.inner.ended.subscribe(),
            key,
            watch: self.clone(),
        }
    }

    /// Every [`CHECK_EVERY`] until `stop`: tells of the watched sessions
    /// that are no longer live.
    pub async fn run(self, db: DatabaseConnection, mut stop: watch::Receiver<bool>) {
        let mut tick =
            tokio::time::interval_at(tokio::time::Instant::now() + CHECK_EVERY, CHECK_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => return,
            }
            let keys: Vec<Arc<str>> = self.open().keys().cloned().collect();
            for chunk in keys.chunks(CHUNK) {
                match tokio::time::timeout(CHECK_TIMEOUT, sessions::live(&db, chunk)).await {
                    Ok(Ok(live)) => {
                        for key in chunk.iter().filter(|k| !live.contains(&***k)) {
                            self.ended(key);
                        }
                    }
                    Ok(Err(error)) => {
                        tracing::warn!(%error, "could not look up the sessions of open event streams");
                        break;
                    }
                    Err(_) => {
                        tracing::warn!("looking up the sessions of open event streams timed out");
                        break;
                    }
                }
            }
        }
    }
}

/// One stream's watch on its session (it stops being watched when this is
/// dropped).
pub struct Watched {
    key: Arc<str>,
    ended: broadcast::Receiver<Arc<str>>,
    watch: SessionWatch,
}

impl Watched {
    /// Resolves when the session ended, or when the stream fell so far
    /// behind the news of ended sessions that it may have missed its own
    /// (it ends too: the browser's next stream has its login checked).
    /// Cancel-safe.
    pub async fn gone(&mut self) {
        loop {
            match self.ended.recv().await {
                Ok(key) if *key == *self.key => return,
                Ok(_) => {}
                Err(_) => return,
            }
        }
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        let mut open = self.watch.open();
        if let Some(n) = open.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
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
        assert_eq!(watch.open().get("a").copied(), Some(1));
        drop(same);
        assert!(watch.open().is_empty());
    }

    #[tokio::test]
    async fn a_stream_that_falls_behind_ends() {
        let watch = SessionWatch::default();
        let mut mine = watch.watch(Arc::from("a"));
        for n in 0..=ENDED_BUFFER {
            watch.ended(&format!("other-{n}"));
        }
        tokio::time::timeout(Duration::from_secs(1), mine.gone())
            .await
            .expect("lagged: ended");
    }
}
