//! Alarms and their connections to projects (with the threshold settings
//! and state); the events they send are in [`super::alarm_events`].

use sea_orm::sea_query::{Expr, LockType, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbBackend,
    EntityTrait, FromQueryResult, JoinType, QueryFilter, QueryOrder, QuerySelect,
};

use super::entity::{alarm, alarm_connection, project};
use super::{StoreError, now_ms};

/// An alarm as stored (its fields hold secrets: mask them before showing).
pub type Alarm = alarm::Model;

/// Every alarm, by name.
pub async fn all(db: &DatabaseConnection) -> Result<Vec<Alarm>, StoreError> {
    Ok(alarm::Entity::find()
        .order_by_asc(alarm::Column::Name)
        .all(db)
        .await?)
}

/// The alarm `id`, if it still exists.
pub async fn get(db: &DatabaseConnection, id: i64) -> Result<Option<Alarm>, StoreError> {
    Ok(alarm::Entity::find_by_id(id).one(db).await?)
}

/// The id of the alarm named `name`.
pub async fn id(db: &DatabaseConnection, name: &str) -> Result<Option<i64>, StoreError> {
    // names are stored without NUL (PostgreSQL refuses it in text)
    if name.contains('\0') {
        return Ok(None);
    }
    Ok(alarm::Entity::find()
        .select_only()
        .column(alarm::Column::Id)
        .filter(alarm::Column::Name.eq(name))
        .into_tuple::<i64>()
        .one(db)
        .await?)
}

/// Stores a new alarm (`fields` as JSON); false if one of that name exists.
pub async fn create(
    db: &DatabaseConnection,
    name: &str,
    kind: &str,
    fields: &str,
) -> Result<bool, StoreError> {
    let inserted = alarm::Entity::insert(alarm::ActiveModel {
        name: Set(name.to_owned()),
        kind: Set(kind.to_owned()),
        fields: Set(fields.to_owned()),
        created_ms: Set(now_ms()),
        ..Default::default()
    })
    .on_conflict(
        OnConflict::column(alarm::Column::Name)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(inserted > 0)
}

/// Deletes the alarm `id` and its connections (its history stays).
pub async fn delete(db: &DatabaseConnection, id: i64) -> Result<(), StoreError> {
    alarm_connection::Entity::delete_many()
        .filter(alarm_connection::Column::AlarmId.eq(id))
        .exec(db)
        .await?;
    alarm::Entity::delete_by_id(id).exec(db).await?;
    Ok(())
}

/// What connects an alarm to a project.
#[derive(Debug, Clone)]
pub struct Connection {
    /// The project.
    pub project: i64,
    /// The alarm.
    pub alarm: i64,
    /// The triggers, as a JSON array.
    pub triggers: String,
    /// N of `every_nth`.
    pub every_nth: i64,
    /// `cpu_high`'s level (%).
    pub cpu_above: Option<f64>,
    /// `memory_high`'s level (bytes).
    pub memory_above_bytes: Option<i64>,
    /// How long a level must hold (s).
    pub for_seconds: i64,
    /// The environments it listens to, as a JSON array (none: all).
    pub environments: Option<String>,
}

/// Connects an alarm to a project, or replaces the connection (its
/// threshold state starts over).
pub async fn connect(db: &DatabaseConnection, c: &Connection) -> Result<(), StoreError> {
    use alarm_connection::Column;
    alarm_connection::Entity::insert(alarm_connection::ActiveModel {
        project_id: Set(c.project),
        alarm_id: Set(c.alarm),
        triggers: Set(c.triggers.clone()),
        every_nth: Set(c.every_nth),
        cpu_above: Set(c.cpu_above),
        memory_above_bytes: Set(c.memory_above_bytes),
        for_seconds: Set(c.for_seconds),
        environments: Set(c.environments.clone()),
        cpu_hot: Set(false),
        memory_hot: Set(false),
        ..Default::default()
    })
    .on_conflict(
        OnConflict::columns([Column::ProjectId, Column::AlarmId])
            .update_columns([
                Column::Triggers,
                Column::EveryNth,
                Column::CpuAbove,
                Column::MemoryAboveBytes,
                Column::ForSeconds,
                Column::Environments,
            ])
            .value(Column::CpuHot, Expr::val(false))
            .value(Column::MemoryHot, Expr::val(false))
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// A configured alarm with one of its connections.
#[derive(Debug, Clone, FromQueryResult)]
pub struct AlarmConnectionView {
    /// Alarm name.
    pub name: String,
    /// Kind.
    pub kind: String,
    /// Stored fields (JSON).
    pub fields: String,
    /// A connected project, if any.
    pub project: Option<String>,
    /// Its triggers (JSON array).
    pub triggers: Option<String>,
    /// The environments it listens to (JSON array; none: all).
    pub environments: Option<String>,
}

/// Every alarm, once per connected project (or once when it has none).
pub async fn connections(db: &DatabaseConnection) -> Result<Vec<AlarmConnectionView>, StoreError> {
    Ok(alarm::Entity::find()
        .select_only()
        .columns([
            alarm::Column::Name,
            alarm::Column::Kind,
            alarm::Column::Fields,
        ])
        .expr_as(
            Expr::col((project::Entity, project::Column::Name)),
            "project",
        )
        .column(alarm_connection::Column::Triggers)
        .column(alarm_connection::Column::Environments)
        .join_rev(
            JoinType::LeftJoin,
            alarm_connection::Entity::belongs_to(alarm::Entity)
                .from(alarm_connection::Column::AlarmId)
                .to(alarm::Column::Id)
                .into(),
        )
        .join(
            JoinType::LeftJoin,
            alarm_connection::Entity::belongs_to(project::Entity)
                .from(alarm_connection::Column::ProjectId)
                .to(project::Column::Id)
                .into(),
        )
        .order_by_asc(alarm::Column::Name)
        .order_by_asc(Expr::col((project::Entity, project::Column::Name)))
        .into_model::<AlarmConnectionView>()
        .all(db)
        .await?)
}

/// A connection with a CPU or memory threshold.
#[derive(Debug, Clone, FromQueryResult)]
pub struct Watch {
    /// The connection's row id.
    pub id: i64,
    /// The project.
    pub project_id: i64,
    /// `cpu_high`'s level (%).
    pub cpu_above: Option<f64>,
    /// `memory_high`'s level (bytes).
    pub memory_above_bytes: Option<i64>,
    /// How long a level must hold (s).
    pub for_seconds: i64,
    /// The CPU level fired and has not recovered.
    pub cpu_hot: bool,
    /// The memory level fired and has not recovered.
    pub memory_hot: bool,
}

/// The connections with a threshold.
pub async fn watches(db: &DatabaseConnection) -> Result<Vec<Watch>, StoreError> {
    use alarm_connection::Column;
    Ok(alarm_connection::Entity::find()
        .filter(
            Condition::any()
                .add(Column::CpuAbove.is_not_null())
                .add(Column::MemoryAboveBytes.is_not_null()),
        )
        .into_model::<Watch>()
        .all(db)
        .await?)
}

/// The threshold state of a connection: which one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hot {
    /// `cpu_hot`.
    Cpu,
    /// `memory_hot`.
    Memory,
}

/// Flips the threshold state `which` of connection `id` to `to`; true when
/// this call changed it (once per change, whatever number of servers try).
pub async fn flip<C: ConnectionTrait>(
    conn: &C,
    id: i64,
    which: Hot,
    to: bool,
) -> Result<bool, StoreError> {
    let column = match which {
        Hot::Cpu => alarm_connection::Column::CpuHot,
        Hot::Memory => alarm_connection::Column::MemoryHot,
    };
    let flipped = alarm_connection::Entity::update_many()
        .col_expr(column, Expr::val(to))
        .filter(alarm_connection::Column::Id.eq(id))
        .filter(column.eq(!to))
        .exec(conn)
        .await?;
    Ok(flipped.rows_affected == 1)
}

/// Takes the lock the rate decision of `alarm` is made under, until the
/// transaction ends (PostgreSQL: its row, `FOR UPDATE`; SQLite's write
/// transaction holds the whole database already).
pub async fn lock<C: ConnectionTrait>(txn: &C, alarm: i64) -> Result<(), StoreError> {
    if txn.get_database_backend() == DbBackend::Postgres {
        alarm::Entity::find_by_id(alarm)
            .select_only()
            .column(alarm::Column::Id)
            .lock(LockType::Update)
            .into_tuple::<i64>()
            .one(txn)
            .await?;
    }
    Ok(())
}
