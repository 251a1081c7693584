//! `group_releases`: in which releases each error group was seen.

use sea_orm::entity::prelude::*;

/// A group's reports in one release.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "group_releases")]
pub struct Model {
    /// The group.
    #[sea_orm(primary_key, auto_increment = false)]
    pub group_id: i64,
    /// The release (and so the environment).
    #[sea_orm(primary_key, auto_increment = false)]
    pub release_id: i64,
    /// Its reports in that release (pruned ones included).
    pub count: i64,
    /// The first of them.
    pub first_seen_ms: i64,
    /// The latest of them.
    pub last_seen_ms: i64,
}

/// No relations are declared; queries join by id.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
