//! Releases and environments: which release of an app, in which
//! environment, each report came from; in which releases each group was
//! seen (first, last, how often); the release a regression came back in;
//! when a group was resolved; the release and environment each instance
//! runs; and the environments an alarm connection listens to.
// `async_trait` expands `&SchemaManager` with a hidden lifetime
#![allow(elided_lifetimes_in_paths)]

use sea_orm_migration::{prelude::*, schema::*};

/// Adds `releases`, `group_releases`, `reports.release_id`,
/// `error_groups.regressed_release_id` and `resolved_ms`,
/// `instances.release` and `environment`, and
/// `alarm_connections.environments`; the groups stored before get the
/// release `production` / `""` (their reports keep `release_id` NULL,
/// which the filters read as that release).
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Releases {
    Table,
    Id,
    ProjectId,
    Environment,
    Version,
    FirstSeenMs,
    LastSeenMs,
}

#[derive(DeriveIden)]
enum GroupReleases {
    Table,
    GroupId,
    ReleaseId,
    Count,
    FirstSeenMs,
    LastSeenMs,
}

#[derive(DeriveIden)]
enum Reports {
    Table,
    ReleaseId,
}

#[derive(DeriveIden)]
enum ErrorGroups {
    Table,
    RegressedReleaseId,
    ResolvedMs,
}

#[derive(DeriveIden)]
enum Instances {
    Table,
    Release,
    Environment,
}

#[derive(DeriveIden)]
enum AlarmConnections {
    Table,
    Environments,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Releases::Table)
                .if_not_exists()
                .col(big_pk_auto(Releases::Id))
                .col(big_integer(Releases::ProjectId))
                .col(string(Releases::Environment))
                // `""`: reports that name no release
                .col(string(Releases::Version))
                .col(big_integer(Releases::FirstSeenMs))
                .col(big_integer(Releases::LastSeenMs))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .if_not_exists()
                .name("ux_releases_project_environment_version")
                .table(Releases::Table)
                .col(Releases::ProjectId)
                .col(Releases::Environment)
                .col(Releases::Version)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(GroupReleases::Table)
                .if_not_exists()
                .col(big_integer(GroupReleases::GroupId))
                .col(big_integer(GroupReleases::ReleaseId))
                .col(big_integer(GroupReleases::Count))
                .col(big_integer(GroupReleases::FirstSeenMs))
                .col(big_integer(GroupReleases::LastSeenMs))
                .primary_key(
                    Index::create()
                        .col(GroupReleases::GroupId)
                        .col(GroupReleases::ReleaseId),
                )
                .to_owned(),
        )
        .await?;
        // the groups of a release (its page, the filters)
        m.create_index(
            Index::create()
                .if_not_exists()
                .name("ix_group_releases_release")
                .table(GroupReleases::Table)
                .col(GroupReleases::ReleaseId)
                .col(GroupReleases::GroupId)
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Reports::Table)
                .add_column(big_integer_null(Reports::ReleaseId))
                .to_owned(),
        )
        .await?;
        for column in [ErrorGroups::RegressedReleaseId, ErrorGroups::ResolvedMs] {
            m.alter_table(
                Table::alter()
                    .table(ErrorGroups::Table)
                    .add_column(big_integer_null(column))
                    .to_owned(),
            )
            .await?;
        }
        for column in [Instances::Release, Instances::Environment] {
            m.alter_table(
                Table::alter()
                    .table(Instances::Table)
                    .add_column(string_null(column))
                    .to_owned(),
            )
            .await?;
        }
        m.alter_table(
            Table::alter()
                .table(AlarmConnections::Table)
                .add_column(text_null(AlarmConnections::Environments))
                .to_owned(),
        )
        .await?;
        // what was stored before came from production, naming no release:
        // its groups get that release, so their first release, the filters
        // and the Releases page ("new in") count them where they began
        let db = m.get_connection();
        db.execute_unprepared(
            "INSERT INTO releases (project_id, environment, version, first_seen_ms, last_seen_ms) \
             SELECT project_id, 'production', '', MIN(first_seen_ms), MAX(last_seen_ms) \
             FROM error_groups GROUP BY project_id",
        )
        .await?;
        db.execute_unprepared(
            "INSERT INTO group_releases (group_id, release_id, count, first_seen_ms, last_seen_ms) \
             SELECT g.id, r.id, g.count, g.first_seen_ms, g.last_seen_ms \
             FROM error_groups g JOIN releases r ON r.project_id = g.project_id \
             AND r.environment = 'production' AND r.version = ''",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(AlarmConnections::Table)
                .drop_column(AlarmConnections::Environments)
                .to_owned(),
        )
        .await?;
        for column in [Instances::Environment, Instances::Release] {
            m.alter_table(
                Table::alter()
                    .table(Instances::Table)
                    .drop_column(column)
                    .to_owned(),
            )
            .await?;
        }
        for column in [ErrorGroups::ResolvedMs, ErrorGroups::RegressedReleaseId] {
            m.alter_table(
                Table::alter()
                    .table(ErrorGroups::Table)
                    .drop_column(column)
                    .to_owned(),
            )
            .await?;
        }
        m.alter_table(
            Table::alter()
                .table(Reports::Table)
                .drop_column(Reports::ReleaseId)
                .to_owned(),
        )
        .await?;
        m.drop_table(
            Table::drop()
                .table(GroupReleases::Table)
                .if_exists()
                .to_owned(),
        )
        .await?;
        m.drop_table(Table::drop().table(Releases::Table).if_exists().to_owned())
            .await
    }
}
