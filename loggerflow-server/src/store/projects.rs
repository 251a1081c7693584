//! Projects: the list the dashboard and the API show, lookups by name,
//! hiding and deleting.

use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, LockType, OnConflict, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr,
    EntityTrait, FromQueryResult, QueryFilter, QueryOrder, QuerySelect,
};
use serde::Serialize;

use super::entity::{
    alarm_connection, alarm_event, error_group, instance, metric_rollup, metric_sample, project,
    report,
};
use super::instances::InstanceView;
use super::{StoreError, now_ms};

/// A project as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProjectView {
    /// Name.
    pub name: String,
    /// `online` if any instance is, else `offline` if any is, else `stopped` (or `unknown`).
    pub status: String,
    /// Implementation(s) of its instances.
    pub implementation: String,
    /// Where else its apps send reports: the backends (or sinks) its
    /// instances of its status named, `, `-separated.
    pub backends: String,
    /// The people those backends mention, `, `-separated.
    pub authors: String,
    /// Heartbeat interval of its newest instance.
    pub heartbeat_s: Option<i32>,
    /// Newest heartbeat of any instance (ms).
    pub last_heartbeat_ms: Option<i64>,
    /// Reports stored.
    pub error_count: i64,
    /// Error groups.
    pub group_count: i64,
    /// Title of the newest group.
    pub last_error: Option<String>,
    /// Hidden from the dashboard.
    pub hidden: bool,
    /// Its instances, newest first.
    pub instances: Vec<InstanceView>,
}

#[derive(FromQueryResult)]
struct GroupTotals {
    project_id: i64,
    reports: i64,
    groups: i64,
}

/// Every project with its instances and error totals.
pub async fn all(db: &DatabaseConnection) -> Result<Vec<ProjectView>, StoreError> {
    let projects = project::Entity::find()
        .order_by_asc(project::Column::Name)
        .all(db)
        .await?;
    let instances = super::instances::all(db).await?;
    // SUM of a BIGINT is a NUMERIC on PostgreSQL: cast back
    let totals = error_group::Entity::find()
        .select_only()
        .column(error_group::Column::ProjectId)
        .expr_as(
            Func::coalesce([Expr::col(error_group::Column::Count).sum(), Expr::val(0)])
                .cast_as("BIGINT"),
            "reports",
        )
        .expr_as(Expr::col(error_group::Column::Id).count(), "groups")
        .group_by(error_group::Column::ProjectId)
        .into_model::<GroupTotals>()
        .all(db)
        .await?;
    let mut last_errors = last_errors(db).await?;
    let mut views = Vec::with_capacity(projects.len());
    for p in projects {
        let mine: Vec<InstanceView> = instances
            .iter()
            .filter(|i| i.project_id == p.id)
            .cloned()
            .collect();
        let status = ["online", "offline", "stopped"]
            .into_iter()
            .find(|s| mine.iter().any(|i| i.status == *s))
            .unwrap_or("unknown")
            .to_owned();
        let current: Vec<&InstanceView> = mine.iter().filter(|i| i.status == status).collect();
        let backends = union(current.iter().map(|i| i.backends.as_str()));
        let authors = union(current.iter().map(|i| i.authors.as_str()));
        let mut implementation: Vec<&str> = mine.iter().map(|i| i.transport.as_str()).collect();
        implementation.sort_unstable();
        implementation.dedup();
        let last_error = last_errors.remove(&p.id);
        let t = totals.iter().find(|t| t.project_id == p.id);
        views.push(ProjectView {
            name: p.name,
            status,
            implementation: implementation.join(", "),
            backends,
            authors,
            heartbeat_s: mine.first().map(|i| i.heartbeat_s),
            last_heartbeat_ms: mine.iter().map(|i| i.last_seen_ms).max(),
            error_count: t.map_or(0, |t| t.reports),
            group_count: t.map_or(0, |t| t.groups),
            last_error,
            hidden: p.hidden,
            instances: mine,
        });
    }
    Ok(views)
}

/// The names of `lists` (each `, `-separated), each once, in order.
fn union<'a>(lists: impl Iterator<Item = &'a str>) -> String {
    let mut names: Vec<&str> = Vec::new();
    for name in lists.flat_map(|list| list.split(", ")) {
        if !name.is_empty() && !names.contains(&name) {
            names.push(name);
        }
    }
    names.join(", ")
}

/// The title of each project's most recently seen group, in one query (the
/// newest of a project found through `ix_error_groups_project_last_seen`).
async fn last_errors(
    db: &DatabaseConnection,
) -> Result<std::collections::HashMap<i64, String>, StoreError> {
    use error_group::Column;
    let latest = Alias::new("latest");
    let newest_seen = Query::select()
        .expr(Expr::col((latest.clone(), Column::LastSeenMs)).max())
        .from_as(error_group::Entity, latest.clone())
        .and_where(
            Expr::col((latest, Column::ProjectId)).equals((error_group::Entity, Column::ProjectId)),
        )
        .to_owned();
    let rows = error_group::Entity::find()
        .select_only()
        .columns([Column::ProjectId, Column::Title])
        .filter(Expr::col((error_group::Entity, Column::LastSeenMs)).eq(newest_seen))
        // of two groups seen at the same time, the newer
        .order_by_desc(Column::Id)
        .into_tuple::<(i64, String)>()
        .all(db)
        .await?;
    let mut last = std::collections::HashMap::with_capacity(rows.len());
    for (project, title) in rows {
        last.entry(project).or_insert(title);
    }
    Ok(last)
}

/// The names of every project, in order.
pub async fn names(db: &DatabaseConnection) -> Result<Vec<String>, StoreError> {
    Ok(project::Entity::find()
        .select_only()
        .column(project::Column::Name)
        .order_by_asc(project::Column::Name)
        .into_tuple::<String>()
        .all(db)
        .await?)
}

/// The id of the project named `name`.
pub async fn id(db: &DatabaseConnection, name: &str) -> Result<Option<i64>, StoreError> {
    // names are stored without NUL (PostgreSQL refuses it in text, also in
    // a comparison): such a name is no project's
    if name.contains('\0') {
        return Ok(None);
    }
    Ok(project::Entity::find()
        .select_only()
        .column(project::Column::Id)
        .filter(project::Column::Name.eq(name))
        .into_tuple::<i64>()
        .one(db)
        .await?)
}

/// The name of the project `id` (`""` once deleted).
pub async fn name(db: &DatabaseConnection, id: i64) -> Result<String, StoreError> {
    Ok(project::Entity::find_by_id(id)
        .select_only()
        .column(project::Column::Name)
        .into_tuple::<String>()
        .one(db)
        .await?
        .unwrap_or_default())
}

/// Creates the project `name` unless it exists; returns its id.
pub async fn ensure(db: &DatabaseConnection, name: &str) -> Result<Option<i64>, StoreError> {
    create(db, name, now_ms()).await?;
    id(db, name).await
}

/// Hides or returns a project; false if there is none of that name.
pub async fn set_hidden(
    db: &DatabaseConnection,
    name: &str,
    hidden: bool,
) -> Result<bool, StoreError> {
    if name.contains('\0') {
        return Ok(false);
    }
    let result = project::Entity::update_many()
        .col_expr(project::Column::Hidden, Expr::value(hidden))
        .filter(project::Column::Name.eq(name))
        .exec(db)
        .await?;
    Ok(result.rows_affected > 0)
}

/// Deletes a project with its reports, groups, instances, metrics, alarm
/// connections and history, in one transaction; false if there is none of
/// that name. The writer calls it (`Writer::delete_project`), so its cache
/// of project ids never names a deleted one.
pub async fn delete(db: &DatabaseConnection, name: &str) -> Result<bool, StoreError> {
    let Some(id) = id(db, name).await? else {
        return Ok(false);
    };
    let txn = super::begin_write(db).await?;
    if txn.get_database_backend() != DbBackend::Sqlite {
        // first the project's row: a server writing to it holds it (FOR KEY
        // SHARE) until its commit, so the deletion waits for that write
        // instead of deadlocking with it over the project's groups
        project::Entity::find_by_id(id)
            .select_only()
            .column(project::Column::Id)
            .lock(LockType::Update)
            .into_tuple::<i64>()
            .one(&txn)
            .await?;
    }
    report::Entity::delete_many()
        .filter(report::Column::ProjectId.eq(id))
        .exec(&txn)
        .await?;
    super::releases::delete_of_project(&txn, id).await?;
    error_group::Entity::delete_many()
        .filter(error_group::Column::ProjectId.eq(id))
        .exec(&txn)
        .await?;
    metric_sample::Entity::delete_many()
        .filter(metric_sample::Column::ProjectId.eq(id))
        .exec(&txn)
        .await?;
    metric_rollup::Entity::delete_many()
        .filter(metric_rollup::Column::ProjectId.eq(id))
        .exec(&txn)
        .await?;
    instance::Entity::delete_many()
        .filter(instance::Column::ProjectId.eq(id))
        .exec(&txn)
        .await?;
    alarm_connection::Entity::delete_many()
        .filter(alarm_connection::Column::ProjectId.eq(id))
        .exec(&txn)
        .await?;
    alarm_event::Entity::delete_many()
        .filter(alarm_event::Column::ProjectId.eq(id))
        .exec(&txn)
        .await?;
    project::Entity::delete_by_id(id).exec(&txn).await?;
    txn.commit().await?;
    Ok(true)
}

// What the writer (`store::writer`) reads and writes of projects, in its
// transaction: `C` is its savepoint.

/// Whether project `id` still exists; on PostgreSQL its row is held (`FOR
/// KEY SHARE`) until the transaction ends, so no deletion lands before the
/// writer's commit.
pub(crate) async fn hold<C: ConnectionTrait>(conn: &C, id: i64) -> Result<bool, DbErr> {
    Ok(project::Entity::find_by_id(id)
        .select_only()
        .column(project::Column::Id)
        .lock(LockType::KeyShare)
        .into_tuple::<i64>()
        .one(conn)
        .await?
        .is_some())
}

/// Creates the project `name` at `now` unless it exists; true if it was
/// created.
pub(crate) async fn create<C: ConnectionTrait>(
    conn: &C,
    name: &str,
    now: i64,
) -> Result<bool, DbErr> {
    let inserted = project::Entity::insert(project::ActiveModel {
        name: Set(name.to_owned()),
        created_ms: Set(now),
        hidden: Set(false),
        ..Default::default()
    })
    .on_conflict(
        OnConflict::column(project::Column::Name)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(conn)
    .await?;
    Ok(inserted > 0)
}

/// The id of the project `name`, its row held as by [`hold`] on
/// PostgreSQL.
pub(crate) async fn id_held<C: ConnectionTrait>(
    conn: &C,
    name: &str,
) -> Result<Option<i64>, DbErr> {
    project::Entity::find()
        .select_only()
        .column(project::Column::Id)
        .filter(project::Column::Name.eq(name))
        .lock(LockType::KeyShare)
        .into_tuple::<i64>()
        .one(conn)
        .await
}
