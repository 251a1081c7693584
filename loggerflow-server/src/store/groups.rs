//! Error groups and the reports in them: what the errors and report pages
//! and the API read, and the group state they change. (The writer stores
//! reports and grows groups: `store::writer`.)

use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, LikeExpr, Order, Query};
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, FromQueryResult, JoinType,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde::Serialize;

use super::entity::{error_group, group_release, release, report};
use super::releases::Filter;
use super::{StoreError, now_ms};

/// An error group as the API shows it.
#[derive(Debug, Clone, Serialize, FromQueryResult, utoipa::ToSchema)]
pub struct GroupView {
    /// Group id.
    pub id: i64,
    /// Title.
    pub title: String,
    /// The grouping key.
    pub fingerprint: String,
    /// Reports the group ever had (its true count, pruned ones included).
    pub count: i64,
    /// Of those, deleted by report retention.
    pub pruned: i64,
    /// First seen (ms).
    pub first_seen_ms: i64,
    /// Last seen (ms).
    pub last_seen_ms: i64,
    /// `open`, `resolved` or `ignored`.
    pub state: String,
    /// Came back after being resolved.
    pub regressed: bool,
    /// The release it was first seen in (of the environment asked for, or
    /// of any), if its reports named one.
    #[sea_orm(skip)]
    pub first_release: Option<SeenIn>,
    /// The release it was last seen in (likewise).
    #[sea_orm(skip)]
    pub last_release: Option<SeenIn>,
    /// The release it came back in, the last time it did.
    #[sea_orm(skip)]
    pub regressed_in: Option<SeenIn>,
}

/// A release and its environment, as answers name them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SeenIn {
    /// `production`, `staging`…
    pub environment: String,
    /// The release (`""`: the reports named none).
    pub release: String,
}

/// The groups of a project, most recent first, optionally of one state and
/// of a release filter (seen in one of its releases).
pub async fn of_project(
    db: &DatabaseConnection,
    project: i64,
    state: Option<&str>,
    filter: Option<&Filter>,
) -> Result<Vec<GroupView>, StoreError> {
    let mut select = error_group::Entity::find().filter(error_group::Column::ProjectId.eq(project));
    if let Some(state) = state {
        select = select.filter(error_group::Column::State.eq(state));
    }
    if let Some(filter) = filter {
        select = select.filter(in_filter(filter));
    }
    let mut groups = select
        .order_by_desc(error_group::Column::LastSeenMs)
        .into_model::<GroupView>()
        .all(db)
        .await?;
    // of the whole project (no list of ids: a project may have many groups)
    let mut of_project = Query::select()
        .column(error_group::Column::Id)
        .from(error_group::Entity)
        .and_where(Expr::col(error_group::Column::ProjectId).eq(project))
        .to_owned();
    if let Some(state) = state {
        of_project.and_where(Expr::col(error_group::Column::State).eq(state));
    }
    let seen = seen_in(
        db,
        group_release::Column::GroupId.in_subquery(of_project),
        filter,
    )
    .await?;
    let regressed: Vec<(i64, String, String)> = with_release_names(
        error_group::Entity::find()
            .select_only()
            .column(error_group::Column::Id),
    )
    .join(
        JoinType::InnerJoin,
        error_group::Entity::belongs_to(release::Entity)
            .from(error_group::Column::RegressedReleaseId)
            .to(release::Column::Id)
            .into(),
    )
    .filter(error_group::Column::ProjectId.eq(project))
    .into_tuple()
    .all(db)
    .await?;
    let regressed: std::collections::HashMap<i64, SeenIn> = regressed
        .into_iter()
        .map(|(group, environment, release)| {
            (
                group,
                SeenIn {
                    environment,
                    release,
                },
            )
        })
        .collect();
    for group in &mut groups {
        if let Some((first, last)) = seen.get(&group.id) {
            group.first_release = Some(first.clone());
            group.last_release = Some(last.clone());
        }
        group.regressed_in = regressed.get(&group.id).cloned();
    }
    Ok(groups)
}

/// `select` with the joined release's environment and version, as
/// `environment` and `version` (the caller joins `release`).
fn with_release_names<E: EntityTrait>(select: sea_orm::Select<E>) -> sea_orm::Select<E> {
    select
        .column_as(
            Expr::col((release::Entity, release::Column::Environment)),
            "environment",
        )
        .column_as(
            Expr::col((release::Entity, release::Column::Version)),
            "version",
        )
}

/// The groups a release filter selects: seen in one of its releases, or
/// (production without a release asked for) stored before releases were
/// kept.
fn in_filter(filter: &Filter) -> Condition {
    let seen = Query::select()
        .column(group_release::Column::GroupId)
        .from(group_release::Entity)
        .and_where(group_release::Column::ReleaseId.in_subquery(filter.ids.clone()))
        .to_owned();
    let condition = Condition::any().add(error_group::Column::Id.in_subquery(seen));
    if filter.unlabelled {
        let any = Query::select()
            .column(group_release::Column::GroupId)
            .from(group_release::Entity)
            .to_owned();
        condition.add(error_group::Column::Id.not_in_subquery(any))
    } else {
        condition
    }
}

/// The first and last release each group `groups` selects was seen in
/// (among the filter's releases when given), in one join.
pub async fn seen_in(
    db: &DatabaseConnection,
    groups: sea_orm::sea_query::SimpleExpr,
    filter: Option<&Filter>,
) -> Result<std::collections::HashMap<i64, (SeenIn, SeenIn)>, StoreError> {
    use group_release::Column;
    let mut select = with_release_names(group_release::Entity::find().select_only().columns([
        Column::GroupId,
        Column::FirstSeenMs,
        Column::LastSeenMs,
    ]))
    .join(JoinType::InnerJoin, super::releases::to_release())
    .filter(groups);
    if let Some(filter) = filter {
        select = select.filter(Column::ReleaseId.in_subquery(filter.ids.clone()));
    }
    let rows: Vec<(i64, i64, i64, String, String)> = select.into_tuple().all(db).await?;
    let mut seen: std::collections::HashMap<i64, (i64, SeenIn, i64, SeenIn)> =
        std::collections::HashMap::new();
    for (group, first, last, environment, release) in rows {
        let named = SeenIn {
            environment,
            release,
        };
        let entry = seen
            .entry(group)
            .or_insert_with(|| (first, named.clone(), last, named.clone()));
        if first < entry.0 {
            entry.0 = first;
            entry.1 = named.clone();
        }
        if last > entry.2 {
            entry.2 = last;
            entry.3 = named;
        }
    }
    Ok(seen
        .into_iter()
        .map(|(group, (_, first, _, last))| (group, (first, last)))
        .collect())
}

/// How many groups one errors page shows.
pub const GROUPS_PER_PAGE: u64 = 50;

/// A `LIKE` pattern matching text that contains `text` (its `%`, `_` and
/// `\` escaped with `\`).
fn contains(text: &str) -> LikeExpr {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    LikeExpr::new(format!("%{escaped}%")).escape('\\')
}

#[derive(FromQueryResult)]
struct PageRow {
    id: i64,
    title: String,
    fingerprint: String,
    count: i64,
    pruned: i64,
    first_seen_ms: i64,
    last_seen_ms: i64,
    state: String,
    regressed: bool,
    newest: Option<uuid::Uuid>,
}

/// One page of a project's groups for the dashboard, newest first: of one
/// state, whose title contains `search` (case-insensitive), older than the
/// cursor `after` (`(last_seen_ms, id)`). Returns the groups, each with the
/// id of its newest report, and the cursor of the next page.
pub async fn page(
    db: &DatabaseConnection,
    project: i64,
    state: Option<&str>,
    search: &str,
    filter: Option<&Filter>,
    after: Option<(i64, i64)>,
) -> Result<(Vec<(GroupView, Option<String>)>, Option<(i64, i64)>), StoreError> {
    use error_group::Column;
    let newest = Query::select()
        .column((report::Entity, report::Column::Id))
        .from(report::Entity)
        .and_where(
            Expr::col((report::Entity, report::Column::GroupId))
                .equals((error_group::Entity, Column::Id)),
        )
        .order_by((report::Entity, report::Column::TsMs), Order::Desc)
        .order_by((report::Entity, report::Column::Id), Order::Desc)
        .limit(1)
        .to_owned();
    let mut select = error_group::Entity::find()
        .expr_as(Expr::from(newest), "newest")
        .filter(Column::ProjectId.eq(project));
    if let Some(state) = state {
        select = select.filter(Column::State.eq(state));
    }
    if let Some(filter) = filter {
        select = select.filter(in_filter(filter));
    }
    if !search.is_empty() {
        // folded by the server on both sides (Unicode rules): titles are
        // stored folded (`title_folded`), as SQLite's LOWER folds only ASCII
        select = select.filter(
            Func::coalesce([
                Expr::col((error_group::Entity, Column::TitleFolded)),
                Func::lower(Expr::col((error_group::Entity, Column::Title))).into(),
            ])
            // titles are stored without NUL (PostgreSQL refuses it)
            .like(contains(&search.replace('\0', "").to_lowercase())),
        );
    }
    if let Some((seen, id)) = after {
        select = select.filter(
            Condition::any().add(Column::LastSeenMs.lt(seen)).add(
                Condition::all()
                    .add(Column::LastSeenMs.eq(seen))
                    .add(Column::Id.lt(id)),
            ),
        );
    }
    // one more than a page tells whether there is a next one
    let mut rows = select
        .order_by_desc(Column::LastSeenMs)
        .order_by_desc(Column::Id)
        .limit(GROUPS_PER_PAGE + 1)
        .into_model::<PageRow>()
        .all(db)
        .await?;
    let more = rows.len() as u64 > GROUPS_PER_PAGE;
    rows.truncate(usize::try_from(GROUPS_PER_PAGE).unwrap_or(50));
    let next = more
        .then(|| rows.last().map(|r| (r.last_seen_ms, r.id)))
        .flatten();
    // the page's groups: at most `GROUPS_PER_PAGE` ids
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let seen = seen_in(
        db,
        group_release::Column::GroupId.is_in(ids.iter().copied()),
        filter,
    )
    .await?;
    let groups = rows
        .into_iter()
        .map(|r| {
            let (first_release, last_release) = match seen.get(&r.id) {
                Some((first, last)) => (Some(first.clone()), Some(last.clone())),
                None => (None, None),
            };
            (
                GroupView {
                    id: r.id,
                    title: r.title,
                    fingerprint: r.fingerprint,
                    count: r.count,
                    pruned: r.pruned,
                    first_seen_ms: r.first_seen_ms,
                    last_seen_ms: r.last_seen_ms,
                    state: r.state,
                    regressed: r.regressed,
                    first_release,
                    last_release,
                    regressed_in: None,
                },
                r.newest.map(|id| id.to_string()),
            )
        })
        .collect();
    Ok((groups, next))
}

/// Reports per group and hour over the 24 h before `now_ms`, for the
/// sparklines of `groups`: `(group, hour 0..24 oldest first, count)`.
pub async fn hourly_counts(
    db: &DatabaseConnection,
    groups: &[i64],
    now_ms: i64,
) -> Result<Vec<(i64, i64, i64)>, StoreError> {
    if groups.is_empty() {
        return Ok(Vec::new());
    }
    let since = now_ms - 24 * 3_600_000;
    Ok(report::Entity::find()
        .select_only()
        .column(report::Column::GroupId)
        .expr_as(
            Expr::col(report::Column::TsMs).sub(since).div(3_600_000),
            "hour",
        )
        .expr(Expr::col(report::Column::Id).count())
        .filter(report::Column::GroupId.is_in(groups.iter().copied()))
        .filter(report::Column::TsMs.gte(since))
        // by the output column: each bound value is a parameter of its own,
        // so the expression repeated would not be the same one on PostgreSQL
        .group_by(report::Column::GroupId)
        .group_by(Expr::col(Alias::new("hour")))
        .into_tuple::<(i64, i64, i64)>()
        .all(db)
        .await?)
}

/// Sets a group's state (`open`, `resolved`, `ignored`); false when no such group.
pub async fn set_state(
    db: &DatabaseConnection,
    project: i64,
    group: i64,
    state: &str,
) -> Result<bool, StoreError> {
    use error_group::Column;
    let mut update = error_group::Entity::update_many()
        .col_expr(Column::State, Expr::val(state))
        .filter(Column::ProjectId.eq(project))
        .filter(Column::Id.eq(group));
    if state != "open" {
        update = update.col_expr(Column::Regressed, Expr::val(false));
    }
    if state == "resolved" {
        // the Releases page counts the errors resolved since each release
        update = update.col_expr(Column::ResolvedMs, Expr::val(now_ms()));
    }
    Ok(update.exec(db).await?.rows_affected == 1)
}

/// How many reports `project` stored since `since_ms` (its badge), through
/// the `(project_id, ts_ms)` index.
pub async fn reports_since(
    db: &DatabaseConnection,
    project: i64,
    since_ms: i64,
) -> Result<u64, StoreError> {
    let count = report::Entity::find()
        .filter(report::Column::ProjectId.eq(project))
        .filter(report::Column::TsMs.gte(since_ms))
        .count(db)
        .await?;
    Ok(count)
}

/// A stored report with where it belongs.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReportView {
    /// Its group.
    pub group_id: i64,
    /// The instance that sent it.
    pub instance_id: Option<String>,
    /// The report.
    pub report: serde_json::Value,
    /// The release it came from (`null`: it named none).
    pub release: Option<String>,
    /// The environment it came from (`production` for reports that named
    /// none, and those stored before environments were kept).
    pub environment: String,
    /// The cursor for the next (older) page: pass it as `before`.
    pub cursor: String,
}

#[derive(FromQueryResult)]
struct PayloadRow {
    id: uuid::Uuid,
    ts_ms: i64,
    group_id: i64,
    instance_id: Option<String>,
    body: Vec<u8>,
    release_id: Option<i64>,
}

/// Reports of a project (optionally of one group), newest first, `limit` at
/// most, older than the cursor `before` (`"{ts_ms}:{id}"`) when given.
pub async fn reports(
    db: &DatabaseConnection,
    project: i64,
    group: Option<i64>,
    filter: Option<&Filter>,
    limit: u64,
    before: Option<(i64, uuid::Uuid)>,
) -> Result<Vec<ReportView>, StoreError> {
    use report::Column;
    // ids compare as 16 bytes: the largest one stands for "none"
    let (before_ts, before_id) = before.unwrap_or((i64::MAX, uuid::Uuid::max()));
    let mut select = report::Entity::find()
        .select_only()
        .columns([
            Column::Id,
            Column::TsMs,
            Column::GroupId,
            Column::InstanceId,
            Column::Body,
            Column::ReleaseId,
        ])
        .filter(Column::ProjectId.eq(project))
        .filter(older_than(before_ts, before_id));
    if let Some(group) = group {
        select = select.filter(Column::GroupId.eq(group));
    }
    if let Some(filter) = filter {
        let mut matches = Condition::any().add(Column::ReleaseId.in_subquery(filter.ids.clone()));
        if filter.unlabelled {
            matches = matches.add(Column::ReleaseId.is_null());
        }
        select = select.filter(matches);
    }
    let rows = select
        .order_by_desc(Column::TsMs)
        .order_by_desc(Column::Id)
        .limit(limit.clamp(1, 500))
        .into_model::<PayloadRow>()
        .all(db)
        .await?;
    let ids: Vec<i64> = rows.iter().filter_map(|r| r.release_id).collect();
    let names = super::releases::named(db, &ids).await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let named = r
                .release_id
                .and_then(|id| names.iter().find(|n| n.id == id));
            (r, named)
        })
        .map(|(r, named)| ReportView {
            group_id: r.group_id,
            instance_id: r.instance_id,
            release: named.map(|n| n.version.clone()).filter(|v| !v.is_empty()),
            environment: named.map_or_else(
                || super::releases::DEFAULT_ENVIRONMENT.to_owned(),
                |n| n.environment.clone(),
            ),
            report: super::payload::decode_json(&r.body)
                .ok()
                .and_then(|json| serde_json::from_slice(&json).ok())
                .unwrap_or(serde_json::Value::Null),
            cursor: format!("{}:{}", r.ts_ms, r.id),
        })
        .collect())
}

/// Reports before `(ts_ms, id)` in the order pages go (newest first).
fn older_than(ts_ms: i64, id: uuid::Uuid) -> Condition {
    Condition::any().add(report::Column::TsMs.lt(ts_ms)).add(
        Condition::all()
            .add(report::Column::TsMs.eq(ts_ms))
            .add(report::Column::Id.lt(id)),
    )
}

/// Reports after `(ts_ms, id)` in the order pages go (newest first).
fn newer_than(ts_ms: i64, id: uuid::Uuid) -> Condition {
    Condition::any().add(report::Column::TsMs.gt(ts_ms)).add(
        Condition::all()
            .add(report::Column::TsMs.eq(ts_ms))
            .add(report::Column::Id.gt(id)),
    )
}

/// A report as the report page shows it, with its neighbours in its group.
#[derive(Debug, Clone)]
pub struct StoredReport {
    /// Its group.
    pub group_id: i64,
    /// The `Report`, as stored ([`super::payload`]).
    pub body: Vec<u8>,
    /// The next older report of the group.
    pub older: Option<String>,
    /// The next newer report of the group.
    pub newer: Option<String>,
}

/// The stored body of the report `id` of `project`, if it is still stored.
pub async fn report_body(
    db: &DatabaseConnection,
    project: i64,
    id: uuid::Uuid,
) -> Result<Option<Vec<u8>>, StoreError> {
    use report::Column;
    Ok(report::Entity::find()
        .select_only()
        .column(Column::Body)
        .filter(Column::ProjectId.eq(project))
        .filter(Column::Id.eq(id))
        .into_tuple::<Vec<u8>>()
        .one(db)
        .await?)
}

/// The report `id` of `project` with its neighbours, if it is stored.
pub async fn report(
    db: &DatabaseConnection,
    project: i64,
    id: uuid::Uuid,
) -> Result<Option<StoredReport>, StoreError> {
    use report::Column;
    let Some((ts_ms, group_id, body)) = report::Entity::find()
        .select_only()
        .columns([Column::TsMs, Column::GroupId, Column::Body])
        .filter(Column::ProjectId.eq(project))
        .filter(Column::Id.eq(id))
        .into_tuple::<(i64, i64, Vec<u8>)>()
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let neighbour = |older: bool| {
        let select = report::Entity::find()
            .select_only()
            .column(Column::Id)
            .filter(Column::GroupId.eq(group_id));
        let (select, order) = if older {
            (select.filter(older_than(ts_ms, id)), Order::Desc)
        } else {
            (select.filter(newer_than(ts_ms, id)), Order::Asc)
        };
        select
            .order_by(Column::TsMs, order.clone())
            .order_by(Column::Id, order)
            .limit(1)
            .into_tuple::<uuid::Uuid>()
            .one(db)
    };
    let older = neighbour(true).await?.map(|id| id.to_string());
    let newer = neighbour(false).await?.map(|id| id.to_string());
    Ok(Some(StoredReport {
        group_id,
        body,
        older,
        newer,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::{DbBackend, QueryTrait};

    #[test]
    fn a_search_matches_its_wildcards_literally() {
        let statement = error_group::Entity::find()
            .filter(Expr::col(error_group::Column::Title).like(contains(r"50%_a\b")))
            .build(DbBackend::Sqlite);
        assert!(statement.sql.contains(r"ESCAPE '\'"), "{}", statement.sql);
        let values = format!("{:?}", statement.values);
        assert!(values.contains(r#""%50\\%\\_a\\\\b%""#), "{values}");
    }
}
