//! The dispatcher: claims pending alarm events, rate-limits them, sends,
//! and records the outcome.
//!
//! Claiming is one `UPDATE … WHERE status = 'pending' … RETURNING`, so when
//! several server processes share a PostgreSQL database each event is sent
//! by exactly one of them. Per alarm and project at most `limit` messages go
//! out in any `window`; the rest are marked `digested` and summed up in one
//! digest message once the window has room again. A flapping app therefore
//! produces a bounded number of messages.

use std::collections::BTreeMap;
use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseConnection, FromQueryResult};
use tokio::sync::watch;

use super::{AlarmMessage, Fields, Outbound, Registry};
use crate::store::{StoreError, now_ms, sql};

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

#[derive(Debug, FromQueryResult)]
struct Digested {
    alarm_id: i64,
    project_id: i64,
    trigger: String,
    n: i64,
}

fn time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Runs until `stop`: a round every `every`.
pub async fn run(
    db: DatabaseConnection,
    registry: Registry,
    outbound: Outbound,
    rate: RateLimit,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let me = format!(
        "{}-{}",
        std::process::id(),
        loggerflow_layer::ReportId::new()
    );
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if let Err(error) = super::thresholds::evaluate(&db).await {
                    tracing::warn!(%error, "threshold evaluation failed");
                }
                if let Err(error) = round(&db, &registry, &outbound, rate, &me).await {
                    tracing::warn!(%error, "alarm dispatch failed");
                }
            }
            _ = stop.changed() => return,
        }
    }
}

/// Sends `message` through the alarm `alarm_id`; the error text on failure.
/// A custom alarm that panics or hangs fails only its own message.
pub async fn send(
    db: &DatabaseConnection,
    registry: &Registry,
    outbound: &Outbound,
    alarm_id: i64,
    message: AlarmMessage,
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
    let task = tokio::spawn(async move { channel.send(&message).await });
    match tokio::time::timeout(Duration::from_secs(15), task).await {
        Ok(Ok(result)) => result,
        Ok(Err(join)) if join.is_panic() => Err("the alarm panicked".into()),
        Ok(Err(join)) => Err(join.to_string()),
        Err(_) => Err("the alarm timed out after 15 s".into()),
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

async fn round(
    db: &DatabaseConnection,
    registry: &Registry,
    outbound: &Outbound,
    rate: RateLimit,
    me: &str,
) -> Result<(), StoreError> {
    let backend = db.get_database_backend();
    let claimed = Claimed::find_by_statement(sql(
        backend,
        "UPDATE alarm_events SET status = 'sending', claimed_by = $1 \
         WHERE status = 'pending' AND id IN (SELECT id FROM alarm_events WHERE status = 'pending' ORDER BY id LIMIT 1000) \
         RETURNING id, project_id, alarm_id, \"trigger\", message, created_ms",
        [me.into()],
    ))
    .all(db)
    .await?;
    let window_ms = i64::try_from(rate.window.as_millis()).unwrap_or(i64::MAX);
    // held-back alarms are summed up before anything newer goes out
    digests(db, registry, outbound, rate, window_ms).await?;
    let mut claimed = claimed;
    claimed.sort_by_key(|c| c.id);
    for event in claimed {
        let sent = Count::find_by_statement(sql(
            backend,
            "SELECT COUNT(*) AS n FROM alarm_events WHERE alarm_id = $1 AND project_id = $2 \
             AND status = 'sent' AND sent_ms > $3",
            [
                event.alarm_id.into(),
                event.project_id.into(),
                (now_ms() - window_ms).into(),
            ],
        ))
        .one(db)
        .await?
        .map_or(0, |c| c.n);
        // while some are held back, newer ones join them (order is kept)
        let held = Count::find_by_statement(sql(
            backend,
            "SELECT COUNT(*) AS n FROM alarm_events WHERE alarm_id = $1 AND project_id = $2 AND status = 'digested'",
            [event.alarm_id.into(), event.project_id.into()],
        ))
        .one(db)
        .await?
        .map_or(0, |c| c.n);
        if sent >= rate.limit || held > 0 {
            db.execute_raw(sql(
                backend,
                "UPDATE alarm_events SET status = 'digested' WHERE id = $1",
                [event.id.into()],
            ))
            .await?;
            continue;
        }
        let message = AlarmMessage {
            project: project_name(db, event.project_id).await,
            trigger: event.trigger.clone(),
            message: event.message.clone(),
            time: time(event.created_ms),
        };
        let outcome = send(db, registry, outbound, event.alarm_id, message).await;
        record(db, event.id, outcome).await?;
    }
    Ok(())
}

async fn record(
    db: &DatabaseConnection,
    id: i64,
    outcome: Result<(), String>,
) -> Result<(), StoreError> {
    let backend = db.get_database_backend();
    let (status, error) = match outcome {
        Ok(()) => ("sent", None),
        Err(e) => ("failed", Some(e)),
    };
    db.execute_raw(sql(
        backend,
        "UPDATE alarm_events SET status = $2, sent_ms = $3, error = $4 WHERE id = $1",
        [id.into(), status.into(), now_ms().into(), error.into()],
    ))
    .await?;
    Ok(())
}

/// Sums up digested events once their alarm and project have room again.
async fn digests(
    db: &DatabaseConnection,
    registry: &Registry,
    outbound: &Outbound,
    rate: RateLimit,
    window_ms: i64,
) -> Result<(), StoreError> {
    let backend = db.get_database_backend();
    let rows = Digested::find_by_statement(sql(
        backend,
        "SELECT alarm_id, project_id, \"trigger\", COUNT(*) AS n FROM alarm_events \
         WHERE status = 'digested' GROUP BY alarm_id, project_id, \"trigger\"",
        [],
    ))
    .all(db)
    .await?;
    let mut groups: BTreeMap<(i64, i64), Vec<(String, i64)>> = BTreeMap::new();
    for row in rows {
        groups
            .entry((row.alarm_id, row.project_id))
            .or_default()
            .push((row.trigger, row.n));
    }
    for ((alarm, project), triggers) in groups {
        let sent = Count::find_by_statement(sql(
            backend,
            "SELECT COUNT(*) AS n FROM alarm_events WHERE alarm_id = $1 AND project_id = $2 \
             AND status = 'sent' AND sent_ms > $3",
            [alarm.into(), project.into(), (now_ms() - window_ms).into()],
        ))
        .one(db)
        .await?
        .map_or(0, |c| c.n);
        if sent >= rate.limit {
            continue;
        }
        // claim them first: another process may be summing them up too
        let claimed = db
            .execute_raw(sql(
                backend,
                "UPDATE alarm_events SET status = 'summarized' WHERE alarm_id = $1 AND project_id = $2 AND status = 'digested'",
                [alarm.into(), project.into()],
            ))
            .await?
            .rows_affected();
        if claimed == 0 {
            continue;
        }
        let total: i64 = triggers.iter().map(|(_, n)| n).sum();
        let parts: Vec<String> = triggers.iter().map(|(t, n)| format!("{t} ×{n}")).collect();
        let secs = rate.window.as_secs();
        let window = if secs.is_multiple_of(60) {
            format!("{} min", secs / 60)
        } else {
            format!("{secs} s")
        };
        let text = format!(
            "{total} more alarm(s) were held back by the rate limit ({} per {window}): {}",
            rate.limit,
            parts.join(", ")
        );
        let now = now_ms();
        let message = AlarmMessage {
            project: project_name(db, project).await,
            trigger: "digest".into(),
            message: text.clone(),
            time: time(now),
        };
        let outcome = send(db, registry, outbound, alarm, message).await;
        let (status, error) = match outcome {
            Ok(()) => ("sent", None),
            Err(e) => ("failed", Some(e)),
        };
        db.execute_raw(sql(
            backend,
            "INSERT INTO alarm_events (project_id, alarm_id, \"trigger\", message, created_ms, status, sent_ms, error) \
             VALUES ($1, $2, 'digest', $3, $4, $5, $4, $6)",
            [project.into(), alarm.into(), text.into(), now.into(), status.into(), error.into()],
        ))
        .await?;
    }
    Ok(())
}
