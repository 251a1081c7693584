//! Alarm events remember the report they are about, so a message can link
//! to its page (`--public-url`) and an e-mail can carry its trace.
// `async_trait` expands `&SchemaManager` with a hidden lifetime
#![allow(elided_lifetimes_in_paths)]

use sea_orm_migration::{prelude::*, schema::*};

/// Adds `alarm_events.report_id` (the report's UUID as text; none for
/// events about a project, and for events queued before this version).
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AlarmEvents {
    Table,
    ReportId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(AlarmEvents::Table)
                .add_column(string_null(AlarmEvents::ReportId))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(AlarmEvents::Table)
                .drop_column(AlarmEvents::ReportId)
                .to_owned(),
        )
        .await
    }
}
