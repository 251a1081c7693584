//! The alarm outbox, which is also the alarm history: events are queued in
//! the transaction of the change that causes them (one per connection
//! subscribed to the trigger), then claimed, rate-limited and recorded by
//! the dispatcher (`alarm::dispatch`), which may run on several servers.

use sea_orm::sea_query::{Expr, ExprTrait, Func, LockBehavior, LockType, Order, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr,
    EntityTrait, FromQueryResult, JoinType, QueryFilter, QueryOrder, QuerySelect,
};
use serde::Serialize;

use super::entity::{alarm, alarm_connection, alarm_event, project};
use super::{StoreError, now_ms};

use alarm_event::Column;

/// `INSERT INTO alarm_events … SELECT project_id, alarm_id, trigger,
/// message, now, 'pending' FROM alarm_connections WHERE …`: an event for
/// each connection `filter` selects.
async fn enqueue_for<C: ConnectionTrait>(
    conn: &C,
    trigger: &str,
    message: &str,
    report: Option<uuid::Uuid>,
    filter: sea_orm::Condition,
) -> Result<(), DbErr> {
    // PostgreSQL refuses NUL in text; app text may hold one
    let message = message.replace('\0', "");
    let select = Query::select()
        .columns([
            alarm_connection::Column::ProjectId,
            alarm_connection::Column::AlarmId,
        ])
        .expr(Expr::val(trigger))
        .expr(Expr::val(message))
        .expr(Expr::val(now_ms()))
        .expr(Expr::val("pending"))
        .expr(Expr::val(report.map(|id| id.to_string())))
        .from(alarm_connection::Entity)
        .cond_where(filter)
        .to_owned();
    let insert = Query::insert()
        .into_table(alarm_event::Entity)
        .columns([
            Column::ProjectId,
            Column::AlarmId,
            Column::Trigger,
            Column::Message,
            Column::CreatedMs,
            Column::Status,
            Column::ReportId,
        ])
        .select_from(select)
        .map_err(|e| DbErr::Custom(e.to_string()))?
        .to_owned();
    conn.execute(&insert).await?;
    Ok(())
}

/// The connections of `project` subscribed to `trigger` (the triggers are a
/// JSON array of names).
fn subscribed(project: i64, trigger: &str) -> sea_orm::Condition {
    sea_orm::Condition::all()
        .add(alarm_connection::Column::ProjectId.eq(project))
        .add(alarm_connection::Column::Triggers.like(format!("%\"{trigger}\"%")))
}

/// `filter` narrowed to the connections that listen to `environment`:
/// those limited to none, and those whose list names it exactly (the lists
/// are decoded here: a pattern over their JSON text would match `x"staging`
/// for `staging`, and SQLite's LIKE ignores case). `None`: every connection.
async fn listening<C: ConnectionTrait>(
    conn: &C,
    filter: sea_orm::Condition,
    environment: Option<&str>,
) -> Result<Option<sea_orm::Condition>, DbErr> {
    let Some(environment) = environment else {
        return Ok(Some(filter));
    };
    let candidates: Vec<(i64, Option<String>)> = alarm_connection::Entity::find()
        .select_only()
        .columns([
            alarm_connection::Column::Id,
            alarm_connection::Column::Environments,
        ])
        .filter(filter.clone())
        .into_tuple()
        .all(conn)
        .await?;
    let ids: Vec<i64> = candidates
        .into_iter()
        .filter(|(_, environments)| {
            let listed: Vec<String> = environments
                .as_deref()
                .and_then(|json| serde_json::from_str(json).ok())
                .unwrap_or_default();
            listed.is_empty() || listed.iter().any(|e| e == environment)
        })
        .map(|(id, _)| id)
        .collect();
    if ids.is_empty() {
        return Ok(None);
    }
    // a project's connections: a handful of ids
    Ok(Some(filter.add(alarm_connection::Column::Id.is_in(ids))))
}

/// Queues `trigger` for every alarm connected to `project` with that
/// trigger (and listening to `environment`, when the event has one);
/// `report` is the report it is about, if any (its page is the message's
/// link).
pub async fn enqueue<C: ConnectionTrait>(
    conn: &C,
    project: i64,
    trigger: &str,
    message: &str,
    report: Option<uuid::Uuid>,
    environment: Option<&str>,
) -> Result<(), DbErr> {
    match listening(conn, subscribed(project, trigger), environment).await? {
        Some(filter) => enqueue_for(conn, trigger, message, report, filter).await,
        None => Ok(()),
    }
}

/// Queues `trigger` for the one connection `connection` (a threshold that
/// flipped).
pub async fn enqueue_for_connection<C: ConnectionTrait>(
    conn: &C,
    connection: i64,
    trigger: &str,
    message: &str,
) -> Result<(), DbErr> {
    let filter = sea_orm::Condition::all().add(alarm_connection::Column::Id.eq(connection));
    enqueue_for(conn, trigger, message, None, filter).await
}

/// The distinct N of the project's connections with an `every_nth` trigger.
pub async fn every_nth_values<C: ConnectionTrait>(
    conn: &C,
    project: i64,
) -> Result<Vec<i64>, DbErr> {
    alarm_connection::Entity::find()
        .select_only()
        .column(alarm_connection::Column::EveryNth)
        .distinct()
        .filter(subscribed(project, "every_nth"))
        .filter(alarm_connection::Column::EveryNth.gt(0))
        .into_tuple::<i64>()
        .all(conn)
        .await
}

/// Queues `every_nth` for connections whose N divides `count` (and that
/// listen to `environment`), about `report`.
pub async fn enqueue_every_nth<C: ConnectionTrait>(
    conn: &C,
    project: i64,
    count: i64,
    message: &str,
    report: Option<uuid::Uuid>,
    environment: Option<&str>,
) -> Result<(), DbErr> {
    let filter = subscribed(project, "every_nth")
        .add(alarm_connection::Column::EveryNth.gt(0))
        .add(
            Expr::val(count)
                .modulo(Expr::col(alarm_connection::Column::EveryNth))
                .eq(0),
        );
    match listening(conn, filter, environment).await? {
        Some(filter) => enqueue_for(conn, "every_nth", message, report, filter).await,
        None => Ok(()),
    }
}

/// One entry of the alarm history.
#[derive(Debug, Clone, FromQueryResult, Serialize, utoipa::ToSchema)]
pub struct AlarmEventView {
    /// Row id.
    pub id: i64,
    /// Project name.
    pub project: String,
    /// Alarm name (`(deleted)` once deleted).
    pub alarm: String,
    /// Trigger.
    pub trigger: String,
    /// Message.
    pub message: String,
    /// When it happened (ms).
    pub created_ms: i64,
    /// `pending`, `sending`, `sent`, `failed`, `digested`, `summarized`.
    pub status: String,
    /// When it was sent (ms).
    pub sent_ms: Option<i64>,
    /// The delivery error.
    pub error: Option<String>,
    /// The server that claimed it last (`host:pid/…`).
    pub claimed_by: Option<String>,
    /// The server whose expired claim that one took over, if any.
    pub taken_over_from: Option<String>,
}

/// The alarm history, newest first, of one project and/or alarm (`""` for all).
pub async fn history(
    db: &DatabaseConnection,
    project: &str,
    alarm: &str,
    limit: i64,
) -> Result<Vec<AlarmEventView>, StoreError> {
    // names are stored without NUL (PostgreSQL refuses it in text): such a
    // filter matches nothing
    if project.contains('\0') || alarm.contains('\0') {
        return Ok(Vec::new());
    }
    let project_name = Expr::col((project::Entity, project::Column::Name));
    let alarm_name = Expr::col((alarm::Entity, alarm::Column::Name));
    let mut query = alarm_event::Entity::find()
        .select_only()
        .column(Column::Id)
        .expr_as(project_name.clone(), "project")
        .expr_as(
            Func::coalesce([alarm_name.clone(), Expr::val("(deleted)")]),
            "alarm",
        )
        .columns([
            Column::Trigger,
            Column::Message,
            Column::CreatedMs,
            Column::Status,
            Column::SentMs,
            Column::Error,
            Column::ClaimedBy,
            Column::TakenOverFrom,
        ])
        .join(
            JoinType::InnerJoin,
            alarm_event::Entity::belongs_to(project::Entity)
                .from(Column::ProjectId)
                .to(project::Column::Id)
                .into(),
        )
        .join(
            JoinType::LeftJoin,
            alarm_event::Entity::belongs_to(alarm::Entity)
                .from(Column::AlarmId)
                .to(alarm::Column::Id)
                .into(),
        );
    if !project.is_empty() {
        query = query.filter(project_name.eq(project));
    }
    if !alarm.is_empty() {
        query = query.filter(alarm_name.eq(alarm));
    }
    Ok(query
        .order_by_desc(Column::Id)
        .limit(u64::try_from(limit.clamp(1, 1000)).unwrap_or(100))
        .into_model::<AlarmEventView>()
        .all(db)
        .await?)
}

/// Deletes finished history entries (of one project, or all with `""`);
/// returns how many.
pub async fn clear(db: &DatabaseConnection, project: &str) -> Result<u64, StoreError> {
    // names are stored without NUL (PostgreSQL refuses it in text)
    if project.contains('\0') {
        return Ok(0);
    }
    let mut delete = alarm_event::Entity::delete_many()
        .filter(Column::Status.is_not_in(["pending", "sending", "digested"]));
    if !project.is_empty() {
        delete = delete.filter(
            Column::ProjectId.in_subquery(
                Query::select()
                    .column(project::Column::Id)
                    .from(project::Entity)
                    .and_where(Expr::col(project::Column::Name).eq(project))
                    .to_owned(),
            ),
        );
    }
    Ok(delete.exec(db).await?.rows_affected)
}

/// An event a server claimed to send.
#[derive(Debug, Clone, FromQueryResult)]
pub struct Claimed {
    /// Row id.
    pub id: i64,
    /// The project.
    pub project_id: i64,
    /// The alarm.
    pub alarm_id: i64,
    /// The trigger (`digest` for a digest).
    pub trigger: String,
    /// The text.
    pub message: String,
    /// When it was queued.
    pub created_ms: i64,
    /// The report it is about, if any (a UUID).
    pub report_id: Option<String>,
}

/// Starts the lease of claims made by servers of an older version (which
/// have no claim time) at `claimed_ms`.
pub async fn adopt_untimed_claims(
    db: &DatabaseConnection,
    claimed_ms: i64,
) -> Result<(), StoreError> {
    alarm_event::Entity::update_many()
        .col_expr(Column::ClaimedMs, Expr::val(claimed_ms))
        .filter(Column::Status.eq("sending"))
        .filter(Column::ClaimedMs.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// Claims up to `batch` events for the server `me` at `now`, oldest first:
/// pending ones, and those whose claim is older than `expired_before`
/// (their server died or hung), noting whose claim was taken over.
pub async fn claim(
    db: &DatabaseConnection,
    me: &str,
    now: i64,
    expired_before: i64,
    batch: u64,
) -> Result<Vec<Claimed>, StoreError> {
    let backend = db.get_database_backend();
    let update = claim_statement(backend, me, now, expired_before, batch);
    // sea-orm's exec_with_returning uses RETURNING on SQLite only with its
    // `sqlite-use-returning-for-3_35` feature (off here): the sea-query
    // statement is run as it is, RETURNING included, on both backends
    let mut claimed = Claimed::find_by_statement(backend.build(&update))
        .all(db)
        .await?;
    claimed.sort_by_key(|c| c.id);
    Ok(claimed)
}

/// The claim's `UPDATE … WHERE id IN (SELECT … LIMIT batch [FOR UPDATE
/// SKIP LOCKED]) RETURNING …` (see [`claim`]).
fn claim_statement(
    backend: DbBackend,
    me: &str,
    now: i64,
    expired_before: i64,
    batch: u64,
) -> sea_orm::sea_query::UpdateStatement {
    // pending events, and those whose claim expired; the condition is
    // repeated outside the subquery so that a concurrent claimer re-checks
    // it on the rows it waited for, and on PostgreSQL rows another server
    // is claiming are skipped, not waited for
    let claimable = || {
        Expr::col(Column::Status)
            .eq("pending")
            .or(Expr::col(Column::Status)
                .eq("sending")
                .and(Expr::col(Column::ClaimedMs).lt(expired_before)))
    };
    let mut oldest = Query::select()
        .column(Column::Id)
        .from(alarm_event::Entity)
        .and_where(claimable())
        .order_by(Column::Id, Order::Asc)
        .limit(batch)
        .to_owned();
    if backend == DbBackend::Postgres {
        oldest.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    let sending = || Expr::col(Column::Status).eq("sending");
    // a digest taken over keeps its slot of the rate (it took it when it
    // was made); other events take theirs again when they are reserved
    Query::update()
        .table(alarm_event::Entity)
        .value(
            Column::TakenOverFrom,
            Expr::case(sending(), Expr::col(Column::ClaimedBy))
                .finally(Expr::col(Column::TakenOverFrom)),
        )
        .value(
            Column::SentMs,
            Expr::case(
                Expr::col(Column::Trigger).eq("digest"),
                Expr::col(Column::SentMs),
            )
            .finally(Expr::null()),
        )
        .value(Column::Status, "sending")
        .value(Column::ClaimedBy, me)
        .value(Column::ClaimedMs, now)
        .and_where(claimable())
        .and_where(Expr::col(Column::Id).in_subquery(oldest))
        .returning(Query::returning().columns([
            Column::Id,
            Column::ProjectId,
            Column::AlarmId,
            Column::Trigger,
            Column::Message,
            Column::CreatedMs,
            Column::ReportId,
        ]))
        .to_owned()
}

/// Gives back `me`'s claims on events it has not started to send; returns
/// how many.
pub async fn release(db: &DatabaseConnection, me: &str) -> Result<u64, StoreError> {
    let released = alarm_event::Entity::update_many()
        .col_expr(Column::Status, Expr::val("pending"))
        .col_expr(Column::ClaimedBy, Expr::null())
        .col_expr(Column::ClaimedMs, Expr::null())
        .filter(Column::ClaimedBy.eq(me))
        .filter(Column::Status.eq("sending"))
        .filter(Column::SentMs.is_null())
        .exec(db)
        .await?;
    Ok(released.rows_affected)
}

/// Renews `me`'s claim on the event `id` at `now`; false if it is not
/// `me`'s any more (another server took it over).
pub async fn renew<C: ConnectionTrait>(
    txn: &C,
    id: i64,
    me: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let renewed = alarm_event::Entity::update_many()
        .col_expr(Column::ClaimedMs, Expr::val(now))
        .filter(Column::Id.eq(id))
        .filter(Column::ClaimedBy.eq(me))
        .filter(Column::Status.eq("sending"))
        .exec(txn)
        .await?;
    Ok(renewed.rows_affected > 0)
}

/// Renews `me`'s claims on every event it has not started to send.
pub async fn renew_all<C: ConnectionTrait>(txn: &C, me: &str, now: i64) -> Result<(), StoreError> {
    alarm_event::Entity::update_many()
        .col_expr(Column::ClaimedMs, Expr::val(now))
        .filter(Column::ClaimedBy.eq(me))
        .filter(Column::Status.eq("sending"))
        .filter(Column::SentMs.is_null())
        .exec(txn)
        .await?;
    Ok(())
}

/// Messages of `alarm` and `project` sent since `since_ms`, or in flight
/// (reserved) on any server, besides the event `except`.
pub async fn sent_in_window<C: ConnectionTrait>(
    conn: &C,
    alarm: i64,
    project: i64,
    since_ms: i64,
    except: i64,
) -> Result<i64, StoreError> {
    count(
        conn,
        alarm_event::Entity::find()
            .filter(Column::AlarmId.eq(alarm))
            .filter(Column::ProjectId.eq(project))
            .filter(Column::Status.is_in(["sent", "sending"]))
            .filter(Column::SentMs.gt(since_ms))
            .filter(Column::Id.ne(except)),
    )
    .await
}

/// Events of `alarm` and `project` held back for a digest.
pub async fn held<C: ConnectionTrait>(
    conn: &C,
    alarm: i64,
    project: i64,
) -> Result<i64, StoreError> {
    count(
        conn,
        alarm_event::Entity::find()
            .filter(Column::AlarmId.eq(alarm))
            .filter(Column::ProjectId.eq(project))
            .filter(Column::Status.eq("digested")),
    )
    .await
}

async fn count<C: ConnectionTrait>(
    conn: &C,
    select: sea_orm::Select<alarm_event::Entity>,
) -> Result<i64, StoreError> {
    Ok(select
        .select_only()
        .expr(Expr::col(Column::Id).count())
        .into_tuple::<i64>()
        .one(conn)
        .await?
        .unwrap_or(0))
}

/// The event `id` takes its slot of the rate at `now` (it counts for every
/// server from now on).
pub async fn take_slot<C: ConnectionTrait>(txn: &C, id: i64, now: i64) -> Result<(), StoreError> {
    alarm_event::Entity::update_many()
        .col_expr(Column::SentMs, Expr::val(now))
        .filter(Column::Id.eq(id))
        .exec(txn)
        .await?;
    Ok(())
}

/// The event `id` is held back for the next digest.
pub async fn hold<C: ConnectionTrait>(txn: &C, id: i64) -> Result<(), StoreError> {
    alarm_event::Entity::update_many()
        .col_expr(Column::Status, Expr::val("digested"))
        .filter(Column::Id.eq(id))
        .exec(txn)
        .await?;
    Ok(())
}

/// Records how the send of `id` went (`sent`, or `failed` with `error`) at
/// `now`, unless another server took the event over meanwhile.
pub async fn record(
    db: &DatabaseConnection,
    id: i64,
    me: &str,
    status: &str,
    error: Option<String>,
    now: i64,
) -> Result<(), DbErr> {
    alarm_event::Entity::update_many()
        .col_expr(Column::Status, Expr::val(status))
        .col_expr(Column::SentMs, Expr::val(now))
        .col_expr(Column::Error, Expr::val(error))
        .filter(Column::Id.eq(id))
        .filter(Column::ClaimedBy.eq(me))
        .filter(Column::Status.eq("sending"))
        .exec(db)
        .await?;
    Ok(())
}

/// The (alarm, project) pairs with events held back for a digest.
pub async fn held_pairs(db: &DatabaseConnection) -> Result<Vec<(i64, i64)>, StoreError> {
    Ok(alarm_event::Entity::find()
        .select_only()
        .columns([Column::AlarmId, Column::ProjectId])
        .distinct()
        .filter(Column::Status.eq("digested"))
        .into_tuple::<(i64, i64)>()
        .all(db)
        .await?)
}

#[derive(FromQueryResult)]
struct Summarized {
    trigger: String,
}

/// Marks the events of `alarm` and `project` held back as summed up in a
/// digest; returns their triggers.
pub async fn summarize<C: ConnectionTrait>(
    txn: &C,
    alarm: i64,
    project: i64,
) -> Result<Vec<String>, StoreError> {
    let update = Query::update()
        .table(alarm_event::Entity)
        .value(Column::Status, "summarized")
        .and_where(Expr::col(Column::AlarmId).eq(alarm))
        .and_where(Expr::col(Column::ProjectId).eq(project))
        .and_where(Expr::col(Column::Status).eq("digested"))
        .returning(Query::returning().column(Column::Trigger))
        .to_owned();
    // RETURNING on both backends, as in `claim`
    let rows = Summarized::find_by_statement(txn.get_database_backend().build(&update))
        .all(txn)
        .await?;
    Ok(rows.into_iter().map(|r| r.trigger).collect())
}

/// Queues a digest of `alarm` and `project` with `text`, claimed by `me`
/// at `now` with its slot of the rate taken; returns its id.
pub async fn insert_digest<C: ConnectionTrait>(
    txn: &C,
    alarm: i64,
    project: i64,
    text: &str,
    me: &str,
    now: i64,
) -> Result<i64, StoreError> {
    let inserted = alarm_event::Entity::insert(alarm_event::ActiveModel {
        project_id: Set(project),
        alarm_id: Set(alarm),
        trigger: Set("digest".into()),
        message: Set(text.to_owned()),
        created_ms: Set(now),
        status: Set("sending".into()),
        claimed_by: Set(Some(me.to_owned())),
        claimed_ms: Set(Some(now)),
        sent_ms: Set(Some(now)),
        ..Default::default()
    })
    .exec(txn)
    .await?;
    Ok(inserted.last_insert_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_skip_rows_locked_by_another_server_on_postgresql_only() {
        let sql = |backend: DbBackend| {
            backend
                .build(&claim_statement(backend, "me", 10, 5, 100))
                .to_string()
        };
        let postgres = sql(DbBackend::Postgres);
        assert!(postgres.contains("FOR UPDATE SKIP LOCKED"), "{postgres}");
        assert!(postgres.contains("RETURNING"), "{postgres}");
        let sqlite = sql(DbBackend::Sqlite);
        assert!(!sqlite.contains("FOR UPDATE"), "{sqlite}");
        assert!(sqlite.contains("RETURNING"), "{sqlite}");
    }
}
