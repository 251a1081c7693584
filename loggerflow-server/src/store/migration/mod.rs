//! Schema migrations, run at every start (`Migrator::up`). One migration per
//! file: `DeriveMigrationName` takes the name from the file name.

use sea_orm_migration::prelude::*;

mod m20261125_000001_init;
mod m20261125_000002_alarms;
mod m20261125_000003_thresholds;
mod m20261125_000004_dashboard;
mod m20261125_000005_metric_rollups;
mod m20261129_000006_connections;
mod m20261129_000007_title_folded;
mod m20261129_000008_claim_lease;
mod m20261129_000009_servers;
mod m20261130_000010_report_retention;
mod m20261130_000011_compact_reports;
mod m20261130_000012_alarm_links;
mod m20261130_000013_instance_backends;
mod m20261130_000014_releases;

/// All migrations, oldest first.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_init::Migration),
            Box::new(m20261125_000002_alarms::Migration),
            Box::new(m20261125_000003_thresholds::Migration),
            Box::new(m20261125_000004_dashboard::Migration),
            Box::new(m20261125_000005_metric_rollups::Migration),
            Box::new(m20261129_000006_connections::Migration),
            Box::new(m20261129_000007_title_folded::Migration),
            Box::new(m20261129_000008_claim_lease::Migration),
            Box::new(m20261129_000009_servers::Migration),
            Box::new(m20261130_000010_report_retention::Migration),
            Box::new(m20261130_000011_compact_reports::Migration),
            Box::new(m20261130_000012_alarm_links::Migration),
            Box::new(m20261130_000013_instance_backends::Migration),
            Box::new(m20261130_000014_releases::Migration),
        ]
    }
}
