//! `metric_rollups`: five-minute sums of a project's metric samples, which
//! the long chart windows read.

use sea_orm::entity::prelude::*;

/// The sums of one project's samples in one five-minute bucket.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "metric_rollups")]
pub struct Model {
    /// The project.
    #[sea_orm(primary_key, auto_increment = false)]
    pub project_id: i64,
    /// The bucket's start (a multiple of five minutes).
    #[sea_orm(primary_key, auto_increment = false)]
    pub bucket_ms: i64,
    /// Samples summed.
    pub samples: i64,
    /// Sum of host CPU %.
    pub cpu_sum: f64,
    /// Sum of process CPU %.
    pub process_cpu_sum: f64,
    /// Sum of process memory.
    pub process_memory_sum: f64,
    /// Sum of host memory used.
    pub memory_used_sum: f64,
    /// Sum of host memory total.
    pub memory_total_sum: f64,
}

/// No relations are declared; queries join by id.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
