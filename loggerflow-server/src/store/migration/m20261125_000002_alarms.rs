//! Alarms: channels, their connections to projects, and the event outbox
//! (which is also the alarm history).
// `async_trait` expands `&SchemaManager` with a hidden lifetime
#![allow(elided_lifetimes_in_paths)]

use sea_orm_migration::{prelude::*, schema::*};

/// Creates `alarms`, `alarm_connections` and `alarm_events`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Alarms {
    Table,
    Id,
    Name,
    Kind,
    Fields,
    CreatedMs,
}

#[derive(DeriveIden)]
enum AlarmConnections {
    Table,
    Id,
    ProjectId,
    AlarmId,
    Triggers,
    EveryNth,
}

#[derive(DeriveIden)]
enum AlarmEvents {
    Table,
    Id,
    ProjectId,
    AlarmId,
    Trigger,
    Message,
    CreatedMs,
    Status,
    ClaimedBy,
    SentMs,
    Error,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Alarms::Table)
                .if_not_exists()
                .col(big_pk_auto(Alarms::Id))
                .col(string_uniq(Alarms::Name))
                .col(string(Alarms::Kind))
                .col(text(Alarms::Fields))
                .col(big_integer(Alarms::CreatedMs))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(AlarmConnections::Table)
                .if_not_exists()
                .col(big_pk_auto(AlarmConnections::Id))
                .col(big_integer(AlarmConnections::ProjectId))
                .col(big_integer(AlarmConnections::AlarmId))
                .col(text(AlarmConnections::Triggers))
                .col(big_integer(AlarmConnections::EveryNth).default(0))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .if_not_exists()
                .name("ux_alarm_connections")
                .table(AlarmConnections::Table)
                .col(AlarmConnections::ProjectId)
                .col(AlarmConnections::AlarmId)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(AlarmEvents::Table)
                .if_not_exists()
                .col(big_pk_auto(AlarmEvents::Id))
                .col(big_integer(AlarmEvents::ProjectId))
                .col(big_integer(AlarmEvents::AlarmId))
                .col(string(AlarmEvents::Trigger))
                .col(text(AlarmEvents::Message))
                .col(big_integer(AlarmEvents::CreatedMs))
                .col(string(AlarmEvents::Status))
                .col(string_null(AlarmEvents::ClaimedBy))
                .col(big_integer_null(AlarmEvents::SentMs))
                .col(text_null(AlarmEvents::Error))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .if_not_exists()
                .name("ix_alarm_events_status")
                .table(AlarmEvents::Table)
                .col(AlarmEvents::Status)
                .col(AlarmEvents::Id)
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            AlarmEvents::Table.into_iden(),
            AlarmConnections::Table.into_iden(),
            Alarms::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
