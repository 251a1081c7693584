//! Instances remember the backends and authors their app named in its
//! hello, as the original's projects page shows them.
// `async_trait` expands `&SchemaManager` with a hidden lifetime
#![allow(elided_lifetimes_in_paths)]

use sea_orm_migration::{prelude::*, schema::*};

/// Adds `instances.backends` and `instances.authors` (`, `-separated
/// names; empty for instances that named none, and for those that said
/// hello before this version).
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Instances {
    Table,
    Backends,
    Authors,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE
        for column in [Instances::Backends, Instances::Authors] {
            m.alter_table(
                Table::alter()
                    .table(Instances::Table)
                    .add_column(string(column).default(""))
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for column in [Instances::Backends, Instances::Authors] {
            m.alter_table(
                Table::alter()
                    .table(Instances::Table)
                    .drop_column(column)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
