//! `releases`: a project's releases per environment, as reports name them.

use sea_orm::entity::prelude::*;

/// One release of a project in one environment.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "releases")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The project.
    pub project_id: i64,
    /// `production`, `staging`… (`production` for clients that send none).
    pub environment: String,
    /// The release as the app names it; `""` for reports that name none.
    pub version: String,
    /// Its first report.
    pub first_seen_ms: i64,
    /// Its latest report.
    pub last_seen_ms: i64,
}

/// No relations are declared; queries join by id.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
