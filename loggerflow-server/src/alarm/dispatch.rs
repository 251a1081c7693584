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

use sea_orm::DatabaseConnection;
use tokio::sync::watch;

use super::{AlarmMessage, Fields, Links, Outbound, Registry};
use crate::changes::{Changes, Topic};
use crate::store::alarm_events::{self, Claimed};
use crate::store::{StoreError, alarms, begin_write, groups, now_ms, payload, projects};

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

/// How events are delivered: the rate limit, the claim lease, and the
/// links messages carry.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// Messages per alarm and project per window.
    pub rate: RateLimit,
    /// How long a server's claim on an event lasts before another server
    /// may take the event over (the same on every server of a database).
    pub lease: Duration,
    /// Links to the dashboard (`--public-url`).
    pub links: Links,
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
            links: Links::default(),
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

fn time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Runs until `stop`: a round every `every`; `me` is this server's id
/// ([`crate::store::servers::new_id`]), the owner of its claims. A round
/// that claimed events or sent a digest tells `changes` (the alarms page's
/// history).
#[allow(clippy::too_many_arguments)]
pub async fn run(
    db: DatabaseConnection,
    me: String,
    registry: Registry,
    outbound: Outbound,
    delivery: Delivery,
    every: Duration,
    changes: Changes,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if let Err(error) = super::thresholds::evaluate(&db).await {
                    tracing::warn!(%error, "threshold evaluation failed");
                }
                let (changed, done) = round(&db, &registry, &outbound, &delivery, &me, &stop).await;
                // the history changed: events claimed, sent or failed, a digest
                if changed {
                    changes.publish(Topic::Alarms, None);
                }
                if let Err(error) = done {
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
    let row = alarms::get(db, alarm_id)
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
    let outcome = match tokio::time::timeout(timeout, &mut task.0).await {
        Ok(Ok(result)) => result,
        Ok(Err(join)) if join.is_panic() => Err("the alarm panicked".into()),
        Ok(Err(join)) => Err(join.to_string()),
        Err(_) => Err(format!(
            "the alarm timed out after {:.1} s",
            timeout.as_secs_f64()
        )),
    };
    // an error is shown on the alarms page and in the API: one short line,
    // whatever a channel (a custom one, a peer's answer) put in it
    outcome.map_err(|e| crate::markup::cut(&crate::markup::printable(&e), MAX_ERROR_CHARS))
}

/// The longest error an alarm's outcome keeps, in characters.
pub const MAX_ERROR_CHARS: usize = 500;

/// A spawned send, aborted when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<Result<(), String>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Events claimed in one statement (the rest wait for the next round, or
/// for another server). A server keeps its batch alive while it sends, so a
/// slow target holds the batch behind it; a smaller one would let a burst
/// outrun its digest (events still pending are not yet "held back").
const CLAIM_BATCH: u64 = 100;

/// How long a claim of an older server (which has no claim time) is left
/// to it after a newer server first sees it.
const OLDER_CLAIM_GRACE_MS: i64 = 15 * 60 * 1000;

async fn round(
    db: &DatabaseConnection,
    registry: &Registry,
    outbound: &Outbound,
    delivery: &Delivery,
    me: &str,
    stop: &watch::Receiver<bool>,
) -> (bool, Result<(), StoreError>) {
    let now = now_ms();
    // a claim without a time was made by a server of an older version,
    // which may still be sending its batch (up to 1,000 events, 15 s
    // each): it expires `OLDER_CLAIM_GRACE_MS` after it is first seen
    let adopted =
        alarm_events::adopt_untimed_claims(db, now + OLDER_CLAIM_GRACE_MS - delivery.lease_ms())
            .await;
    if let Err(error) = adopted {
        return (false, Err(error));
    }
    // pending events, and those whose claim expired (their server died or
    // hung); on PostgreSQL rows another server is claiming are skipped
    let claimed =
        match alarm_events::claim(db, me, now, now - delivery.lease_ms(), CLAIM_BATCH).await {
            Ok(claimed) => claimed,
            Err(error) => return (false, Err(error)),
        };
    // what the history shows changed: claimed events (now `sending`), a
    // digest sent
    let mut changed = !claimed.is_empty();
    let sent = async {
        // held-back alarms are summed up before anything newer goes out
        changed |= digests(db, registry, outbound, delivery, me).await?;
        for event in &claimed {
            // the server is stopping: no new send (the caller gives the
            // rest back)
            if *stop.borrow() {
                break;
            }
            if !reserve(db, event, delivery, me).await? {
                continue;
            }
            let delivered = deliver(db, registry, outbound, delivery, event).await;
            record(db, event.id, me, delivered).await?;
        }
        Ok::<(), StoreError>(())
    }
    .await;
    if sent.is_err() {
        // what this round claimed and did not start to send goes back
        release(db, me).await;
    }
    (changed, sent)
}

/// Gives back this server's claims on events it has not started to send
/// (stopping, or a failed round), so another server sends them at once
/// instead of after the lease. Best effort: a claim not given back expires.
pub(crate) async fn release(db: &DatabaseConnection, me: &str) {
    let released = alarm_events::release(db, me).await;
    if let Err(error) = released {
        tracing::warn!(%error, "could not give back alarm claims; they expire after the lease");
    }
}

/// Delivers one event through its alarm: from its renewed claim on, the
/// whole delivery (the lookups included) fits in half the lease, so its
/// owner is done before anyone may take it over.
async fn deliver(
    db: &DatabaseConnection,
    registry: &Registry,
    outbound: &Outbound,
    delivery: &Delivery,
    event: &Claimed,
) -> Result<(), String> {
    let timeout = delivery.send_timeout();
    tokio::time::timeout(timeout, async {
        let message = message(db, &delivery.links, event).await;
        send(db, registry, outbound, event.alarm_id, message, MAX_SEND).await
    })
    .await
    .unwrap_or_else(|_| {
        Err(format!(
            "the alarm timed out after {:.1} s",
            timeout.as_secs_f64()
        ))
    })
}

/// The message of `event`: its project's name, the link to the page it is
/// about, and the report's trace when it is about one (still stored).
async fn message(db: &DatabaseConnection, links: &Links, event: &Claimed) -> AlarmMessage {
    let project = projects::name(db, event.project_id)
        .await
        .unwrap_or_default();
    let report = event
        .report_id
        .as_deref()
        .and_then(|id| uuid::Uuid::parse_str(id).ok());
    let link = match (&report, event.trigger.as_str()) {
        (Some(id), _) => links.report(&project, id),
        (None, "digest") => links.alarms(),
        (None, _) => links.project(&project),
    };
    let trace = match report {
        Some(id) => trace(db, event.project_id, id).await,
        None => None,
    };
    AlarmMessage {
        project,
        trigger: event.trigger.clone(),
        message: crate::markup::printable(&event.message),
        time: time(event.created_ms),
        link,
        trace: trace.map(|t| crate::markup::printable(&t)),
    }
}

/// The stored report's trace as the dashboard's clean view shows it, cut at
/// [`super::MAX_TRACE_BYTES`]; none once the report is gone (retention).
async fn trace(db: &DatabaseConnection, project: i64, id: uuid::Uuid) -> Option<String> {
    let body = groups::report_body(db, project, id).await.ok()??;
    let report = payload::decode(&body).ok()?;
    let mut text =
        loggerflow_layer::trace::render::render(&report, loggerflow_layer::TraceMode::Clean);
    if text.len() > super::MAX_TRACE_BYTES {
        let mut end = super::MAX_TRACE_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str("\n…");
    }
    Some(text)
}

/// Decides whether `event` goes out now: true when it took a slot of its
/// alarm's rate (`sent_ms` is set: it counts for every server from now on)
/// and its claim was renewed; false when it joined the digest, or another
/// server took it over since the claim.
async fn reserve(
    db: &DatabaseConnection,
    event: &Claimed,
    delivery: &Delivery,
    me: &str,
) -> Result<bool, StoreError> {
    let txn = begin_write(db).await?;
    alarms::lock(&txn, event.alarm_id).await?;
    let now = now_ms();
    if !alarm_events::renew(&txn, event.id, me, now).await? {
        txn.commit().await?;
        return Ok(false);
    }
    // a live server keeps the rest of its batch too: slow sends before
    // them must not let their claims expire
    alarm_events::renew_all(&txn, me, now).await?;
    // a digest took its slot when it was made (this is a takeover)
    let go = if event.trigger == "digest" {
        true
    } else {
        let sent = alarm_events::sent_in_window(
            &txn,
            event.alarm_id,
            event.project_id,
            now - delivery.window_ms(),
            event.id,
        )
        .await?;
        // while some are held back, newer ones join them (order is kept)
        let held = alarm_events::held(&txn, event.alarm_id, event.project_id).await?;
        sent < delivery.rate.limit && held == 0
    };
    if go {
        alarm_events::take_slot(&txn, event.id, now).await?;
    } else {
        alarm_events::hold(&txn, event.id).await?;
        crate::telemetry::alarm_message("digested");
    }
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
    let (status, error) = match outcome {
        Ok(()) => ("sent", None),
        Err(e) => ("failed", Some(e)),
    };
    // an outcome not recorded is sent again by another server after the
    // lease: a database that fails once is tried again
    let mut attempt = 0;
    loop {
        let recorded = alarm_events::record(db, id, me, status, error.clone(), now_ms()).await;
        match recorded {
            Ok(_) => {
                crate::telemetry::alarm_message(status);
                return Ok(());
            }
            Err(e) if attempt >= 2 => return Err(e.into()),
            Err(_) => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// Sums up digested events once their alarm and project have room again:
/// the held events and the digest's own row (claimed by this server, with
/// its slot of the rate) are written in one transaction under the alarm's
/// lock, then the digest is sent like any event.
async fn digests(
    db: &DatabaseConnection,
    registry: &Registry,
    outbound: &Outbound,
    delivery: &Delivery,
    me: &str,
) -> Result<bool, StoreError> {
    let mut sent_any = false;
    for (alarm, project) in alarm_events::held_pairs(db).await? {
        // no room yet: nothing to lock (this runs every round while events
        // wait, and SQLite has one write lock for everything)
        let since = now_ms() - delivery.window_ms();
        if alarm_events::sent_in_window(db, alarm, project, since, -1).await? >= delivery.rate.limit
        {
            continue;
        }
        let txn = begin_write(db).await?;
        alarms::lock(&txn, alarm).await?;
        let now = now_ms();
        let sent =
            alarm_events::sent_in_window(&txn, alarm, project, now - delivery.window_ms(), -1)
                .await?;
        if sent >= delivery.rate.limit {
            txn.commit().await?;
            continue;
        }
        let summed = alarm_events::summarize(&txn, alarm, project).await?;
        if summed.is_empty() {
            txn.commit().await?;
            continue;
        }
        let mut triggers: BTreeMap<&str, usize> = BTreeMap::new();
        for trigger in &summed {
            *triggers.entry(trigger.as_str()).or_default() += 1;
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
        let digest = alarm_events::insert_digest(&txn, alarm, project, &text, me, now).await?;
        txn.commit().await?;
        let event = Claimed {
            id: digest,
            project_id: project,
            alarm_id: alarm,
            trigger: "digest".into(),
            message: text,
            created_ms: now,
            report_id: None,
        };
        let outcome = deliver(db, registry, outbound, delivery, &event).await;
        record(db, digest, me, outcome).await?;
        sent_any = true;
    }
    Ok(sent_any)
}
