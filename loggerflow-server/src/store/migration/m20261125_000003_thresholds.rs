//! Threshold triggers: CPU or process memory above a level for a while.
// `async_trait` expands `&SchemaManager` with a hidden lifetime
#![allow(elided_lifetimes_in_paths)]

use sea_orm_migration::{prelude::*, schema::*};

/// Adds the threshold settings and state to `alarm_connections`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AlarmConnections {
    Table,
    CpuAbove,
    MemoryAboveBytes,
    ForSeconds,
    CpuHot,
    MemoryHot,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE
        let columns = [
            double_null(AlarmConnections::CpuAbove),
            big_integer_null(AlarmConnections::MemoryAboveBytes),
            big_integer(AlarmConnections::ForSeconds)
                .default(300)
                .to_owned(),
            boolean(AlarmConnections::CpuHot).default(false).to_owned(),
            boolean(AlarmConnections::MemoryHot)
                .default(false)
                .to_owned(),
        ];
        for mut column in columns {
            m.alter_table(
                Table::alter()
                    .table(AlarmConnections::Table)
                    .add_column(&mut column)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            AlarmConnections::CpuAbove,
            AlarmConnections::MemoryAboveBytes,
            AlarmConnections::ForSeconds,
            AlarmConnections::CpuHot,
            AlarmConnections::MemoryHot,
        ] {
            m.alter_table(
                Table::alter()
                    .table(AlarmConnections::Table)
                    .drop_column(column)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
