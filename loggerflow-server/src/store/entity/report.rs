//! `reports`: every report, stored once per id.

use sea_orm::entity::prelude::*;

/// A stored report; `body` is the whole `Report` as JSON, compressed
/// ([`crate::store::payload`]).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "reports")]
pub struct Model {
    /// The client-made id (UUID v7): 16 bytes (BLOB on SQLite, `uuid` on
    /// PostgreSQL).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The project.
    pub project_id: i64,
    /// The group.
    pub group_id: i64,
    /// The instance that sent it, when known.
    pub instance_id: Option<String>,
    /// When it happened.
    pub ts_ms: i64,
    /// The `Report` as zstd-compressed JSON.
    pub body: Vec<u8>,
    /// Its release and environment (none for reports stored before
    /// releases were kept: `production`, no release).
    pub release_id: Option<i64>,
}

/// No relations are declared; queries join by id.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
