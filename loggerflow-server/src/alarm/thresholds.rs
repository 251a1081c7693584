//! Threshold triggers: a project's process CPU % or process memory above a
//! level for a whole window fires `cpu_high` / `memory_high` once; falling
//! back below fires the same trigger once more as a recovery.
//!
//! The "hot" state lives in the connection row and flips with a conditional
//! `UPDATE`, in the transaction that queues the event: once per change,
//! whatever number of servers evaluate it.

use sea_orm::{ConnectionTrait, DatabaseConnection, FromQueryResult};

use crate::store::{StoreError, now_ms, sql};

#[derive(FromQueryResult)]
struct Watch {
    id: i64,
    project_id: i64,
    cpu_above: Option<f64>,
    memory_above_bytes: Option<i64>,
    for_seconds: i64,
    cpu_hot: bool,
    memory_hot: bool,
}

#[derive(FromQueryResult)]
struct Stamp {
    t: Option<i64>,
}

#[derive(FromQueryResult)]
struct Latest {
    value: f64,
}

/// The readings watched: (trigger, metric column, threshold, hot column).
fn watched(w: &Watch) -> Vec<(&'static str, &'static str, f64, bool, &'static str)> {
    let mut list = Vec::new();
    if let Some(cpu) = w.cpu_above {
        list.push(("cpu_high", "process_cpu_percent", cpu, w.cpu_hot, "cpu_hot"));
    }
    if let Some(memory) = w.memory_above_bytes {
        list.push((
            "memory_high",
            "process_memory_bytes",
            memory as f64,
            w.memory_hot,
            "memory_hot",
        ));
    }
    list
}

/// One evaluation of every threshold connection.
pub async fn evaluate(db: &DatabaseConnection) -> Result<(), StoreError> {
    let backend = db.get_database_backend();
    let watches = Watch::find_by_statement(sql(
        backend,
        "SELECT id, project_id, cpu_above, memory_above_bytes, for_seconds, cpu_hot, memory_hot \
         FROM alarm_connections WHERE cpu_above IS NOT NULL OR memory_above_bytes IS NOT NULL",
        [],
    ))
    .all(db)
    .await?;
    let now = now_ms();
    for w in watches {
        let for_ms = w.for_seconds.clamp(1, 604_800) * 1000;
        for (trigger, column, threshold, hot, hot_column) in watched(&w) {
            // the current streak above the threshold: it starts after the
            // last sample at or below it (looking back twice the window)
            let lookback = now - 2 * for_ms - 60_000;
            let last_low = Stamp::find_by_statement(sql(
                backend,
                &format!(
                    "SELECT MAX(ts_ms) AS t FROM metric_samples \
                     WHERE project_id = $1 AND ts_ms >= $2 AND {column} <= $3"
                ),
                [w.project_id.into(), lookback.into(), threshold.into()],
            ))
            .one(db)
            .await?
            .and_then(|s| s.t)
            .unwrap_or(lookback - 1);
            let streak_start = Stamp::find_by_statement(sql(
                backend,
                "SELECT MIN(ts_ms) AS t FROM metric_samples WHERE project_id = $1 AND ts_ms > $2",
                [w.project_id.into(), last_low.into()],
            ))
            .one(db)
            .await?
            .and_then(|s| s.t);
            let latest = Latest::find_by_statement(sql(
                backend,
                &format!(
                    "SELECT CAST({column} AS DOUBLE PRECISION) AS value FROM metric_samples \
                     WHERE project_id = $1 ORDER BY ts_ms DESC LIMIT 1"
                ),
                [w.project_id.into()],
            ))
            .one(db)
            .await?;
            let above_now = latest.as_ref().is_some_and(|l| l.value > threshold);
            let held = above_now && streak_start.is_some_and(|start| now - start >= for_ms);
            let below = latest.is_some_and(|l| l.value <= threshold);
            let (flip_to, message) = match (hot, held, below) {
                (false, true, _) => (
                    true,
                    format!(
                        "{} above {threshold} for {} s",
                        label(trigger),
                        w.for_seconds
                    ),
                ),
                (true, _, true) => (
                    false,
                    format!("{} back below {threshold} (recovered)", label(trigger)),
                ),
                _ => continue,
            };
            let txn = crate::store::begin_write(db).await?;
            let flipped = txn
                .execute_raw(sql(
                    backend,
                    &format!("UPDATE alarm_connections SET {hot_column} = $2 WHERE id = $1 AND {hot_column} = $3"),
                    [w.id.into(), flip_to.into(), (!flip_to).into()],
                ))
                .await?;
            if flipped.rows_affected() == 1 {
                txn.execute_raw(sql(
                    backend,
                    "INSERT INTO alarm_events (project_id, alarm_id, \"trigger\", message, created_ms, status) \
                     SELECT project_id, alarm_id, $2, $3, $4, 'pending' FROM alarm_connections WHERE id = $1",
                    [w.id.into(), trigger.into(), message.into(), now.into()],
                ))
                .await?;
            }
            txn.commit().await?;
        }
    }
    Ok(())
}

fn label(trigger: &str) -> &'static str {
    match trigger {
        "cpu_high" => "process CPU %",
        _ => "process memory (bytes)",
    }
}
