//! `projects`: one row per application name.

use sea_orm::entity::prelude::*;

/// A project (an application, by name).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "projects")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The name apps report under (unique).
    pub name: String,
    /// When the first app of this project said hello.
    pub created_ms: i64,
    /// Hidden from the dashboard's project list.
    pub hidden: bool,
}

/// No relations are declared; queries join by id.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
