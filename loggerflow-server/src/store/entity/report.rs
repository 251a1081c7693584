//! `reports`: every report, stored once per id.

use sea_orm::entity::prelude::*;

/// A stored report; `payload` is the whole `Report` as JSON.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "reports")]
pub struct Model {
    /// The client-made id (UUID v7, as text).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// The project.
    pub project_id: i64,
    /// The group.
    pub group_id: i64,
    /// The instance that sent it, when known.
    pub instance_id: Option<String>,
    /// When it happened.
    pub ts_ms: i64,
    /// `ERROR`, `WARN`, …
    pub level: String,
    /// `event` or `panic`.
    pub kind: String,
    /// One-line title.
    pub title: String,
    /// The `Report`, serialised.
    #[sea_orm(column_type = "Text")]
    pub payload: String,
}

/// No relations are declared; queries join by id.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
