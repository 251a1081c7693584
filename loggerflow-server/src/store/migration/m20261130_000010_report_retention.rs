//! Reports are pruned by age and by count per project: each group keeps its
//! true count, and how many of its reports were pruned.
// `async_trait` expands `&SchemaManager` with a hidden lifetime
#![allow(elided_lifetimes_in_paths)]

use sea_orm_migration::{prelude::*, schema::*};

/// Adds `error_groups.pruned` (reports of the group deleted by retention).
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ErrorGroups {
    Table,
    Pruned,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(ErrorGroups::Table)
                .add_column(big_integer(ErrorGroups::Pruned).default(0))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(ErrorGroups::Table)
                .drop_column(ErrorGroups::Pruned)
                .to_owned(),
        )
        .await
    }
}
