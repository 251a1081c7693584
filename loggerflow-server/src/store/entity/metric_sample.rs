//! `metric_samples`: every heartbeat's readings, kept for the retention period.

use sea_orm::entity::prelude::*;

/// One heartbeat's readings.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "metric_samples")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The project.
    pub project_id: i64,
    /// The instance.
    pub instance_id: String,
    /// When it was received.
    pub ts_ms: i64,
    /// Host CPU %.
    pub cpu_percent: f64,
    /// Process CPU %.
    pub process_cpu_percent: f64,
    /// Process memory.
    pub process_memory_bytes: i64,
    /// Host memory used.
    pub memory_used_bytes: i64,
    /// Host memory total.
    pub memory_total_bytes: i64,
}

/// No relations are declared; queries join by id.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
