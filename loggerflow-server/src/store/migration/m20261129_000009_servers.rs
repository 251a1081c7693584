//! Which server holds each websocket: a `servers` table each server beats
//! in, and the server of an instance's live connection, so the others can
//! tell a connection cut by a dead server from an app gone.
// `async_trait` expands `&SchemaManager` with a hidden lifetime
#![allow(elided_lifetimes_in_paths)]

use sea_orm_migration::{prelude::*, schema::*};

/// Creates `servers`; adds `instances.server_id`, `instances.client_addr`
/// (the address its live connection came from) and `instances.resumed_from`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Servers {
    Table,
    Id,
    StartedMs,
    LastSeenMs,
}

#[derive(DeriveIden)]
enum Instances {
    Table,
    ServerId,
    ClientAddr,
    ResumedFrom,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Servers::Table)
                .if_not_exists()
                .col(string(Servers::Id).primary_key())
                .col(big_integer(Servers::StartedMs))
                .col(big_integer(Servers::LastSeenMs))
                .to_owned(),
        )
        .await?;
        for column in [
            Instances::ServerId,
            Instances::ClientAddr,
            Instances::ResumedFrom,
        ] {
            m.alter_table(
                Table::alter()
                    .table(Instances::Table)
                    .add_column(string_null(column))
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            Instances::ResumedFrom,
            Instances::ClientAddr,
            Instances::ServerId,
        ] {
            m.alter_table(
                Table::alter()
                    .table(Instances::Table)
                    .drop_column(column)
                    .to_owned(),
            )
            .await?;
        }
        m.drop_table(Table::drop().table(Servers::Table).if_exists().to_owned())
            .await
    }
}
