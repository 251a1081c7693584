//! The first schema: projects, instances, error groups, reports, metric samples.
// `async_trait` expands `&SchemaManager` with a hidden lifetime
#![allow(elided_lifetimes_in_paths)]

use sea_orm_migration::{prelude::*, schema::*};

/// Creates every table and index.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Projects {
    Table,
    Id,
    Name,
    CreatedMs,
    Hidden,
}

#[derive(DeriveIden)]
enum Instances {
    Table,
    Id,
    ProjectId,
    Host,
    Pid,
    ClientVersion,
    Transport,
    HeartbeatS,
    Status,
    StartedMs,
    LastSeenMs,
    StatusSinceMs,
    CpuPercent,
    ProcessCpuPercent,
    ProcessMemoryBytes,
    MemoryUsedBytes,
    MemoryTotalBytes,
}

#[derive(DeriveIden)]
enum ErrorGroups {
    Table,
    Id,
    ProjectId,
    Fingerprint,
    Title,
    Count,
    FirstSeenMs,
    LastSeenMs,
    State,
    Regressed,
}

#[derive(DeriveIden)]
enum Reports {
    Table,
    Id,
    ProjectId,
    GroupId,
    InstanceId,
    TsMs,
    Level,
    Kind,
    Title,
    Payload,
}

#[derive(DeriveIden)]
enum MetricSamples {
    Table,
    Id,
    ProjectId,
    InstanceId,
    TsMs,
    CpuPercent,
    ProcessCpuPercent,
    ProcessMemoryBytes,
    MemoryUsedBytes,
    MemoryTotalBytes,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        // SQLite runs DDL in a transaction too: never a half-made schema
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Projects::Table)
                .if_not_exists()
                .col(big_pk_auto(Projects::Id))
                .col(string_uniq(Projects::Name))
                .col(big_integer(Projects::CreatedMs))
                .col(boolean(Projects::Hidden).default(false))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Instances::Table)
                .if_not_exists()
                .col(string(Instances::Id).primary_key())
                .col(big_integer(Instances::ProjectId))
                .col(string(Instances::Host))
                .col(big_integer(Instances::Pid))
                .col(string(Instances::ClientVersion))
                .col(string(Instances::Transport))
                .col(integer(Instances::HeartbeatS))
                .col(string(Instances::Status))
                .col(big_integer(Instances::StartedMs))
                .col(big_integer(Instances::LastSeenMs))
                .col(big_integer(Instances::StatusSinceMs))
                .col(double_null(Instances::CpuPercent))
                .col(double_null(Instances::ProcessCpuPercent))
                .col(big_integer_null(Instances::ProcessMemoryBytes))
                .col(big_integer_null(Instances::MemoryUsedBytes))
                .col(big_integer_null(Instances::MemoryTotalBytes))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .if_not_exists()
                .name("ix_instances_project")
                .table(Instances::Table)
                .col(Instances::ProjectId)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(ErrorGroups::Table)
                .if_not_exists()
                .col(big_pk_auto(ErrorGroups::Id))
                .col(big_integer(ErrorGroups::ProjectId))
                .col(string(ErrorGroups::Fingerprint))
                .col(string(ErrorGroups::Title))
                .col(big_integer(ErrorGroups::Count))
                .col(big_integer(ErrorGroups::FirstSeenMs))
                .col(big_integer(ErrorGroups::LastSeenMs))
                .col(string(ErrorGroups::State))
                .col(boolean(ErrorGroups::Regressed).default(false))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .if_not_exists()
                .name("ux_error_groups_fingerprint")
                .table(ErrorGroups::Table)
                .col(ErrorGroups::ProjectId)
                .col(ErrorGroups::Fingerprint)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Reports::Table)
                .if_not_exists()
                .col(string(Reports::Id).primary_key())
                .col(big_integer(Reports::ProjectId))
                .col(big_integer(Reports::GroupId))
                .col(string_null(Reports::InstanceId))
                .col(big_integer(Reports::TsMs))
                .col(string(Reports::Level))
                .col(string(Reports::Kind))
                .col(string(Reports::Title))
                .col(text(Reports::Payload))
                .to_owned(),
        )
        .await?;
        for (name, col) in [
            ("ix_reports_project_ts", Reports::ProjectId),
            ("ix_reports_group_ts", Reports::GroupId),
        ] {
            m.create_index(
                Index::create()
                    .if_not_exists()
                    .name(name)
                    .table(Reports::Table)
                    .col(col)
                    .col(Reports::TsMs)
                    .to_owned(),
            )
            .await?;
        }
        m.create_table(
            Table::create()
                .table(MetricSamples::Table)
                .if_not_exists()
                .col(big_pk_auto(MetricSamples::Id))
                .col(big_integer(MetricSamples::ProjectId))
                .col(string(MetricSamples::InstanceId))
                .col(big_integer(MetricSamples::TsMs))
                .col(double(MetricSamples::CpuPercent))
                .col(double(MetricSamples::ProcessCpuPercent))
                .col(big_integer(MetricSamples::ProcessMemoryBytes))
                .col(big_integer(MetricSamples::MemoryUsedBytes))
                .col(big_integer(MetricSamples::MemoryTotalBytes))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .if_not_exists()
                .name("ix_metric_samples_project_ts")
                .table(MetricSamples::Table)
                .col(MetricSamples::ProjectId)
                .col(MetricSamples::TsMs)
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            MetricSamples::Table.into_iden(),
            Reports::Table.into_iden(),
            ErrorGroups::Table.into_iden(),
            Instances::Table.into_iden(),
            Projects::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
