//! Five-minute rollups of metric samples per project, so the long windows
//! (1 day to 7 days) read a few thousand rows instead of every sample.
// `async_trait` expands `&SchemaManager` with a hidden lifetime
#![allow(elided_lifetimes_in_paths)]

use sea_orm_migration::prelude::*;

/// Adds `metric_rollups` and fills it from the samples already stored.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        db.execute_unprepared(
            "CREATE TABLE IF NOT EXISTS metric_rollups (
                project_id BIGINT NOT NULL,
                bucket_ms BIGINT NOT NULL,
                samples BIGINT NOT NULL,
                cpu_sum DOUBLE PRECISION NOT NULL,
                process_cpu_sum DOUBLE PRECISION NOT NULL,
                process_memory_sum DOUBLE PRECISION NOT NULL,
                memory_used_sum DOUBLE PRECISION NOT NULL,
                memory_total_sum DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (project_id, bucket_ms)
            )",
        )
        .await?;
        db.execute_unprepared(crate::store::ROLLUP_BACKFILL).await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.get_connection()
            .execute_unprepared("DROP TABLE IF EXISTS metric_rollups")
            .await?;
        Ok(())
    }
}
