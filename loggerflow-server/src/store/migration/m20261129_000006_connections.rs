//! Websocket connection generations: which connection of an instance is the
//! live one, so an old socket closing late does not mark it offline. And
//! error group titles folded to lower case by the server (SQLite's `LOWER`
//! folds ASCII only), for a search that finds "Échec" as "échec" on both
//! backends.
// `async_trait` expands `&SchemaManager` with a hidden lifetime
#![allow(elided_lifetimes_in_paths)]

use sea_orm_migration::{prelude::*, schema::*};

/// Adds `instances.connection` and `error_groups.title_folded`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Instances {
    Table,
    Connection,
}

#[derive(DeriveIden)]
enum ErrorGroups {
    Table,
    TitleFolded,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Instances::Table)
                .add_column(string_null(Instances::Connection))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(ErrorGroups::Table)
                .add_column(string_null(ErrorGroups::TitleFolded))
                .to_owned(),
        )
        .await?;
        // existing groups: the database's fold (new ones get the server's)
        m.get_connection()
            .execute_unprepared("UPDATE error_groups SET title_folded = LOWER(title)")
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(ErrorGroups::Table)
                .drop_column(ErrorGroups::TitleFolded)
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Instances::Table)
                .drop_column(Instances::Connection)
                .to_owned(),
        )
        .await
    }
}
