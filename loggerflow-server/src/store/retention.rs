//! Report retention: reports older than the retention, and a project's
//! oldest reports past its count, are deleted in small chunks.
//!
//! The background task ([`crate::tasks::prune_reports`]) plans a pass from the
//! pool ([`plan`]); each chunk ([`prune_chunk`]) runs in the writer's task,
//! between two ingest batches, in a transaction of its own: on SQLite a chunk
//! never waits on the writer's lock (nor the writer on it), so the ingest
//! acknowledgement is delayed by one chunk at most.
//!
//! A group keeps its true count, its first and last seen, and its first
//! report (its oldest, by time then id); `error_groups.pruned` counts its
//! reports deleted here.

use std::collections::BTreeMap;

use sea_orm::sea_query::{Alias, Expr, ExprTrait, Order, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, FromQueryResult};

use super::StoreError;
use super::entity::{error_group, report};

/// What reports are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Reports older than this many milliseconds go (`None`: kept forever).
    pub max_age_ms: Option<i64>,
    /// A project keeps at most this many reports, its newest (`None`: no limit).
    pub max_per_project: Option<u64>,
}

/// What one project needs pruned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prune {
    /// The project.
    pub project: i64,
    /// Its reports before this time go (ms), if any are that old.
    pub before_ms: Option<i64>,
    /// How many of its oldest reports go besides, to bring it under its count.
    pub excess: u64,
}

/// Reports deleted in one chunk at most: one chunk of ~2.3 KB reports takes
/// a few milliseconds on SQLite (BENCHMARKS.md, "Retention").
pub const CHUNK: u64 = 500;

#[derive(FromQueryResult)]
struct ProjectRow {
    project_id: i64,
    reports: i64,
    oldest: Option<i64>,
}

/// What to prune now, per project, under `policy` (read from the pool:
/// one grouped scan of the `(project_id, ts_ms)` index).
pub async fn plan(
    db: &DatabaseConnection,
    policy: Policy,
    now_ms: i64,
) -> Result<Vec<Prune>, StoreError> {
    if policy.max_age_ms.is_none() && policy.max_per_project.is_none() {
        return Ok(Vec::new());
    }
    let query = Query::select()
        .column(report::Column::ProjectId)
        .expr_as(Expr::col(report::Column::Id).count(), Alias::new("reports"))
        .expr_as(Expr::col(report::Column::TsMs).min(), Alias::new("oldest"))
        .from(report::Entity)
        .group_by_col(report::Column::ProjectId)
        .to_owned();
    let rows = ProjectRow::find_by_statement(db.get_database_backend().build(&query))
        .all(db)
        .await?;
    let cutoff = policy.max_age_ms.map(|age| now_ms.saturating_sub(age));
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            let before_ms = cutoff.filter(|c| row.oldest.is_some_and(|o| o < *c));
            let excess = match policy.max_per_project {
                Some(max) => u64::try_from(row.reports).unwrap_or(0).saturating_sub(max),
                None => 0,
            };
            (before_ms.is_some() || excess > 0).then_some(Prune {
                project: row.project_id,
                before_ms,
                excess,
            })
        })
        .collect())
}

#[derive(FromQueryResult)]
struct Deleted {
    group_id: i64,
}

/// Deletes up to `limit` of `project`'s oldest reports (those before
/// `before_ms` only, when given), never a group's first one, and counts them
/// in their groups' `pruned`; returns how many went. Run it in a transaction.
pub(crate) async fn prune_chunk<C: ConnectionTrait>(
    txn: &C,
    project: i64,
    before_ms: Option<i64>,
    limit: u64,
) -> Result<u64, DbErr> {
    let backend = txn.get_database_backend();
    // a group's first report (its oldest, by time then id) is kept: only a
    // report with an earlier one in its group goes (the `(group_id, ts_ms)`
    // index finds it)
    let earlier = Alias::new("earlier");
    let has_earlier = Query::select()
        .expr(Expr::val(1))
        .from_as(report::Entity, earlier.clone())
        .and_where(
            Expr::col((earlier.clone(), report::Column::GroupId))
                .equals((report::Entity, report::Column::GroupId)),
        )
        .and_where(
            Expr::col((earlier.clone(), report::Column::TsMs))
                .lt(Expr::col((report::Entity, report::Column::TsMs)))
                .or(Expr::col((earlier.clone(), report::Column::TsMs))
                    .equals((report::Entity, report::Column::TsMs))
                    .and(
                        Expr::col((earlier, report::Column::Id))
                            .lt(Expr::col((report::Entity, report::Column::Id))),
                    )),
        )
        .to_owned();
    let mut oldest = Query::select();
    oldest
        .column((report::Entity, report::Column::Id))
        .from(report::Entity)
        .and_where(Expr::col((report::Entity, report::Column::ProjectId)).eq(project))
        .and_where(Expr::exists(has_earlier))
        .order_by((report::Entity, report::Column::TsMs), Order::Asc)
        .limit(limit);
    if let Some(before) = before_ms {
        oldest.and_where(Expr::col((report::Entity, report::Column::TsMs)).lt(before));
    }
    let delete = Query::delete()
        .from_table(report::Entity)
        .and_where(Expr::col(report::Column::Id).in_subquery(oldest.to_owned()))
        .returning_col(report::Column::GroupId)
        .to_owned();
    let deleted = Deleted::find_by_statement(backend.build(&delete))
        .all(txn)
        .await?;
    let mut per_group: BTreeMap<i64, i64> = BTreeMap::new();
    for row in &deleted {
        *per_group.entry(row.group_id).or_default() += 1;
    }
    for (group, count) in per_group {
        let update = Query::update()
            .table(error_group::Entity)
            .value(
                error_group::Column::Pruned,
                Expr::col(error_group::Column::Pruned).add(count),
            )
            .and_where(Expr::col(error_group::Column::Id).eq(group))
            .to_owned();
        txn.execute_raw(backend.build(&update)).await?;
    }
    Ok(deleted.len() as u64)
}
