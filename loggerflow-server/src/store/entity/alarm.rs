//! `alarms`: the configured alarm channels (a Telegram chat, a webhook…).

use sea_orm::entity::prelude::*;

/// An alarm: a named channel of one kind with its settings.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "alarms")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The name it is managed by (unique).
    pub name: String,
    /// The kind (`telegram`, `discord`, `webhook`, `file` or a custom one).
    pub kind: String,
    /// The kind's fields, as a JSON object (secrets included).
    #[sea_orm(column_type = "Text")]
    pub fields: String,
    /// When it was added.
    pub created_ms: i64,
}

/// No relations are declared; queries join by id.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
