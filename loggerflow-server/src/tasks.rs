//! Background work: the status sweeper and metric retention. Both stop when
//! the server shuts down.

use std::time::Duration;

use sea_orm::DatabaseConnection;
use tokio::sync::watch;

use crate::store;

/// Marks instances offline once their heartbeats stop (every `every`).
pub async fn sweeper(db: DatabaseConnection, every: Duration, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if let Err(error) = store::sweep_offline(&db, store::now_ms()).await {
                    tracing::warn!(%error, "status sweep failed");
                }
            }
            _ = stop.changed() => return,
        }
    }
}

/// Deletes metric samples older than `retention` (every ten minutes).
pub async fn retention(
    db: DatabaseConnection,
    retention: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(600));
    let keep_ms = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                match store::prune_metrics(&db, store::now_ms().saturating_sub(keep_ms)).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(samples = n, "pruned old metric samples"),
                    Err(error) => tracing::warn!(%error, "metric retention failed"),
                }
            }
            _ = stop.changed() => return,
        }
    }
}
