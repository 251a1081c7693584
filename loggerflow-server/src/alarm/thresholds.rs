//! Threshold triggers: a project's process CPU % or process memory above a
//! level for a whole window fires `cpu_high` / `memory_high` once; falling
//! back below fires the same trigger once more as a recovery.
//!
//! The "hot" state lives in the connection row and flips with a conditional
//! `UPDATE`, in the transaction that queues the event: once per change,
//! whatever number of servers evaluate it.

use sea_orm::DatabaseConnection;

use crate::store::alarms::{self, Hot, Watch};
use crate::store::metrics::{self, Reading};
use crate::store::{StoreError, alarm_events, now_ms};

/// The readings watched: (trigger, reading, threshold, hot now, which state).
fn watched(w: &Watch) -> Vec<(&'static str, Reading, f64, bool, Hot)> {
    let mut list = Vec::new();
    if let Some(cpu) = w.cpu_above {
        list.push(("cpu_high", Reading::ProcessCpu, cpu, w.cpu_hot, Hot::Cpu));
    }
    if let Some(memory) = w.memory_above_bytes {
        list.push((
            "memory_high",
            Reading::ProcessMemory,
            memory as f64,
            w.memory_hot,
            Hot::Memory,
        ));
    }
    list
}

/// One evaluation of every threshold connection.
pub async fn evaluate(db: &DatabaseConnection) -> Result<(), StoreError> {
    let watches = alarms::watches(db).await?;
    let now = now_ms();
    for w in watches {
        let for_ms = w.for_seconds.clamp(1, 604_800) * 1000;
        for (trigger, reading, threshold, hot, which) in watched(&w) {
            // the current streak above the threshold: it starts after the
            // last sample at or below it (looking back twice the window)
            let lookback = now - 2 * for_ms - 60_000;
            let streak_start =
                metrics::streak_start(db, w.project_id, reading, threshold, lookback).await?;
            let latest = metrics::latest(db, w.project_id, reading).await?;
            let above_now = latest.is_some_and(|l| l > threshold);
            let held = above_now && streak_start.is_some_and(|start| now - start >= for_ms);
            let below = latest.is_some_and(|l| l <= threshold);
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
            if alarms::flip(&txn, w.id, which, flip_to).await? {
                alarm_events::enqueue_for_connection(&txn, w.id, trigger, &message).await?;
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
