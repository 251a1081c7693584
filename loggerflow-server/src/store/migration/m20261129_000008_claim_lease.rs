//! Alarm event claims with a lease: when a claim was made, and whose claim a
//! server took over after it expired (shown in the alarm history); and the
//! index the rate limit counts with.
// `async_trait` expands `&SchemaManager` with a hidden lifetime
#![allow(elided_lifetimes_in_paths)]

use sea_orm_migration::{prelude::*, schema::*};

/// Adds `alarm_events.claimed_ms` and `alarm_events.taken_over_from`, the
/// index `ix_alarm_events_rate`, and starts the lease of the claims in
/// progress now (their server may be an older one, still sending).
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AlarmEvents {
    Table,
    AlarmId,
    ProjectId,
    Status,
    SentMs,
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
        .await?;
        // the rate limit counts an alarm and project's messages sent in the
        // window (and those held back) under a write lock: without it, a
        // scan of the whole history, which is never pruned
        m.create_index(
            Index::create()
                .if_not_exists()
                .name("ix_alarm_events_rate")
                .table(AlarmEvents::Table)
                .col(AlarmEvents::AlarmId)
                .col(AlarmEvents::ProjectId)
                .col(AlarmEvents::Status)
                .col(AlarmEvents::SentMs)
                .to_owned(),
        )
        .await?;
        let now = chrono::Utc::now().timestamp_millis();
        m.exec_stmt(
            Query::update()
                .table(AlarmEvents::Table)
                .value(AlarmEvents::ClaimedMs, now)
                .and_where(Expr::col(AlarmEvents::Status).eq("sending"))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .if_exists()
                .name("ix_alarm_events_rate")
                .table(AlarmEvents::Table)
                .to_owned(),
        )
        .await?;
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
