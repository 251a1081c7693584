//! The dispatcher: claims pending alarm events, rate-limits them, sends,
//! and records the outcome.
//!
//! Several server processes may share a PostgreSQL database:
//!
//! - **Claims** are one `UPDATE … RETURNING` that marks events `sending`
//!   with who claimed them and when, so each event has one owner. A claim is
//!   a lease ([`Delivery::lease`]): an event still `sending` when its claim
//!   is older than that (its server died, or hung) is claimed again by
//!   another server, which notes whose claim it took over
//!   (`taken_over_from`, shown in the history). A server renews its claim
//!   just before it sends, and sends within half the lease, so a live owner
//!   is not overtaken.
//! - **Rate limits** are counted in the database: per alarm and project at
//!   most `limit` messages go out in any `window`, counting those sent and
//!   those in flight on any server. The decision to send is taken under a
//!   lock of the alarm's row (PostgreSQL; SQLite's write transactions are
//!   serial anyway), so two servers cannot both take the last slot. The
//!   rest are marked `digested` and summed up in one digest message once
//!   the window has room again. A flapping app therefore produces a bounded
//!   number of messages.

use std::collections::BTreeMap;
use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, FromQueryResult};
use tokio::sync::watch;

use super::{AlarmMessage, Fields, Outbound, Registry};
use crate::store::{StoreError, begin_write, now_ms, sql};

/// How alarms are rate-limited.
#[derive(Debug, Clone, Copy)]
pub struct RateLimit {
    /// Messages per alarm and project…
    pub limit: i64,
    /// …in this window.
    pub window: Duration,
}

impl Default for RateLimit {
    fn default() -> Self {
        Self {
            limit: 5,
            window: Duration::from_secs(600),
        }
    }
}

/// How events are delivered: the rate limit and the claim lease.
#[derive(Debug, Clone, Copy)]
pub struct Delivery {
    /// Messages per alarm and project per window.
    pub rate: RateLimit,
    /// How long a server's claim on an event lasts before another server
    /// may take the event over (the same on every server of a database).
    pub lease: Duration,
}

/// The default claim lease: a minute.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);

/// The longest one message may take.
pub const MAX_SEND: Duration = Duration::from_secs(15);

/// The shortest lease (a shorter one is taken as this).
pub const MIN_LEASE: Duration = Duration::from_secs(2);

impl Default for Delivery {
    fn default() -> Self {
        Self {
            rate: RateLimit::default(),
            lease: DEFAULT_LEASE,
        }
    }
}

impl Delivery {
    /// How long one message may take: at most 15 s, and at most half the
    /// lease, so a live owner always finishes before its claim can be
    /// taken over.
    pub fn send_timeout(&self) -> Duration {
        (self.lease() / 2).min(MAX_SEND)
    }

    /// The lease, at least [`MIN_LEASE`].
    fn lease(&self) -> Duration {
        self.lease.max(MIN_LEASE)
    }

    fn lease_ms(&self) -> i64 {
        i64::try_from(self.lease().as_millis()).unwrap_or(i64::MAX)
    }

    fn window_ms(&self) -> i64 {
        i64::try_from(self.rate.window.as_millis()).unwrap_or(i64::MAX)
    }
}

#[derive(Debug, FromQueryResult)]
struct Claimed {
    id: i64,
    project_id: i64,
    alarm_id: i64,
    trigger: String,
    message: String,
    created_ms: i64,
}

#[derive(Debug, FromQueryResult)]
struct AlarmRow {
    kind: String,
    fields: String,
}

#[derive(Debug, FromQueryResult)]
struct Name {
    name: String,
}

#[derive(Debug, FromQueryResult)]
struct Count {
    n: i64,
}

fn time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Runs until `stop`: a round every `every`; `me` is this server's id
/// ([`crate::store::servers::new_id`]), the owner of its claims.
pub async fn run(
    db: DatabaseConnection,
    me: String,
    registry: Registry,
    outbound: Outbound,
    delivery: Delivery,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if let Err(error) = super::thresholds::evaluate(&db).await {
                    tracing::warn!(%error, "threshold evaluation failed");
                }
                if let Err(error) = round(&db, &registry, &outbound, delivery, &me, &stop).await {
                    tracing::warn!(%error, "alarm dispatch failed");
                }
                if *stop.borrow() {
                    // the round stopped before its next send: what it
                    // claimed and did not start goes back at once
                    release(&db, &me).await;
                    return;
                }
            }
            _ = stop.changed() => {
                release(&db, &me).await;
                return;
            }
        }
    }
}

/// Sends `message` through the alarm `alarm_id` within `timeout`; the error
/// text on failure. A custom alarm that panics or hangs fails only its own
/// message.
pub async fn send(
    db: &DatabaseConnection,
    registry: &Registry,
    outbound: &Outbound,
    alarm_id: i64,
    message: AlarmMessage,
    timeout: Duration,
) -> Result<(), String> {
    let backend = db.get_database_backend();
    let row = AlarmRow::find_by_statement(sql(
        backend,
        "SELECT kind, fields FROM alarms WHERE id = $1",
        [alarm_id.into()],
    ))
    .one(db)
    .await
    .map_err(|e| e.to_string())?
    .ok_or("the alarm was deleted")?;
    let kind = registry
        .get(&row.kind)
        .ok_or_else(|| format!("no alarm kind `{}` in this server", row.kind))?;
    let fields: Fields = serde_json::from_str(&row.fields).map_err(|e| e.to_string())?;
    let channel = kind.build(&fields, outbound)?;
    // aborted when this returns or is dropped (the caller's deadline): it
    // must not deliver after that, since another server may send it then
    let mut task = AbortOnDrop(tokio::spawn(async move { channel.send(&message).await }));
    match tokio::time::timeout(timeout, &mut task.0).await {
        Ok(Ok(result)) => result,
        Ok(Err(join)) if join.is_panic() => Err("the alarm panicked".into()),
        Ok(Err(join)) => Err(join.to_string()),
        Err(_) => Err(format!(
            "the alarm timed out after {:.1} s",
            timeout.as_secs_f64()
        )),
    }
}

/// A spawned send, aborted when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<Result<(), String>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn project_name(db: &DatabaseConnection, id: i64) -> String {
    Name::find_by_statement(sql(
        db.get_database_backend(),
        "SELECT name FROM projects WHERE id = $1",
        [id.into()],
    ))
    .one(db)
    .await
    .ok()
    .flatten()
    .map(|n| n.name)
    .unwrap_or_default()
}

/// Events claimed in one statement (the rest wait for the next round, or
/// for another server). A server keeps its batch alive while it sends, so a
/// slow target holds the batch behind it; a smaller one would let a burst
/// outrun its digest (events still pending are not yet "held back").
const CLAIM_BATCH: i64 = 100;

/// How long a claim of an older server (which has no claim time) is left
/// to it after a newer server first sees it.
const OLDER_CLAIM_GRACE_MS: i64 = 15 * 60 * 1000;

async fn round(
    db: &DatabaseConnection,
    registry: &Registry,
    outbound: &Outbound,
    delivery: Delivery,
    me: &str,
    stop: &watch::Receiver<bool>,
) -> Result<(), StoreError> {
    let backend = db.get_database_backend();
    let now = now_ms();
    // a claim without a time was made by a server of an older version,
    // which may still be sending its batch (up to 1,000 events, 15 s
    // each): it expires `OLDER_CLAIM_GRACE_MS` after it is first seen
    db.execute_raw(sql(
        backend,
        "UPDATE alarm_events SET claimed_ms = $1 WHERE status = 'sending' AND claimed_ms IS NULL",
        [(now + OLDER_CLAIM_GRACE_MS - delivery.lease_ms()).into()],
    ))
    .await?;
    // pending events, and those whose claim expired (their server died or
    // hung); the condition is repeated outside the subquery so that a
    // concurrent claimer re-checks it on the rows it waited for, and on
    // PostgreSQL rows another server is claiming are skipped, not waited for
    let claimable = "(status = 'pending' OR (status = 'sending' AND claimed_ms < $3))";
    let skip_locked = if backend == DbBackend::Postgres {
        " FOR UPDATE SKIP LOCKED"
    } else {
        ""
    };
    // a digest taken over keeps its slot of the rate (it took it when it
    // was made); other events take theirs again in `reserve`
    let mut claimed = Claimed::find_by_statement(sql(
        backend,
        &format!(
            "UPDATE alarm_events SET \
             taken_over_from = CASE WHEN status = 'sending' THEN claimed_by ELSE taken_over_from END, \
             sent_ms = CASE WHEN \"trigger\" = 'digest' THEN sent_ms ELSE NULL END, \
             status = 'sending', claimed_by = $1, claimed_ms = $2 \
             WHERE {claimable} AND id IN \
             (SELECT id FROM alarm_events WHERE {claimable} ORDER BY id LIMIT $4{skip_locked}) \
             RETURNING id, project_id, alarm_id, \"trigger\", message, created_ms"
        ),
        [
            me.into(),
            now.into(),
            (now - delivery.lease_ms()).into(),
            CLAIM_BATCH.into(),
        ],
    ))
    .all(db)
    .await?;
    claimed.sort_by_key(|c| c.id);
    let sent = async {
        // held-back alarms are summed up before anything newer goes out
        digests(db, registry, outbound, delivery, me).await?;
        for event in &claimed {
            // the server is stopping: no new send (the caller gives the
            // rest back)
            if *stop.borrow() {
                break;
            }
            if !reserve(db, event, delivery, me).await? {
                continue;
            }
            let delivered = deliver(
                db,
                registry,
                outbound,
                delivery,
                event.alarm_id,
                event.project_id,
                &event.trigger,
                event.message.clone(),
                event.created_ms,
            )
            .await;
            record(db, event.id, me, delivered).await?;
        }
        Ok::<(), StoreError>(())
    }
    .await;
    if sent.is_err() {
        // what this round claimed and did not start to send goes back
        release(db, me).await;
    }
    sent
}

/// Gives back this server's claims on events it has not started to send
/// (stopping, or a failed round), so another server sends them at once
/// instead of after the lease. Best effort: a claim not given back expires.
pub(crate) async fn release(db: &DatabaseConnection, me: &str) {
    let released = db
        .execute_raw(sql(
            db.get_database_backend(),
            "UPDATE alarm_events SET status = 'pending', claimed_by = NULL, claimed_ms = NULL \
             WHERE claimed_by = $1 AND status = 'sending' AND sent_ms IS NULL",
            [me.into()],
        ))
        .await;
    if let Err(error) = released {
        tracing::warn!(%error, "could not give back alarm claims; they expire after the lease");
    }
}

/// Delivers one event through `alarm`: from its renewed claim on, the whole
/// delivery (the lookups included) fits in half the lease, so its owner is
/// done before anyone may take it over.
#[allow(clippy::too_many_arguments)]
async fn deliver(
    db: &DatabaseConnection,
    registry: &Registry,
    outbound: &Outbound,
    delivery: Delivery,
    alarm: i64,
    project: i64,
    trigger: &str,
    message: String,
    created_ms: i64,
) -> Result<(), String> {
    let timeout = delivery.send_timeout();
    tokio::time::timeout(timeout, async {
        let message = AlarmMessage {
            project: project_name(db, project).await,
            trigger: trigger.to_owned(),
            message,
            time: time(created_ms),
        };
        send(db, registry, outbound, alarm, message, MAX_SEND).await
    })
    .await
    .unwrap_or_else(|_| {
        Err(format!(
            "the alarm timed out after {:.1} s",
            timeout.as_secs_f64()
        ))
    })
}

/// Takes the lock the rate decision of `alarm` is made under, until the
/// transaction ends (PostgreSQL: its row, `FOR UPDATE`; SQLite's write
/// transaction holds the whole database already).
async fn lock_alarm<C: ConnectionTrait>(txn: &C, alarm: i64) -> Result<(), StoreError> {
    if txn.get_database_backend() == DbBackend::Postgres {
        txn.query_one_raw(sql(
            DbBackend::Postgres,
            "SELECT id FROM alarms WHERE id = $1 FOR UPDATE",
            [alarm.into()],
        ))
        .await?;
    }
    Ok(())
}

/// Messages of `alarm` and `project` sent in the window, or in flight
/// (reserved) on any server, besides the event `except`.
async fn sent_in_window<C: ConnectionTrait>(
    conn: &C,
    alarm: i64,
    project: i64,
    since_ms: i64,
    except: i64,
) -> Result<i64, StoreError> {
    Ok(Count::find_by_statement(sql(
        conn.get_database_backend(),
        "SELECT COUNT(*) AS n FROM alarm_events WHERE alarm_id = $1 AND project_id = $2 \
         AND status IN ('sent', 'sending') AND sent_ms > $3 AND id <> $4",
        [alarm.into(), project.into(), since_ms.into(), except.into()],
    ))
    .one(conn)
    .await?
    .map_or(0, |c| c.n))
}

/// Decides whether `event` goes out now: true when it took a slot of its
/// alarm's rate (`sent_ms` is set: it counts for every server from now on)
/// and its claim was renewed; false when it joined the digest, or another
/// server took it over since the claim.
async fn reserve(
    db: &DatabaseConnection,
    event: &Claimed,
    delivery: Delivery,
    me: &str,
) -> Result<bool, StoreError> {
    let backend = db.get_database_backend();
    let txn = begin_write(db).await?;
    lock_alarm(&txn, event.alarm_id).await?;
    let now = now_ms();
    let renewed = txn
        .execute_raw(sql(
            backend,
            "UPDATE alarm_events SET claimed_ms = $3 \
             WHERE id = $1 AND claimed_by = $2 AND status = 'sending'",
            [event.id.into(), me.into(), now.into()],
        ))
        .await?
        .rows_affected();
    if renewed == 0 {
        txn.commit().await?;
        return Ok(false);
    }
    // a live server keeps the rest of its batch too: slow sends before
    // them must not let their claims expire
    txn.execute_raw(sql(
        backend,
        "UPDATE alarm_events SET claimed_ms = $2 \
         WHERE claimed_by = $1 AND status = 'sending' AND sent_ms IS NULL",
        [me.into(), now.into()],
    ))
    .await?;
    // a digest took its slot when it was made (this is a takeover)
    let go = if event.trigger == "digest" {
        true
    } else {
        let sent = sent_in_window(
            &txn,
            event.alarm_id,
            event.project_id,
            now - delivery.window_ms(),
            event.id,
        )
        .await?;
        // while some are held back, newer ones join them (order is kept)
        let held = Count::find_by_statement(sql(
            backend,
            "SELECT COUNT(*) AS n FROM alarm_events WHERE alarm_id = $1 AND project_id = $2 \
             AND status = 'digested'",
            [event.alarm_id.into(), event.project_id.into()],
        ))
        .one(&txn)
        .await?
        .map_or(0, |c| c.n);
        sent < delivery.rate.limit && held == 0
    };
    let statement = if go {
        "UPDATE alarm_events SET sent_ms = $2 WHERE id = $1"
    } else {
        "UPDATE alarm_events SET status = 'digested' WHERE id = $1"
    };
    txn.execute_raw(sql(backend, statement, [event.id.into(), now.into()]))
        .await?;
    txn.commit().await?;
    Ok(go)
}

/// Records how the send of `id` went, unless another server took the event
/// over meanwhile (its outcome is the one recorded then).
async fn record(
    db: &DatabaseConnection,
    id: i64,
    me: &str,
    outcome: Result<(), String>,
) -> Result<(), StoreError> {
    let backend = db.get_database_backend();
    let (status, error) = match outcome {
        Ok(()) => ("sent", None),
        Err(e) => ("failed", Some(e)),
    };
    // an outcome not recorded is sent again by another server after the
    // lease: a database that fails once is tried again
    let mut attempt = 0;
    loop {
        let recorded = db
            .execute_raw(sql(
                backend,
                "UPDATE alarm_events SET status = $2, sent_ms = $3, error = $4 \
                 WHERE id = $1 AND claimed_by = $5 AND status = 'sending'",
                [
                    id.into(),
                    status.into(),
                    now_ms().into(),
                    error.clone().into(),
                    me.into(),
                ],
            ))
            .await;
        match recorded {
            Ok(_) => return Ok(()),
            Err(e) if attempt >= 2 => return Err(e.into()),
            Err(_) => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

#[derive(Debug, FromQueryResult)]
struct Held {
    alarm_id: i64,
    project_id: i64,
}

#[derive(Debug, FromQueryResult)]
struct Summarized {
    trigger: String,
}

#[derive(Debug, FromQueryResult)]
struct Inserted {
    id: i64,
}

/// Sums up digested events once their alarm and project have room again:
/// the held events and the digest's own row (claimed by this server, with
/// its slot of the rate) are written in one transaction under the alarm's
/// lock, then the digest is sent like any event.
async fn digests(
    db: &DatabaseConnection,
    registry: &Registry,
    outbound: &Outbound,
    delivery: Delivery,
    me: &str,
) -> Result<(), StoreError> {
    let backend = db.get_database_backend();
    let held = Held::find_by_statement(sql(
        backend,
        "SELECT DISTINCT alarm_id, project_id FROM alarm_events WHERE status = 'digested'",
        [],
    ))
    .all(db)
    .await?;
    for Held {
        alarm_id: alarm,
        project_id: project,
    } in held
    {
        // no room yet: nothing to lock (this runs every round while events
        // wait, and SQLite has one write lock for everything)
        let since = now_ms() - delivery.window_ms();
        if sent_in_window(db, alarm, project, since, -1).await? >= delivery.rate.limit {
            continue;
        }
        let txn = begin_write(db).await?;
        lock_alarm(&txn, alarm).await?;
        let now = now_ms();
        let sent = sent_in_window(&txn, alarm, project, now - delivery.window_ms(), -1).await?;
        if sent >= delivery.rate.limit {
            txn.commit().await?;
            continue;
        }
        let summed = Summarized::find_by_statement(sql(
            backend,
            "UPDATE alarm_events SET status = 'summarized' \
             WHERE alarm_id = $1 AND project_id = $2 AND status = 'digested' \
             RETURNING \"trigger\"",
            [alarm.into(), project.into()],
        ))
        .all(&txn)
        .await?;
        if summed.is_empty() {
            txn.commit().await?;
            continue;
        }
        let mut triggers: BTreeMap<&str, usize> = BTreeMap::new();
        for row in &summed {
            *triggers.entry(row.trigger.as_str()).or_default() += 1;
        }
        let parts: Vec<String> = triggers.iter().map(|(t, n)| format!("{t} ×{n}")).collect();
        let secs = delivery.rate.window.as_secs();
        let window = if secs.is_multiple_of(60) {
            format!("{} min", secs / 60)
        } else {
            format!("{secs} s")
        };
        let text = format!(
            "{} more alarm(s) were held back by the rate limit ({} per {window}): {}",
            summed.len(),
            delivery.rate.limit,
            parts.join(", ")
        );
        let digest = Inserted::find_by_statement(sql(
            backend,
            "INSERT INTO alarm_events (project_id, alarm_id, \"trigger\", message, created_ms, \
             status, claimed_by, claimed_ms, sent_ms) \
             VALUES ($1, $2, 'digest', $3, $4, 'sending', $5, $4, $4) RETURNING id",
            [
                project.into(),
                alarm.into(),
                text.clone().into(),
                now.into(),
                me.into(),
            ],
        ))
        .one(&txn)
        .await?
        .ok_or_else(|| StoreError::Other("the digest was not inserted".into()))?;
        txn.commit().await?;
        let outcome = deliver(
            db, registry, outbound, delivery, alarm, project, "digest", text, now,
        )
        .await;
        record(db, digest.id, me, outcome).await?;
    }
    Ok(())
}
