//! `servers`: the server processes sharing the database, with their beat.

use sea_orm::entity::prelude::*;

/// A server process.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "servers")]
pub struct Model {
    /// `host:pid/random` (`store::servers::new_id`).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// When it started.
    pub started_ms: i64,
    /// Its latest beat.
    pub last_seen_ms: i64,
}

/// No relations are declared; queries join by id.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
