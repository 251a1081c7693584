//! Background work: the server's beat, the status sweeper and metric
//! retention. They stop when the server shuts down.

use std::collections::HashMap;
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
/// counting from this server's start for apps last heard before it, and
/// tells `changes` when it did.
pub async fn sweeper(
    db: DatabaseConnection,
    every: Duration,
    changes: crate::changes::Changes,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(every);
    let started = store::now_ms();
    loop {
        tokio::select! {
            _ = tick.tick() => {
                match store::instances::sweep_offline(&db, store::now_ms(), started).await {
                    Ok(0) => {}
                    Ok(_) => changes.publish(crate::changes::Topic::Projects, None),
                    Err(error) => tracing::warn!(%error, "status sweep failed"),
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
                match store::metrics::prune(&db, cutoff).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(samples = n, "pruned old metric samples"),
                    Err(error) => tracing::warn!(%error, "metric retention failed"),
                }
                match store::instances::prune(&db, cutoff).await {
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
    // projects whose old reports are all their groups' first ones (an age
    // chunk deleted none): not scanned again for an hour
    let mut idle: HashMap<i64, i64> = HashMap::new();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let mut policy = defaults;
        match store::settings::load(&db).await {
            Ok(settings) => {
                if let Some(days) = settings.report_retention_days {
                    policy.max_age_ms = (days > 0).then(|| i64::from(days) * 86_400_000);
                }
            }
            Err(error) => {
                tracing::warn!(%error, "report retention: settings unreadable, using the defaults");
            }
        }
        let now = store::now_ms();
        idle.retain(|_, until| *until > now);
        let plan = match store::retention::plan(&db, policy, now).await {
            Ok(plan) => plan,
            Err(error) => {
                tracing::warn!(%error, "report retention failed");
                continue;
            }
        };
        let mut pruned = 0;
        for mut project in plan {
            if idle.contains_key(&project.project) {
                project.before_ms = None;
            }
            let pass = tokio::select! {
                pass = prune_project(&writer, project) => pass,
                _ = stop.changed() => return,
            };
            match pass {
                Ok((n, aged_out)) => {
                    pruned += n;
                    if !aged_out {
                        idle.insert(project.project, now + IDLE_MS);
                    }
                }
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

/// How long a project whose old reports could not go is left alone.
const IDLE_MS: i64 = 3_600_000;

/// Prunes one project, chunk by chunk: first what is too old, then its
/// oldest past its count. Returns how many reports went, and false when its
/// age pass found old reports but could delete none of them.
async fn prune_project(
    writer: &store::writer::Writer,
    prune: store::retention::Prune,
) -> Result<(u64, bool), store::StoreError> {
    use store::retention::Target;
    let mut deleted = 0;
    let mut aged_out = true;
    if let Some(before) = prune.before_ms {
        let n = pass(writer, prune.project, Target::Older(before)).await?;
        aged_out = n > 0;
        deleted += n;
    }
    if let Some(max) = prune.max {
        // each chunk recounts: the pass stops at the count, or when only
        // groups' first reports are left
        deleted += pass(writer, prune.project, Target::OverCount(max)).await?;
    }
    Ok((deleted, aged_out))
}

/// Chunks of one target over a project, each going on from where the last
/// stopped, until there is nothing more to look at; how many went.
async fn pass(
    writer: &store::writer::Writer,
    project: i64,
    target: store::retention::Target,
) -> Result<u64, store::StoreError> {
    let mut deleted = 0;
    let mut from = None;
    // a bound besides the cursor, which only moves forward: 2,000 chunks
    // look at a million reports at least
    for _ in 0..2_000 {
        let chunk = writer
            .prune(project, target, store::retention::CHUNK, from)
            .await?;
        deleted += chunk.deleted;
        match chunk.next {
            Some(next) => from = Some(next),
            None => break,
        }
    }
    Ok(deleted)
}
