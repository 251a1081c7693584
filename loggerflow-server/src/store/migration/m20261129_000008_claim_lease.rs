//! Alarm event claims with a lease: when a claim was made, and whose claim a
//! server took over after it expired (shown in the alarm history).
// `async_trait` expands `&SchemaManager` with a hidden lifetime
#![allow(elided_lifetimes_in_paths)]

use sea_orm_migration::{prelude::*, schema::*};

/// Adds `alarm_events.claimed_ms` and `alarm_events.taken_over_from`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AlarmEvents {
    Table,
    ClaimedMs,
    TakenOverFrom,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // one column per statement: SQLite's ALTER TABLE adds one at a time
        m.alter_table(
            Table::alter()
                .table(AlarmEvents::Table)
                .add_column(big_integer_null(AlarmEvents::ClaimedMs))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(AlarmEvents::Table)
                .add_column(string_null(AlarmEvents::TakenOverFrom))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for column in [AlarmEvents::TakenOverFrom, AlarmEvents::ClaimedMs] {
            m.alter_table(
                Table::alter()
                    .table(AlarmEvents::Table)
                    .drop_column(column)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
