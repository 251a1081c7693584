//! Background work: the server's beat, the status sweeper and metric
//! retention. They stop when the server shuts down.

use std::time::Duration;

use sea_orm::DatabaseConnection;
use tokio::sync::watch;

use crate::store;

/// Tells the other servers on the database, every second, that this one
/// (`me`) is alive: on its own timer, so a slow sweep does not make it look
/// late ([`store::servers`]).
pub async fn beat(db: DatabaseConnection, me: String, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(store::servers::BEAT);
    let started = store::now_ms();
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if let Err(error) = store::servers::beat(&db, &me, started, store::now_ms()).await {
                    tracing::warn!(%error, "could not record this server as alive");
                }
            }
            _ = stop.changed() => return,
        }
    }
}

/// Marks instances offline once their heartbeats stop (every `every`),
/// counting from this server's start for apps last heard before it.
pub async fn sweeper(db: DatabaseConnection, every: Duration, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(every);
    let started = store::now_ms();
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if let Err(error) = store::sweep_offline(&db, store::now_ms(), started).await {
                    tracing::warn!(%error, "status sweep failed");
                }
            }
            _ = stop.changed() => return,
        }
    }
}

/// Deletes metric samples older than the retention (every ten minutes): the
/// settings page's, or `retention` when it sets none, and the instances not
/// seen for as long. Also ends expired login sessions.
pub async fn retention(
    db: DatabaseConnection,
    retention: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(600));
    let default_ms = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let keep_ms = match store::settings::load(&db).await {
                    Ok(settings) => settings
                        .retention_days
                        .map_or(default_ms, |d| i64::from(d) * 86_400_000),
                    Err(_) => default_ms,
                };
                if let Err(error) = store::sessions::prune(&db).await {
                    tracing::warn!(%error, "pruning expired sessions failed");
                }
                let cutoff = store::now_ms().saturating_sub(keep_ms);
                match store::prune_metrics(&db, cutoff).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(samples = n, "pruned old metric samples"),
                    Err(error) => tracing::warn!(%error, "metric retention failed"),
                }
                match store::prune_instances(&db, cutoff).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(instances = n, "pruned instances not seen since the retention"),
                    Err(error) => tracing::warn!(%error, "instance retention failed"),
                }
            }
            _ = stop.changed() => return,
        }
    }
}

/// Prunes reports (every `every`): those older than the report retention
/// (the settings page's, or `defaults` when it sets none) and each project's
/// oldest past its count, in chunks the writer runs between ingest batches
/// ([`store::retention`]).
pub async fn prune_reports(
    db: DatabaseConnection,
    writer: store::writer::Writer,
    defaults: store::retention::Policy,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let mut policy = defaults;
        match store::settings::load(&db).await {
            Ok(settings) => {
                if let Some(days) = settings.report_retention_days {
                    policy.max_age_ms = Some(i64::from(days) * 86_400_000);
                }
            }
            Err(error) => {
                tracing::warn!(%error, "report retention: settings unreadable, using the defaults")
            }
        }
        let plan = match store::retention::plan(&db, policy, store::now_ms()).await {
            Ok(plan) => plan,
            Err(error) => {
                tracing::warn!(%error, "report retention failed");
                continue;
            }
        };
        let mut pruned = 0;
        for project in plan {
            let pass = tokio::select! {
                pass = prune_project(&writer, project) => pass,
                _ = stop.changed() => return,
            };
            match pass {
                Ok(n) => pruned += n,
                Err(error) => {
                    tracing::warn!(%error, "report retention failed");
                    break;
                }
            }
        }
        if pruned > 0 {
            tracing::info!(reports = pruned, "pruned reports past the retention");
        }
    }
}

/// Prunes one project, chunk by chunk: first what is too old, then its
/// oldest past its count; returns how many reports went.
async fn prune_project(
    writer: &store::writer::Writer,
    prune: store::retention::Prune,
) -> Result<u64, store::StoreError> {
    let chunk = store::retention::CHUNK;
    let mut deleted = 0;
    if let Some(before) = prune.before_ms {
        loop {
            let n = writer.prune(prune.project, Some(before), chunk).await?;
            deleted += n;
            if n < chunk {
                break;
            }
        }
    }
    // what the age pass deleted counts towards the excess
    let mut left = prune.excess.saturating_sub(deleted);
    while left > 0 {
        let n = writer.prune(prune.project, None, left.min(chunk)).await?;
        if n == 0 {
            // only groups' first reports are left
            break;
        }
        deleted += n;
        left = left.saturating_sub(n);
    }
    Ok(deleted)
}
