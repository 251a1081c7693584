//! `alarm_connections`: which alarms a project sends to, for which
//! triggers, with the threshold settings and their state.

use sea_orm::entity::prelude::*;

/// An alarm connected to a project (one per pair).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "alarm_connections")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The project.
    pub project_id: i64,
    /// The alarm.
    pub alarm_id: i64,
    /// The triggers, as a JSON array of names (`["new_error", "offline"]`).
    #[sea_orm(column_type = "Text")]
    pub triggers: String,
    /// N of the `every_nth` trigger (0: none).
    pub every_nth: i64,
    /// `cpu_high`: process CPU % above this…
    pub cpu_above: Option<f64>,
    /// `memory_high`: process memory above this many bytes…
    pub memory_above_bytes: Option<i64>,
    /// …for this many seconds.
    pub for_seconds: i64,
    /// The CPU threshold fired and has not recovered yet.
    pub cpu_hot: bool,
    /// The memory threshold fired and has not recovered yet.
    pub memory_hot: bool,
    /// The environments it listens to, as a JSON array (none: all).
    #[sea_orm(column_type = "Text", nullable)]
    pub environments: Option<String>,
}

/// No relations are declared; queries join by id.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
