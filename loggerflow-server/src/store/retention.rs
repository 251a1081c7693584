//! Report retention: reports older than the retention, and a project's
//! oldest reports past its count, are deleted in small chunks.
//!
//! The background task ([`crate::tasks::prune_reports`]) plans a pass from the
//! pool ([`plan`]: per project, the live reports and groups from
//! `error_groups`, and its oldest report through the `(project_id, ts_ms)`
//! index); each chunk ([`prune_chunk`]) runs in the writer's task, between two
//! ingest batches, in a transaction of its own: on SQLite a chunk never waits
//! on the writer's lock (nor the writer on it), so the ingest acknowledgement
//! is delayed by one chunk at most.
//!
//! A group keeps its true count, its first and last seen, and its first
//! report (its oldest, by time then id); `error_groups.pruned` counts its
//! reports deleted here, so `count - pruned` is what it still has. A project
//! keeps at least one report per group: a count below its number of groups
//! is not reached.

use std::collections::BTreeMap;

use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, Order, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, FromQueryResult};

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
    /// Its reports before this time go (ms), if it has any that old.
    pub before_ms: Option<i64>,
    /// It keeps at most this many, if it has more it may delete.
    pub max: Option<u64>,
}

/// What one chunk deletes of a project: its oldest reports, never a group's
/// first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Those before this time (ms).
    Older(i64),
    /// Those past this count, recounted in the chunk's transaction (under a
    /// lock per project on PostgreSQL: servers pruning at once do not both
    /// delete the same excess).
    OverCount(u64),
}

/// Reports deleted in one chunk at most (the latency while pruning:
/// BENCHMARKS.md, "Storage").
pub const CHUNK: u64 = 500;

/// The PostgreSQL advisory lock of a project's count pruning ("LFPR" and
/// the project id).
const COUNT_LOCK: i64 = 0x4C46_5052 << 32;

#[derive(FromQueryResult)]
struct Live {
    project_id: i64,
    live: i64,
    groups: i64,
}

/// `project`'s live reports and groups with any (`count - pruned`), from
/// `error_groups` (all projects when `None`).
async fn live<C: ConnectionTrait>(db: &C, project: Option<i64>) -> Result<Vec<Live>, DbErr> {
    let left = || Expr::col(error_group::Column::Count).sub(Expr::col(error_group::Column::Pruned));
    // SUM of BIGINT is NUMERIC on PostgreSQL: cast back
    let total = |e: Expr| Func::cast_as(Func::coalesce([e, Expr::val(0)]), Alias::new("BIGINT"));
    let mut query = Query::select();
    query
        .column(error_group::Column::ProjectId)
        .expr_as(total(left().sum()), Alias::new("live"))
        .expr_as(
            total(Expr::case(left().gt(0), 1).finally(0).sum()),
            Alias::new("groups"),
        )
        .from(error_group::Entity)
        .group_by_col(error_group::Column::ProjectId);
    if let Some(project) = project {
        query.and_where(Expr::col(error_group::Column::ProjectId).eq(project));
    }
    Live::find_by_statement(db.get_database_backend().build(&query))
        .all(db)
        .await
}

/// How many of `live` reports in `groups` groups may go to keep `max`: never
/// a group's last one.
fn deletable(live: i64, groups: i64, max: u64) -> u64 {
    let live = u64::try_from(live).unwrap_or(0);
    let groups = u64::try_from(groups).unwrap_or(0);
    std::cmp::min(live.saturating_sub(max), live.saturating_sub(groups))
}

#[derive(FromQueryResult)]
struct Oldest {
    oldest: Option<i64>,
}

/// What to prune now, per project, under `policy`: one grouped read of
/// `error_groups`, and one index probe per project for its oldest report.
pub async fn plan(
    db: &DatabaseConnection,
    policy: Policy,
    now_ms: i64,
) -> Result<Vec<Prune>, StoreError> {
    if policy.max_age_ms.is_none() && policy.max_per_project.is_none() {
        return Ok(Vec::new());
    }
    let cutoff = policy.max_age_ms.map(|age| now_ms.saturating_sub(age));
    let mut plan = Vec::new();
    for row in live(db, None).await? {
        if row.live <= 0 {
            continue;
        }
        let max = policy
            .max_per_project
            .filter(|max| deletable(row.live, row.groups, *max) > 0);
        let mut before_ms = None;
        if let Some(cutoff) = cutoff {
            let oldest = Query::select()
                .expr_as(Expr::col(report::Column::TsMs).min(), Alias::new("oldest"))
                .from(report::Entity)
                .and_where(Expr::col(report::Column::ProjectId).eq(row.project_id))
                .to_owned();
            let oldest = Oldest::find_by_statement(db.get_database_backend().build(&oldest))
                .one(db)
                .await?
                .and_then(|o| o.oldest);
            before_ms = oldest.filter(|o| *o < cutoff).map(|_| cutoff);
        }
        if max.is_some() || before_ms.is_some() {
            plan.push(Prune {
                project: row.project_id,
                before_ms,
                max,
            });
        }
    }
    Ok(plan)
}

#[derive(FromQueryResult)]
struct Deleted {
    group_id: i64,
}

#[derive(FromQueryResult)]
struct Candidate {
    id: uuid::Uuid,
    group_id: i64,
    ts_ms: i64,
}

/// Candidates read beyond a chunk's limit in one page, for groups' first
/// reports among them.
const FIRSTS_AHEAD: u64 = 64;

/// Pages of candidates one chunk reads at most: a project whose oldest
/// reports are mostly groups' first ones is pruned a few thousand
/// candidates per chunk.
const MAX_PAGES: usize = 8;

/// Where a pass over a project's reports has got to: the last report a
/// chunk looked at, `(ts_ms, id)`.
pub type Cursor = (i64, uuid::Uuid);

/// What one chunk did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunk {
    /// Reports deleted.
    pub deleted: u64,
    /// Where the next chunk of the pass goes on from; `None` when there is
    /// nothing more to look at (or nothing more may go).
    pub next: Option<Cursor>,
}

/// Deletes up to `limit` of `project`'s oldest reports that `target` names
/// after `from` (from the oldest when `None`), never a group's first one,
/// and counts them in their groups' `pruned`. Run it in a transaction.
pub(crate) async fn prune_chunk<C: ConnectionTrait>(
    txn: &C,
    project: i64,
    target: Target,
    limit: u64,
    from: Option<Cursor>,
) -> Result<Chunk, DbErr> {
    let backend = txn.get_database_backend();
    let limit = match target {
        Target::Older(_) => limit,
        Target::OverCount(max) => {
            if backend == DbBackend::Postgres {
                txn.execute_raw(super::sql(
                    backend,
                    "SELECT pg_advisory_xact_lock($1)",
                    [(COUNT_LOCK | project).into()],
                ))
                .await?;
            }
            let now = live(txn, Some(project)).await?;
            let excess = now.first().map_or(0, |l| deletable(l.live, l.groups, max));
            std::cmp::min(limit, excess)
        }
    };
    if limit == 0 {
        return Ok(Chunk {
            deleted: 0,
            next: None,
        });
    }
    // the oldest candidates, page by page in time order (the `(project_id,
    // ts_ms)` index), skipping each group's first report (its oldest by time
    // then id): one probe of the `(group_id, ts_ms)` index per group met (a
    // test per candidate inside the DELETE took seconds on PostgreSQL)
    let want = usize::try_from(limit).unwrap_or(usize::MAX);
    let mut doomed: Vec<uuid::Uuid> = Vec::with_capacity(want);
    let mut firsts: std::collections::HashMap<i64, uuid::Uuid> = std::collections::HashMap::new();
    let mut after: Option<Cursor> = from;
    let mut more = true;
    'pages: for _ in 0..MAX_PAGES {
        let mut page = Query::select();
        page.columns([
            report::Column::Id,
            report::Column::GroupId,
            report::Column::TsMs,
        ])
        .from(report::Entity)
        .and_where(Expr::col(report::Column::ProjectId).eq(project))
        .order_by(report::Column::TsMs, Order::Asc)
        .order_by(report::Column::Id, Order::Asc)
        .limit(limit + FIRSTS_AHEAD);
        if let Target::Older(before) = target {
            page.and_where(Expr::col(report::Column::TsMs).lt(before));
        }
        if let Some((ts, id)) = after {
            page.and_where(
                Expr::col(report::Column::TsMs)
                    .gt(ts)
                    .or(Expr::col(report::Column::TsMs)
                        .eq(ts)
                        .and(Expr::col(report::Column::Id).gt(id))),
            );
        }
        let candidates = Candidate::find_by_statement(backend.build(&page))
            .all(txn)
            .await?;
        more = candidates.len() as u64 == limit + FIRSTS_AHEAD;
        if candidates.is_empty() {
            break;
        }
        for candidate in candidates {
            after = Some((candidate.ts_ms, candidate.id));
            let first = match firsts.get(&candidate.group_id) {
                Some(first) => *first,
                None => {
                    let query = Query::select()
                        .columns([
                            report::Column::Id,
                            report::Column::GroupId,
                            report::Column::TsMs,
                        ])
                        .from(report::Entity)
                        .and_where(Expr::col(report::Column::GroupId).eq(candidate.group_id))
                        .order_by(report::Column::TsMs, Order::Asc)
                        .order_by(report::Column::Id, Order::Asc)
                        .limit(1)
                        .to_owned();
                    let first = Candidate::find_by_statement(backend.build(&query))
                        .one(txn)
                        .await?
                        .map_or(candidate.id, |f| f.id);
                    firsts.insert(candidate.group_id, first);
                    first
                }
            };
            if candidate.id != first {
                doomed.push(candidate.id);
                if doomed.len() == want {
                    // the rest of this page is looked at again next time
                    more = true;
                    break 'pages;
                }
            }
        }
        if !more {
            break;
        }
    }
    // a page cap reached with nothing to delete still moves the pass on
    let next = if more { after } else { None };
    if doomed.is_empty() {
        return Ok(Chunk { deleted: 0, next });
    }
    let delete = Query::delete()
        .from_table(report::Entity)
        .and_where(Expr::col(report::Column::Id).is_in(doomed))
        .returning_col(report::Column::GroupId)
        .to_owned();
    let deleted = Deleted::find_by_statement(backend.build(&delete))
        .all(txn)
        .await?;
    let mut per_group: BTreeMap<i64, i64> = BTreeMap::new();
    for row in &deleted {
        *per_group.entry(row.group_id).or_default() += 1;
    }
    // in id order, as the writer updates groups: no deadlock between them
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
    Ok(Chunk {
        deleted: deleted.len() as u64,
        next,
    })
}

#[cfg(test)]
mod tests {
    use super::deletable;

    #[test]
    fn a_project_keeps_its_count_and_one_report_per_group() {
        assert_eq!(deletable(120, 3, 50), 70);
        assert_eq!(deletable(40, 3, 50), 0);
        // 60 groups of one report each: none may go, whatever the count
        assert_eq!(deletable(60, 60, 10), 0);
        // 100 reports in 80 groups, keep 10: only the 20 seconds go
        assert_eq!(deletable(100, 80, 10), 20);
    }
}
