//! Error group titles folded to lower case by the server, with Unicode rules
//! (SQLite's `LOWER` folds ASCII only), for a search that finds "Échec" as
//! "échec" on both backends.
// `async_trait` expands `&SchemaManager` with a hidden lifetime
#![allow(elided_lifetimes_in_paths)]

use sea_orm::{ConnectionTrait, Statement};
use sea_orm_migration::{prelude::*, schema::*};

/// Adds `error_groups.title_folded`, filled for the groups that exist.
#[derive(DeriveMigrationName)]
pub struct Migration;

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
                .table(ErrorGroups::Table)
                .add_column(string_null(ErrorGroups::TitleFolded))
                .to_owned(),
        )
        .await?;
        // the groups that exist, folded here (not by the database's LOWER);
        // groups are few (one per kind of error), so one pass is fine
        let db = m.get_connection();
        let backend = db.get_database_backend();
        let rows = db
            .query_all_raw(Statement::from_string(
                backend,
                "SELECT id, title FROM error_groups",
            ))
            .await?;
        for row in rows {
            let id: i64 = row.try_get("", "id")?;
            let title: String = row.try_get("", "title")?;
            db.execute_raw(Statement::from_sql_and_values(
                backend,
                match backend {
                    sea_orm::DbBackend::Postgres => {
                        "UPDATE error_groups SET title_folded = $1 WHERE id = $2"
                    }
                    _ => "UPDATE error_groups SET title_folded = ? WHERE id = ?",
                },
                [title.to_lowercase().into(), id.into()],
            ))
            .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(ErrorGroups::Table)
                .drop_column(ErrorGroups::TitleFolded)
                .to_owned(),
        )
        .await
    }
}
