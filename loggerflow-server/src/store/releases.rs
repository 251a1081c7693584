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

/// How far behind a release's `last_seen_ms` may fall: within it, a batch
/// does not write the row (every batch of a project touches its release:
/// writing it each time would make one hot row that two servers' batches
/// lock in turn, and deadlock on).
pub const LAST_SEEN_SLACK_MS: i64 = 60_000;

/// The id of `project`'s release `version` in `environment`, created if new;
/// its first seen lowered to `first_ms`, and its last seen raised to
/// `last_ms` when that is more than [`LAST_SEEN_SLACK_MS`] later.
pub async fn upsert<C: ConnectionTrait>(
    conn: &C,
    project: i64,
    environment: &str,
    version: &str,
    first_ms: i64,
    last_ms: i64,
) -> Result<i64, DbErr> {
    use release::Column;
    let find = || {
        release::Entity::find()
            .select_only()
            .columns([Column::Id, Column::FirstSeenMs, Column::LastSeenMs])
            .filter(Column::ProjectId.eq(project))
            .filter(Column::Environment.eq(environment))
            .filter(Column::Version.eq(version))
            .into_tuple::<(i64, i64, i64)>()
            .one(conn)
    };
    if find().await?.is_none() {
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
                    .do_nothing()
                    .to_owned(),
            )
            .to_owned();
        conn.execute(&insert).await?;
    }
    let (id, first, last) = find().await?.ok_or(DbErr::RecordNotInserted)?;
    if first_ms < first || last_ms > last + LAST_SEEN_SLACK_MS {
        // conditional: a server that already moved it further locks nothing
        release::Entity::update_many()
            .col_expr(
                Column::FirstSeenMs,
                Expr::case(Expr::col(Column::FirstSeenMs).gt(first_ms), first_ms)
                    .finally(Expr::col(Column::FirstSeenMs))
                    .into(),
            )
            .col_expr(
                Column::LastSeenMs,
                Expr::case(Expr::col(Column::LastSeenMs).lt(last_ms), last_ms)
                    .finally(Expr::col(Column::LastSeenMs))
                    .into(),
            )
            .filter(Column::Id.eq(id))
            .filter(
                sea_orm::Condition::any()
                    .add(Column::FirstSeenMs.gt(first_ms))
                    .add(Column::LastSeenMs.lt(last_ms - LAST_SEEN_SLACK_MS)),
            )
            .exec(conn)
            .await?;
    }
    Ok(id)
}

/// `group_releases` joined to their release (its environment and version).
pub(crate) fn to_release() -> sea_orm::RelationDef {
    group_release::Entity::belongs_to(release::Entity)
        .from(group_release::Column::ReleaseId)
        .to(release::Column::Id)
        .into()
}

/// Whether `group` was seen in `environment` in a release other than
/// `except` (those of the batch being written).
pub async fn seen_before<C: ConnectionTrait>(
    conn: &C,
    group: i64,
    environment: &str,
    except: &[i64],
) -> Result<bool, DbErr> {
    let found = group_release::Entity::find()
        .select_only()
        .column(group_release::Column::ReleaseId)
        .join(sea_orm::JoinType::InnerJoin, to_release())
        .filter(group_release::Column::GroupId.eq(group))
        .filter(Expr::col((release::Entity, release::Column::Environment)).eq(environment))
        .filter(group_release::Column::ReleaseId.is_not_in(except.iter().copied()))
        .limit(1)
        .into_tuple::<i64>()
        .one(conn)
        .await?;
    Ok(found.is_some())
}

/// Adds `count` reports of `group` in `release`, seen `first_ms`..`last_ms`;
/// returns the pair's count now (equal to `count`: the pair is new).
pub async fn group_seen<C: ConnectionTrait>(
    conn: &C,
    group: i64,
    release: i64,
    count: i64,
    first_ms: i64,
    last_ms: i64,
) -> Result<i64, DbErr> {
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
        .returning_col(Column::Count)
        .to_owned();
    let row = conn
        .query_one(&insert)
        .await?
        .ok_or(DbErr::RecordNotInserted)?;
    row.try_get_by_index::<i64>(0)
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

/// A filter by environment and/or release, as the errors and reports
/// filters take it: a subquery of release ids (never a list of ids, whose
/// size an app could make unbounded).
#[derive(Debug, Clone)]
pub struct Filter {
    /// `SELECT id FROM releases WHERE project_id = … [AND environment = …]
    /// [AND version = …]`.
    pub ids: sea_orm::sea_query::SelectStatement,
    /// Whether rows stored before releases were kept (`release_id` NULL:
    /// production, no release) match too.
    pub unlabelled: bool,
}

impl Filter {
    /// The filter of `environment` and `release` (each absent or empty:
    /// any), normalised as stored values are; `None` when there is none.
    pub fn new(project: i64, environment: Option<&str>, release: Option<&str>) -> Option<Self> {
        let environment = environment
            .filter(|e| !e.trim().is_empty())
            .map(|e| self::environment(Some(e)));
        let release = release
            .filter(|r| !r.trim().is_empty())
            .map(|r| version(Some(r)));
        if environment.is_none() && release.is_none() {
            return None;
        }
        let unlabelled = environment
            .as_deref()
            .is_none_or(|e| e == DEFAULT_ENVIRONMENT)
            && release.is_none();
        let mut ids = Query::select()
            .column(release::Column::Id)
            .from(release::Entity)
            .and_where(Expr::col(release::Column::ProjectId).eq(project))
            .to_owned();
        if let Some(environment) = environment {
            ids.and_where(Expr::col(release::Column::Environment).eq(environment));
        }
        if let Some(release) = release {
            ids.and_where(Expr::col(release::Column::Version).eq(release));
        }
        Some(Self { ids, unlabelled })
    }
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
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
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
    // every (group, release) row of the project with its environment, in
    // one join: where each group was first seen, per environment
    let rows: Vec<(i64, i64, i64, String)> = group_release::Entity::find()
        .select_only()
        .columns([
            group_release::Column::GroupId,
            group_release::Column::ReleaseId,
            group_release::Column::FirstSeenMs,
        ])
        .column_as(
            Expr::col((release::Entity, release::Column::Environment)),
            "environment",
        )
        .join(sea_orm::JoinType::InnerJoin, to_release())
        .filter(Expr::col((release::Entity, release::Column::ProjectId)).eq(project))
        .into_tuple()
        .all(conn)
        .await?;
    let mut first: HashMap<(i64, &str), (i64, i64)> = HashMap::new();
    for (group, release, first_seen, environment) in &rows {
        let entry = first
            .entry((*group, environment.as_str()))
            .or_insert((*first_seen, *release));
        if (*first_seen, *release) < *entry {
            *entry = (*first_seen, *release);
        }
    }
    let mut new_errors: HashMap<i64, i64> = HashMap::new();
    for (_, release) in first.values() {
        *new_errors.entry(*release).or_default() += 1;
    }
    let regressed: Vec<i64> = error_group::Entity::find()
        .select_only()
        .column(error_group::Column::RegressedReleaseId)
        // the project's groups (its index), not every project's
        .filter(error_group::Column::ProjectId.eq(project))
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

/// The environments a project's errors page offers at most.
pub const MAX_ENVIRONMENTS_SHOWN: u64 = 50;

/// The environments of `project`'s releases (at most
/// [`MAX_ENVIRONMENTS_SHOWN`], by name), and the releases of `environment`
/// (or of all; at most [`RELEASES_PER_PAGE`], most recently seen first): the
/// errors page's filters.
pub async fn filters<C: ConnectionTrait>(
    conn: &C,
    project: i64,
    environment: Option<&str>,
) -> Result<(Vec<String>, Vec<String>), DbErr> {
    use sea_orm::QueryOrder;
    let environments: Vec<String> = release::Entity::find()
        .select_only()
        .column(release::Column::Environment)
        .distinct()
        .filter(release::Column::ProjectId.eq(project))
        .order_by_asc(release::Column::Environment)
        .limit(MAX_ENVIRONMENTS_SHOWN)
        .into_tuple()
        .all(conn)
        .await?;
    let mut versions = release::Entity::find()
        .select_only()
        .column(release::Column::Version)
        .filter(release::Column::ProjectId.eq(project))
        .filter(release::Column::Version.ne(""));
    if let Some(environment) = environment {
        versions =
            versions.filter(release::Column::Environment.eq(self::environment(Some(environment))));
    }
    let rows: Vec<String> = versions
        .order_by_desc(release::Column::LastSeenMs)
        .limit(RELEASES_PER_PAGE * 4)
        .into_tuple()
        .all(conn)
        .await?;
    let mut seen = std::collections::HashSet::new();
    let versions = rows
        .into_iter()
        .filter(|v| seen.insert(v.clone()))
        .take(RELEASES_PER_PAGE as usize)
        .collect();
    Ok((environments, versions))
}
