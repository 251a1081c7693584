//! Dashboard state: settings, login sessions, and the index the errors page
//! pages by.
// `async_trait` expands `&SchemaManager` with a hidden lifetime
#![allow(elided_lifetimes_in_paths)]

use sea_orm_migration::{prelude::*, schema::*};

/// Adds `settings`, `sessions` and an index of groups by last seen.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Settings {
    Table,
    Key,
    Value,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    TokenHash,
    CsrfToken,
    User,
    CreatedMs,
    ExpiresMs,
}

#[derive(DeriveIden)]
enum ErrorGroups {
    Table,
    ProjectId,
    LastSeenMs,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Settings::Table)
                .if_not_exists()
                .col(string(Settings::Key).primary_key())
                .col(text(Settings::Value))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Sessions::Table)
                .if_not_exists()
                .col(string(Sessions::TokenHash).primary_key())
                .col(string(Sessions::CsrfToken))
                .col(string(Sessions::User))
                .col(big_integer(Sessions::CreatedMs))
                .col(big_integer(Sessions::ExpiresMs))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .if_not_exists()
                .name("ix_error_groups_project_last_seen")
                .table(ErrorGroups::Table)
                .col(ErrorGroups::ProjectId)
                .col(ErrorGroups::LastSeenMs)
                .col(ErrorGroups::Id)
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("ix_error_groups_project_last_seen")
                .table(ErrorGroups::Table)
                .to_owned(),
        )
        .await?;
        for table in [Settings::Table.into_iden(), Sessions::Table.into_iden()] {
            m.drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
