//! `sessions`: the dashboard's login sessions (`--auth`).

use sea_orm::entity::prelude::*;

/// A login session; only a hash of its cookie token is stored.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sessions")]
pub struct Model {
    /// SHA-256 of the credentials' tag and the cookie token.
    #[sea_orm(primary_key, auto_increment = false)]
    pub token_hash: String,
    /// The token its forms must carry.
    pub csrf_token: String,
    /// Who logged in.
    pub user: String,
    /// When it started.
    pub created_ms: i64,
    /// When it ends.
    pub expires_ms: i64,
}

/// No relations are declared.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
