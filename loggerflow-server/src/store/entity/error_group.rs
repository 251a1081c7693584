//! `error_groups`: reports of one project grouped by fingerprint.

use sea_orm::entity::prelude::*;

/// A group of reports with the same fingerprint.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "error_groups")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The project.
    pub project_id: i64,
    /// The normalised key reports are grouped by (unique per project).
    pub fingerprint: String,
    /// A title from the first report.
    pub title: String,
    /// The title folded to lower case by the server (Unicode rules), which
    /// the errors page searches.
    pub title_folded: Option<String>,
    /// Reports the group ever had (pruned ones included).
    pub count: i64,
    /// Reports of the group deleted by retention ([`crate::store::retention`]).
    pub pruned: i64,
    /// First report's time.
    pub first_seen_ms: i64,
    /// Latest report's time.
    pub last_seen_ms: i64,
    /// `open`, `resolved` or `ignored`.
    pub state: String,
    /// A resolved group that came back.
    pub regressed: bool,
    /// The release it came back in, the last time it did.
    pub regressed_release_id: Option<i64>,
    /// When it was last resolved.
    pub resolved_ms: Option<i64>,
}

/// No relations are declared; queries join by id.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
