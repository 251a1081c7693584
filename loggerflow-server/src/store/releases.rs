//! Releases and environments: the `releases` of each project (one row per
//! environment and version its reports named), in which releases each
//! group was seen (`group_releases`), and the Releases page's figures.

use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, FromQueryResult, QueryFilter, QuerySelect,
};

use super::entity::{error_group, group_release, release};

/// The environment of reports and instances that name none (older clients,
/// Python ones).
pub const DEFAULT_ENVIRONMENT: &str = loggerflow_layer::DEFAULT_ENVIRONMENT;

/// The longest environment name kept, in characters.
pub const MAX_ENVIRONMENT_CHARS: usize = 64;

/// The longest release kept, in characters.
pub const MAX_RELEASE_CHARS: usize = 128;

/// An environment as stored: printable, bounded, `production` when none.
pub fn environment(given: Option<&str>) -> String {
    // no control or invisible character, bounded
    let kept = crate::names::bounded(given.unwrap_or_default(), MAX_ENVIRONMENT_CHARS);
    let kept = kept.trim();
    if kept.is_empty() {
        DEFAULT_ENVIRONMENT.to_owned()
    } else {
        kept.to_owned()
    }
}

/// A release as stored: printable, bounded, `""` when none.
pub fn version(given: Option<&str>) -> String {
    crate::names::bounded(given.unwrap_or_default(), MAX_RELEASE_CHARS)
        .trim()
        .to_owned()
}

/// The id of `project`'s release `version` in `environment`, created if new,
/// its first and last seen widened to `first_ms`..`last_ms`.
pub async fn upsert<C: ConnectionTrait>(
    conn: &C,
    project: i64,
    environment: &str,
    version: &str,
    first_ms: i64,
    last_ms: i64,
) -> Result<i64, DbErr> {
    use release::Column;
    let table = || Expr::col((release::Entity, Column::FirstSeenMs));
    let last = || Expr::col((release::Entity, Column::LastSeenMs));
    let insert = Query::insert()
        .into_table(release::Entity)
        .columns([
            Column::ProjectId,
            Column::Environment,
            Column::Version,
            Column::FirstSeenMs,
            Column::LastSeenMs,
        ])
        .values_panic([
            project.into(),
            environment.into(),
            version.into(),
            first_ms.into(),
            last_ms.into(),
        ])
        .on_conflict(
            OnConflict::columns([Column::ProjectId, Column::Environment, Column::Version])
                .value(
                    Column::FirstSeenMs,
                    Expr::case(table().gt(first_ms), first_ms).finally(table()),
                )
                .value(
                    Column::LastSeenMs,
                    Expr::case(last().lt(last_ms), last_ms).finally(last()),
                )
                .to_owned(),
        )
        .returning_col(Column::Id)
        .to_owned();
    let row = conn
        .query_one(&insert)
        .await?
        .ok_or_else(|| DbErr::RecordNotInserted)?;
    row.try_get_by_index::<i64>(0)
}

/// Adds `count` reports of `group` in `release`, seen `first_ms`..`last_ms`.
pub async fn group_seen<C: ConnectionTrait>(
    conn: &C,
    group: i64,
    release: i64,
    count: i64,
    first_ms: i64,
    last_ms: i64,
) -> Result<(), DbErr> {
    use group_release::Column;
    let first = || Expr::col((group_release::Entity, Column::FirstSeenMs));
    let last = || Expr::col((group_release::Entity, Column::LastSeenMs));
    let insert = Query::insert()
        .into_table(group_release::Entity)
        .columns([
            Column::GroupId,
            Column::ReleaseId,
            Column::Count,
            Column::FirstSeenMs,
            Column::LastSeenMs,
        ])
        .values_panic([
            group.into(),
            release.into(),
            count.into(),
            first_ms.into(),
            last_ms.into(),
        ])
        .on_conflict(
            OnConflict::columns([Column::GroupId, Column::ReleaseId])
                .value(
                    Column::Count,
                    Expr::col((group_release::Entity, Column::Count)).add(count),
                )
                .value(
                    Column::FirstSeenMs,
                    Expr::case(first().gt(first_ms), first_ms).finally(first()),
                )
                .value(
                    Column::LastSeenMs,
                    Expr::case(last().lt(last_ms), last_ms).finally(last()),
                )
                .to_owned(),
        )
        .to_owned();
    conn.execute(&insert).await?;
    Ok(())
}

/// Deletes a project's releases and their groups' rows (the project is
/// being deleted).
pub(crate) async fn delete_of_project<C: ConnectionTrait>(
    conn: &C,
    project: i64,
) -> Result<(), DbErr> {
    group_release::Entity::delete_many()
        .filter(
            group_release::Column::GroupId.in_subquery(
                Query::select()
                    .column(error_group::Column::Id)
                    .from(error_group::Entity)
                    .and_where(Expr::col(error_group::Column::ProjectId).eq(project))
                    .to_owned(),
            ),
        )
        .exec(conn)
        .await?;
    release::Entity::delete_many()
        .filter(release::Column::ProjectId.eq(project))
        .exec(conn)
        .await?;
    Ok(())
}

/// The ids of `project`'s releases in `environment` and/or of `version`
/// (either may be absent), for the filters of the errors and reports.
pub async fn matching<C: ConnectionTrait>(
    conn: &C,
    project: i64,
    environment: Option<&str>,
    version: Option<&str>,
) -> Result<Vec<i64>, DbErr> {
    let mut query = release::Entity::find()
        .select_only()
        .column(release::Column::Id)
        .filter(release::Column::ProjectId.eq(project));
    if let Some(environment) = environment {
        query = query.filter(release::Column::Environment.eq(environment));
    }
    if let Some(version) = version {
        query = query.filter(release::Column::Version.eq(version));
    }
    query.into_tuple::<i64>().all(conn).await
}

/// A release and environment of a report, for answers.
#[derive(Debug, Clone, FromQueryResult)]
pub struct Named {
    /// Row id.
    pub id: i64,
    /// The environment.
    pub environment: String,
    /// The release (`""`: none named).
    pub version: String,
}

/// The releases `ids`, for naming them in answers.
pub async fn named<C: ConnectionTrait>(conn: &C, ids: &[i64]) -> Result<Vec<Named>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    release::Entity::find()
        .select_only()
        .columns([
            release::Column::Id,
            release::Column::Environment,
            release::Column::Version,
        ])
        .filter(release::Column::Id.is_in(ids.iter().copied()))
        .into_model::<Named>()
        .all(conn)
        .await
}

/// The releases a Releases page lists at most (the most recently seen).
pub const RELEASES_PER_PAGE: u64 = 100;

/// One release on a project's Releases page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// `production`, `staging`…
    pub environment: String,
    /// The release (`""`: reports that named none).
    pub version: String,
    /// Its first report.
    pub first_seen_ms: i64,
    /// Its latest report.
    pub last_seen_ms: i64,
    /// Apps online that run it.
    pub apps: i64,
    /// Error groups first seen (in its environment) in it.
    pub new_errors: i64,
    /// Error groups that came back in it (their last regression).
    pub regressions: i64,
    /// Error groups resolved since it was first seen (and still resolved).
    pub resolved_since: i64,
}

/// The Releases page of `project`: its most recently seen releases, each
/// with its apps and errors, newest first.
pub async fn summary<C: ConnectionTrait>(conn: &C, project: i64) -> Result<Vec<Summary>, DbErr> {
    use sea_orm::QueryOrder;
    use std::collections::HashMap;

    use super::entity::instance;

    let releases = release::Entity::find()
        .filter(release::Column::ProjectId.eq(project))
        .order_by_desc(release::Column::LastSeenMs)
        .limit(RELEASES_PER_PAGE)
        .all(conn)
        .await?;
    let ids: Vec<i64> = releases.iter().map(|r| r.id).collect();
    // the groups seen in these releases, then all their rows (of any
    // release): where each group was first seen, per environment
    let groups: Vec<i64> = group_release::Entity::find()
        .select_only()
        .column(group_release::Column::GroupId)
        .distinct()
        .filter(group_release::Column::ReleaseId.is_in(ids.iter().copied()))
        .into_tuple()
        .all(conn)
        .await?;
    let rows = group_release::Entity::find()
        .filter(group_release::Column::GroupId.is_in(groups.iter().copied()))
        .all(conn)
        .await?;
    let all_ids: Vec<i64> = rows.iter().map(|r| r.release_id).collect();
    let environments: HashMap<i64, String> = named(conn, &all_ids)
        .await?
        .into_iter()
        .map(|n| (n.id, n.environment))
        .collect();
    let mut first: HashMap<(i64, &str), (i64, i64)> = HashMap::new();
    for row in &rows {
        let Some(environment) = environments.get(&row.release_id) else {
            continue;
        };
        let entry = first
            .entry((row.group_id, environment.as_str()))
            .or_insert((row.first_seen_ms, row.release_id));
        if (row.first_seen_ms, row.release_id) < *entry {
            *entry = (row.first_seen_ms, row.release_id);
        }
    }
    let mut new_errors: HashMap<i64, i64> = HashMap::new();
    for (_, release) in first.values() {
        *new_errors.entry(*release).or_default() += 1;
    }
    let regressed: Vec<i64> = error_group::Entity::find()
        .select_only()
        .column(error_group::Column::RegressedReleaseId)
        .filter(error_group::Column::RegressedReleaseId.is_in(ids.iter().copied()))
        .into_tuple::<Option<i64>>()
        .all(conn)
        .await?
        .into_iter()
        .flatten()
        .collect();
    let resolved: Vec<Option<i64>> = error_group::Entity::find()
        .select_only()
        .column(error_group::Column::ResolvedMs)
        .filter(error_group::Column::ProjectId.eq(project))
        .filter(error_group::Column::State.eq("resolved"))
        .into_tuple()
        .all(conn)
        .await?;
    let apps: Vec<(Option<String>, Option<String>)> = instance::Entity::find()
        .select_only()
        .columns([instance::Column::Release, instance::Column::Environment])
        .filter(instance::Column::ProjectId.eq(project))
        .filter(instance::Column::Status.eq("online"))
        .into_tuple()
        .all(conn)
        .await?;
    Ok(releases
        .into_iter()
        .map(|r| Summary {
            apps: apps
                .iter()
                .filter(|(release, environment)| {
                    release.as_deref().unwrap_or_default() == r.version
                        && environment.as_deref().unwrap_or(DEFAULT_ENVIRONMENT) == r.environment
                })
                .count() as i64,
            new_errors: new_errors.get(&r.id).copied().unwrap_or_default(),
            regressions: regressed.iter().filter(|id| **id == r.id).count() as i64,
            resolved_since: resolved
                .iter()
                .filter(|at| at.is_some_and(|at| at > r.first_seen_ms))
                .count() as i64,
            environment: r.environment,
            version: r.version,
            first_seen_ms: r.first_seen_ms,
            last_seen_ms: r.last_seen_ms,
        })
        .collect())
}

/// The environments of `project`'s releases, and the releases of
/// `environment` (or of all), most recently seen first: the errors page's
/// filters.
pub async fn filters<C: ConnectionTrait>(
    conn: &C,
    project: i64,
    environment: Option<&str>,
) -> Result<(Vec<String>, Vec<String>), DbErr> {
    use sea_orm::QueryOrder;
    let rows = release::Entity::find()
        .filter(release::Column::ProjectId.eq(project))
        .order_by_desc(release::Column::LastSeenMs)
        .all(conn)
        .await?;
    let mut environments: Vec<String> = Vec::new();
    let mut versions: Vec<String> = Vec::new();
    for row in rows {
        if !environments.contains(&row.environment) {
            environments.push(row.environment.clone());
        }
        if environment.is_none_or(|e| e == row.environment)
            && !row.version.is_empty()
            && !versions.contains(&row.version)
            && versions.len() < RELEASES_PER_PAGE as usize
        {
            versions.push(row.version);
        }
    }
    environments.sort();
    Ok((environments, versions))
}
