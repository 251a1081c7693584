//! Instances: the app processes of each project, their status sweep and
//! their pruning.

use sea_orm::sea_query::{Alias, Expr, ExprTrait, OnConflict, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    FromQueryResult, QueryFilter, QueryOrder, QuerySelect,
};
use serde::Serialize;

use super::entity::{instance, server};
use super::{StoreError, servers};

/// An app instance as the API shows it.
#[derive(Debug, Clone, Serialize, FromQueryResult, utoipa::ToSchema)]
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
    /// The release it runs (its hello), if it names one.
    pub release: Option<String>,
    /// The environment it runs in (none from clients that do not say).
    pub environment: Option<String>,
    /// Where else its app sends reports: backends or sinks, `, `-separated
    /// (empty: none named).
    pub backends: String,
    /// The people its app's backends mention, `, `-separated (a Python
    /// app's handshake names them).
    pub authors: String,
    #[serde(skip)]
    pub(crate) project_id: i64,
}

/// How many instances there are of each status.
pub async fn count_by_status(db: &DatabaseConnection) -> Result<Vec<(String, i64)>, StoreError> {
    Ok(instance::Entity::find()
        .select_only()
        .column(instance::Column::Status)
        .column_as(instance::Column::Id.count(), "n")
        .group_by(instance::Column::Status)
        .into_tuple::<(String, i64)>()
        .all(db)
        .await?)
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
    environment: Option<String>,
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
            instance::Column::Environment,
        ]))
        .to_owned();
    // sea-orm's exec_with_returning uses RETURNING on SQLite only with its
    // `sqlite-use-returning-for-3_35` feature (off here): the sea-query
    // statement is run as it is, RETURNING included, on both backends
    let rows = WentOffline::find_by_statement(txn.get_database_backend().build(&update))
        .all(&txn)
        .await?;
    for row in &rows {
        let message = format!(
            "{} is offline: no heartbeat for {} s",
            name(&row.id, &row.host, row.pid),
            i64::from(row.heartbeat_s) * 3
        );
        super::alarm_events::enqueue(
            &txn,
            row.project_id,
            "offline",
            &message,
            None,
            Some(
                row.environment
                    .as_deref()
                    .unwrap_or(super::releases::DEFAULT_ENVIRONMENT),
            ),
        )
        .await?;
    }
    txn.commit().await?;
    Ok(rows.len() as u64)
}

/// How messages and pages name an instance: `host (pid N)`, the host alone
/// when its client sent no pid, and its id when it sent no host (a Python
/// app's, `py-webhook:Shop`, which names its project).
pub fn name(id: &str, host: &str, pid: i64) -> String {
    match (host.is_empty(), pid) {
        (true, _) => id.to_owned(),
        (false, 0) => host.to_owned(),
        (false, pid) => format!("{host} (pid {pid})"),
    }
}

// What the writer (`store::writer`) writes of instances, in its
// transaction: `C` is its savepoint.

/// What the writer reads of an instance before it changes it.
pub(crate) struct Previous {
    /// `online`, `offline` or `stopped`.
    pub status: String,
    /// Its project.
    pub project: i64,
    /// Its [`name`].
    pub name: String,
}

/// The status, project and name of instance `id`.
pub(crate) async fn previous<C: ConnectionTrait>(
    conn: &C,
    id: &str,
) -> Result<Option<Previous>, DbErr> {
    use instance::Column;
    let row = instance::Entity::find_by_id(id)
        .select_only()
        .columns([Column::Status, Column::ProjectId, Column::Host, Column::Pid])
        .into_tuple::<(String, i64, String, i64)>()
        .one(conn)
        .await?;
    Ok(row.map(|(status, project, host, pid)| Previous {
        status,
        project,
        name: name(id, &host, pid),
    }))
}

/// What an instance says in its hello.
pub(crate) struct Hello {
    /// Its id.
    pub id: String,
    /// Its project.
    pub project: i64,
    /// Host name.
    pub host: String,
    /// Process id.
    pub pid: i64,
    /// Client library and version.
    pub client_version: String,
    /// `webhook`, `websocket`…
    pub transport: String,
    /// Seconds between heartbeats.
    pub heartbeat_s: i32,
    /// The release it runs, if it names one.
    pub release: Option<String>,
    /// The environment it runs in, if it names one.
    pub environment: Option<String>,
    /// Backends or sinks, as [`listed`].
    pub backends: String,
    /// Authors, as [`listed`].
    pub authors: String,
}

/// Names a client listed (backends, authors) as stored: printable, at most
/// 100 characters each, the first 20 different ones, `, `-separated.
pub(crate) fn listed(names: &[String]) -> String {
    let mut kept: Vec<String> = Vec::new();
    for name in names {
        let name = crate::names::bounded(name.trim(), 100);
        if !name.is_empty() && !kept.contains(&name) {
            kept.push(name);
        }
        if kept.len() == 20 {
            break;
        }
    }
    kept.join(", ")
}

/// Records a hello at `now`: a new instance, online; a known one is
/// updated and online again (its status time kept if it was online).
pub(crate) async fn hello<C: ConnectionTrait>(
    conn: &C,
    hello: Hello,
    now: i64,
) -> Result<(), DbErr> {
    use instance::Column;
    let excluded = |c: Column| Expr::col((Alias::new("excluded"), c));
    instance::Entity::insert(instance::ActiveModel {
        id: Set(hello.id),
        project_id: Set(hello.project),
        host: Set(hello.host),
        pid: Set(hello.pid),
        client_version: Set(hello.client_version),
        transport: Set(hello.transport),
        heartbeat_s: Set(hello.heartbeat_s),
        release: Set(hello.release),
        environment: Set(hello.environment),
        backends: Set(hello.backends),
        authors: Set(hello.authors),
        status: Set("online".into()),
        started_ms: Set(now),
        last_seen_ms: Set(now),
        status_since_ms: Set(now),
        ..Default::default()
    })
    .on_conflict(
        OnConflict::column(Column::Id)
            .update_columns([
                Column::ProjectId,
                Column::Host,
                Column::Pid,
                Column::ClientVersion,
                Column::Transport,
                Column::HeartbeatS,
                Column::Release,
                Column::Environment,
                Column::Backends,
                Column::Authors,
            ])
            .value(
                Column::StatusSinceMs,
                Expr::case(
                    Expr::col((instance::Entity, Column::Status)).eq("online"),
                    Expr::col((instance::Entity, Column::StatusSinceMs)),
                )
                .finally(excluded(Column::LastSeenMs)),
            )
            .value(Column::Status, Expr::val("online"))
            .value(Column::LastSeenMs, excluded(Column::LastSeenMs))
            .to_owned(),
    )
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// A heartbeat's readings, as stored.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Readings {
    /// Host CPU %.
    pub cpu_percent: f64,
    /// Process CPU %.
    pub process_cpu_percent: f64,
    /// Process memory.
    pub process_memory_bytes: i64,
    /// Host memory used.
    pub memory_used_bytes: i64,
    /// Host memory total.
    pub memory_total_bytes: i64,
}

/// `UPDATE instances SET last_seen_ms = now, <readings> WHERE id = …`.
fn beat(id: &str, now: i64, r: Readings) -> sea_orm::UpdateMany<instance::Entity> {
    use instance::Column;
    instance::Entity::update_many()
        .col_expr(Column::LastSeenMs, Expr::val(now))
        .col_expr(Column::CpuPercent, Expr::val(r.cpu_percent))
        .col_expr(Column::ProcessCpuPercent, Expr::val(r.process_cpu_percent))
        .col_expr(
            Column::ProcessMemoryBytes,
            Expr::val(r.process_memory_bytes),
        )
        .col_expr(Column::MemoryUsedBytes, Expr::val(r.memory_used_bytes))
        .col_expr(Column::MemoryTotalBytes, Expr::val(r.memory_total_bytes))
        .filter(Column::Id.eq(id))
}

/// A heartbeat of an instance that is online (the common case, one
/// statement): its last readings; false if it is not online (or unknown).
pub(crate) async fn heartbeat_online<C: ConnectionTrait>(
    conn: &C,
    id: &str,
    now: i64,
    readings: Readings,
) -> Result<bool, DbErr> {
    let updated = beat(id, now, readings)
        .filter(instance::Column::Status.eq("online"))
        .exec(conn)
        .await?;
    Ok(updated.rows_affected > 0)
}

/// A heartbeat of an instance that was not online: its last readings, and
/// it is online since `now`; false if it is unknown.
pub(crate) async fn heartbeat_back<C: ConnectionTrait>(
    conn: &C,
    id: &str,
    now: i64,
    readings: Readings,
) -> Result<bool, DbErr> {
    use instance::Column;
    let updated = beat(id, now, readings)
        .col_expr(
            Column::StatusSinceMs,
            Expr::case(
                Expr::col(Column::Status).eq("online"),
                Expr::col(Column::StatusSinceMs),
            )
            .finally(now)
            .into(),
        )
        .col_expr(Column::Status, Expr::val("online"))
        .exec(conn)
        .await?;
    Ok(updated.rows_affected > 0)
}

/// Sets the status of instance `id` (`offline`, `stopped`) at `now`, only
/// if it is online unless `always`; returns the rows changed.
pub(crate) async fn set_status<C: ConnectionTrait>(
    conn: &C,
    id: &str,
    status: &str,
    now: i64,
    always: bool,
) -> Result<u64, DbErr> {
    use instance::Column;
    let mut update = instance::Entity::update_many()
        .col_expr(Column::Status, Expr::val(status))
        .col_expr(Column::StatusSinceMs, Expr::val(now))
        .col_expr(Column::LastSeenMs, Expr::val(now))
        .filter(Column::Id.eq(id));
    if !always {
        update = update.filter(Column::Status.eq("online"));
    }
    Ok(update.exec(conn).await?.rows_affected)
}

/// Instance `id`'s live websocket is `connection`, held by `server`, from
/// `client_addr`.
pub(crate) async fn connected<C: ConnectionTrait>(
    conn: &C,
    id: &str,
    connection: &str,
    server: &str,
    client_addr: Option<String>,
) -> Result<(), DbErr> {
    use instance::Column;
    instance::Entity::update_many()
        .col_expr(Column::Connection, Expr::val(connection))
        .col_expr(Column::ServerId, Expr::val(server))
        .col_expr(Column::ClientAddr, Expr::val(client_addr))
        .filter(Column::Id.eq(id))
        .exec(conn)
        .await?;
    Ok(())
}

/// The live websocket connection of instance `id`, if any.
pub(crate) async fn live_connection<C: ConnectionTrait>(
    conn: &C,
    id: &str,
) -> Result<Option<String>, DbErr> {
    Ok(instance::Entity::find_by_id(id)
        .select_only()
        .column(instance::Column::Connection)
        .into_tuple::<Option<String>>()
        .one(conn)
        .await?
        .flatten())
}

/// Deletes instance `id` if `connection` is its live one.
pub(crate) async fn forget<C: ConnectionTrait>(
    conn: &C,
    id: &str,
    connection: &str,
) -> Result<(), DbErr> {
    instance::Entity::delete_many()
        .filter(instance::Column::Id.eq(id))
        .filter(instance::Column::Connection.eq(connection))
        .exec(conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_instance_is_named_by_what_its_client_sent() {
        assert_eq!(name("i-1", "web-1", 42), "web-1 (pid 42)");
        assert_eq!(name("i-1", "web-1", 0), "web-1");
        assert_eq!(name("py-webhook:Shop", "", 0), "py-webhook:Shop");
    }

    #[test]
    fn listed_names_are_printable_different_and_few() {
        let names: Vec<String> = [" telegram ", "", "file:/a\nb", "telegram"]
            .into_iter()
            .map(str::to_owned)
            .chain((0..30).map(|n| format!("sink{n}")))
            .collect();
        let stored = listed(&names);
        assert!(
            stored.starts_with("telegram, file:/ab, sink0, "),
            "{stored}"
        );
        assert_eq!(stored.split(", ").count(), 20);
    }
}
