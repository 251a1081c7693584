//! Instances: the app processes of each project, their status sweep and
//! their pruning.

use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, FromQueryResult, QueryFilter,
    QueryOrder,
};
use serde::Serialize;

use super::entity::{instance, server};
use super::{StoreError, servers};

/// An app instance as the API shows it.
#[derive(Debug, Clone, Serialize, FromQueryResult)]
pub struct InstanceView {
    /// Instance id.
    pub id: String,
    /// Host name.
    pub host: String,
    /// Process id.
    pub pid: i64,
    /// Client library and version.
    pub client_version: String,
    /// `webhook` or `websocket`.
    pub transport: String,
    /// Seconds between heartbeats.
    pub heartbeat_s: i32,
    /// `online`, `offline` or `stopped`.
    pub status: String,
    /// Since when (ms).
    pub status_since_ms: i64,
    /// Last message (ms).
    pub last_seen_ms: i64,
    /// Last host CPU %.
    pub cpu_percent: Option<f64>,
    /// Last process CPU %.
    pub process_cpu_percent: Option<f64>,
    /// Last process memory.
    pub process_memory_bytes: Option<i64>,
    /// Last host memory used.
    pub memory_used_bytes: Option<i64>,
    /// Host memory total.
    pub memory_total_bytes: Option<i64>,
    #[serde(skip)]
    pub(crate) project_id: i64,
}

/// Every instance, newest first.
pub async fn all(db: &DatabaseConnection) -> Result<Vec<InstanceView>, StoreError> {
    Ok(instance::Entity::find()
        .order_by_desc(instance::Column::LastSeenMs)
        .into_model::<InstanceView>()
        .all(db)
        .await?)
}

/// The instances of a project, newest first.
pub async fn of_project(
    db: &DatabaseConnection,
    project: i64,
) -> Result<Vec<InstanceView>, StoreError> {
    Ok(instance::Entity::find()
        .filter(instance::Column::ProjectId.eq(project))
        .order_by_desc(instance::Column::LastSeenMs)
        .into_model::<InstanceView>()
        .all(db)
        .await?)
}

/// Forgets a project's instances that are not online; returns how many.
pub async fn clear(db: &DatabaseConnection, project: i64) -> Result<u64, StoreError> {
    let result = instance::Entity::delete_many()
        .filter(instance::Column::ProjectId.eq(project))
        .filter(instance::Column::Status.ne("online"))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

/// Deletes instances not seen since `cutoff_ms` (apps that stopped or went
/// away long ago; their reports stay); returns how many.
pub async fn prune(db: &DatabaseConnection, cutoff_ms: i64) -> Result<u64, StoreError> {
    let result = instance::Entity::delete_many()
        .filter(instance::Column::LastSeenMs.lt(cutoff_ms))
        .filter(instance::Column::Status.ne("online"))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

/// `last_seen_ms`, or `since_ms` when that is later (see [`sweep_offline`]).
pub(crate) fn seen_since(since_ms: i64) -> Expr {
    let seen = Expr::col((instance::Entity, instance::Column::LastSeenMs));
    Expr::case(seen.clone().gt(since_ms), seen)
        .finally(since_ms)
        .into()
}

/// Three heartbeat intervals of an instance, in milliseconds.
pub(crate) fn three_beats() -> Expr {
    Expr::col((instance::Entity, instance::Column::HeartbeatS))
        .cast_as("BIGINT")
        .mul(3000)
}

#[derive(FromQueryResult)]
struct WentOffline {
    id: String,
    project_id: i64,
    host: String,
    pid: i64,
    heartbeat_s: i32,
}

/// Marks online instances whose heartbeats stopped (3 × their interval) as
/// offline; returns how many changed.
///
/// An instance last seen before `since_ms` (when this server started) is
/// judged from `since_ms`: apps were not heard from while no server ran, and
/// they reconnect within a heartbeat or two of a restart, without an
/// "offline" alarm for the restart.
///
/// Python websocket connections (an instance each) cut by a server that is
/// gone are first paired with their reconnections ([`servers::forget_moved`]);
/// while their server is late but not yet gone, they are not judged.
pub async fn sweep_offline(
    db: &DatabaseConnection,
    now_ms: i64,
    since_ms: i64,
) -> Result<u64, StoreError> {
    // the status change and its alarms in one transaction: with several
    // servers on one database, only the one whose UPDATE changed the row
    // queues the alarm
    let txn = super::begin_write(db).await?;
    servers::forget_moved(&txn, now_ms, since_ms).await?;
    let late_servers = Query::select()
        .column(server::Column::Id)
        .from(server::Entity)
        .and_where(Expr::col(server::Column::LastSeenMs).lt(now_ms - servers::LATE_MS))
        .and_where(Expr::col(server::Column::LastSeenMs).gte(now_ms - servers::GONE_MS))
        .to_owned();
    let update = Query::update()
        .table(instance::Entity)
        .value(instance::Column::Status, "offline")
        .value(instance::Column::StatusSinceMs, now_ms)
        .and_where(Expr::col(instance::Column::Status).eq("online"))
        .and_where(seen_since(since_ms).add(three_beats()).lt(now_ms))
        .and_where(
            Expr::col(instance::Column::Id)
                .like("py-websocket:%")
                .and(Expr::col(instance::Column::ServerId).is_not_null())
                .and(Expr::col(instance::Column::ServerId).in_subquery(late_servers))
                .not(),
        )
        .returning(Query::returning().columns([
            instance::Column::Id,
            instance::Column::ProjectId,
            instance::Column::Host,
            instance::Column::Pid,
            instance::Column::HeartbeatS,
        ]))
        .to_owned();
    let rows = WentOffline::find_by_statement(txn.get_database_backend().build(&update))
        .all(&txn)
        .await?;
    for row in &rows {
        let who = if row.host.is_empty() {
            row.id.clone()
        } else {
            format!("{} (pid {})", row.host, row.pid)
        };
        let message = format!(
            "{who} is offline: no heartbeat for {} s",
            i64::from(row.heartbeat_s) * 3
        );
        super::alarm_events::enqueue(&txn, row.project_id, "offline", &message).await?;
    }
    txn.commit().await?;
    Ok(rows.len() as u64)
}
