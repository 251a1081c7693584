//! The servers sharing a database: each beats in `servers` every second
//! (`tasks::beat`), so the others can tell when it is gone, and the
//! websockets it held with it.

use std::collections::HashMap;

use sea_orm::sea_query::{Expr, ExprTrait, Func, OnConflict, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    FromQueryResult, JoinType, QueryFilter, QueryOrder, QuerySelect,
};

use super::StoreError;
use super::entity::{instance, server};

/// How often a server beats (`tasks::beat`, on a timer of its own).
pub const BEAT: std::time::Duration = std::time::Duration::from_secs(1);

/// A server that has not beaten for this long is gone.
pub const GONE_MS: i64 = 5_000;

/// A server that has not beaten for this long may be gone: what it holds
/// is not judged until it beats again or is gone.
pub const LATE_MS: i64 = 1_500;

/// A new id for this server process: host, process and a random part (a
/// restarted process is another server).
pub fn new_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "server".into());
    let random = loggerflow_layer::ReportId::new().to_string();
    let short = random.get(random.len().saturating_sub(8)..).unwrap_or("");
    format!(
        "{}:{}/{short}",
        crate::names::bounded(&host, 64),
        std::process::id()
    )
}

/// Records that server `id` (started at `started_ms`) is alive at `now_ms`,
/// and forgets servers gone for a day.
pub async fn beat(
    db: &DatabaseConnection,
    id: &str,
    started_ms: i64,
    now_ms: i64,
) -> Result<(), StoreError> {
    server::Entity::insert(server::ActiveModel {
        id: Set(id.to_owned()),
        started_ms: Set(started_ms),
        last_seen_ms: Set(now_ms),
    })
    .on_conflict(
        OnConflict::column(server::Column::Id)
            .update_column(server::Column::LastSeenMs)
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    server::Entity::delete_many()
        .filter(server::Column::LastSeenMs.lt(now_ms - 86_400_000))
        .exec(db)
        .await?;
    Ok(())
}

/// The PostgreSQL advisory lock key the pairing runs under ("LFPAIRIN").
const PAIRING_LOCK: i64 = 0x4C46_5041_4952_494E;

/// How far the clocks of two servers may disagree when a reconnection is
/// matched with the connection it replaces.
const SKEW_MS: i64 = 2_000;

#[derive(FromQueryResult)]
struct Cut {
    id: String,
    project_id: i64,
    last_seen_ms: i64,
    client_addr: Option<String>,
}

#[derive(FromQueryResult)]
struct Fresh {
    id: String,
    project_id: i64,
    started_ms: i64,
    client_addr: Option<String>,
}

/// Online Python websocket instances joined with the server holding them.
fn python_websockets() -> sea_orm::Select<instance::Entity> {
    instance::Entity::find()
        .select_only()
        .columns([
            instance::Column::Id,
            instance::Column::ProjectId,
            instance::Column::ClientAddr,
        ])
        .join(
            JoinType::InnerJoin,
            instance::Entity::belongs_to(server::Entity)
                .from(instance::Column::ServerId)
                .to(server::Column::Id)
                .into(),
        )
        .filter(instance::Column::Status.eq("online"))
        .filter(Expr::col((instance::Entity, instance::Column::Id)).like("py-websocket:%"))
}

/// Python websocket processes are an instance per connection, so one whose
/// server died comes back as a new instance. Each silent connection whose
/// server is gone is paired, one to one, with a live connection of the same
/// project from the same client address that came in after it fell silent
/// (on a server not gone, not paired before): taken to be the process
/// reconnected, and the old instance is
/// forgotten without an alarm. One left without a pair is judged as any
/// other (offline, with its alarm). Returns how many were forgotten.
pub async fn forget_moved<C: ConnectionTrait>(
    txn: &C,
    now_ms: i64,
    since_ms: i64,
) -> Result<u64, DbErr> {
    let backend = txn.get_database_backend();
    let server_seen = || Expr::col((server::Entity, server::Column::LastSeenMs));
    let cut = python_websockets()
        .column(instance::Column::LastSeenMs)
        .filter(
            super::instances::seen_since(since_ms)
                .add(super::instances::three_beats())
                .lt(now_ms),
        )
        .filter(server_seen().lt(now_ms - GONE_MS))
        .order_by_asc(instance::Column::LastSeenMs)
        .into_model::<Cut>()
        .all(txn)
        .await?;
    if cut.is_empty() {
        return Ok(0);
    }
    // one sweep pairs at a time: two servers' sweeps pairing the same
    // connections could each use up a reconnection for one old instance
    if backend == sea_orm::DbBackend::Postgres {
        let lock = Query::select()
            .expr(Func::cust("pg_advisory_xact_lock").arg(PAIRING_LOCK))
            .to_owned();
        txn.execute(&lock).await?;
    }
    // a reconnection is judged by its own heartbeats, and its server only
    // by not being gone (one late beat must not hide it)
    let fresh = python_websockets()
        .column(instance::Column::StartedMs)
        .filter(instance::Column::ResumedFrom.is_null())
        .filter(
            Expr::col((instance::Entity, instance::Column::LastSeenMs))
                .add(super::instances::three_beats())
                .gte(now_ms),
        )
        .filter(server_seen().gte(now_ms - GONE_MS))
        .order_by_asc(instance::Column::StartedMs)
        .into_model::<Fresh>()
        .all(txn)
        .await?;
    let mut by_project: HashMap<i64, Vec<Fresh>> = HashMap::new();
    for f in fresh {
        by_project.entry(f.project_id).or_default().push(f);
    }
    let mut forgotten = 0;
    for old in cut {
        let Some(candidates) = by_project.get_mut(&old.project_id) else {
            continue;
        };
        // the same process reconnects from the same address (behind a
        // proxy, with --trust-forwarded-for; without it, every client has
        // the proxy's address and only the project tells them apart)
        let Some(at) = candidates.iter().position(|f| {
            f.started_ms >= old.last_seen_ms - SKEW_MS && f.client_addr == old.client_addr
        }) else {
            continue;
        };
        let new = candidates.remove(at);
        // another server's sweep may pair them at the same time: each row
        // changes once
        let taken = instance::Entity::update_many()
            .col_expr(instance::Column::ResumedFrom, Expr::val(old.id.clone()))
            .filter(instance::Column::Id.eq(new.id.clone()))
            .filter(instance::Column::ResumedFrom.is_null())
            .exec(txn)
            .await?
            .rows_affected;
        if taken == 0 {
            continue;
        }
        forgotten += instance::Entity::delete_many()
            .filter(instance::Column::Id.eq(old.id))
            .filter(instance::Column::Status.eq("online"))
            .exec(txn)
            .await?
            .rows_affected;
    }
    if forgotten > 0 {
        tracing::info!(
            instances = forgotten,
            "Python websocket connections of a server that is gone, replaced by their reconnections"
        );
    }
    Ok(forgotten)
}
