//! `settings`: what the settings page changes, as key / value rows.

use sea_orm::entity::prelude::*;

/// One setting.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "settings")]
pub struct Model {
    /// Its name (`trace_mode`, `backlight`…).
    #[sea_orm(primary_key, auto_increment = false)]
    pub key: String,
    /// Its value, as text.
    #[sea_orm(column_type = "Text")]
    pub value: String,
}

/// No relations are declared.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
