//! Metrics: heartbeat samples, their five-minute rollups, the charts that
//! read them, the readings thresholds watch, and their pruning. (The writer
//! stores samples and rollups with each heartbeat: `store::writer`.)

use sea_orm::sea_query::{Alias, Expr, ExprTrait, OnConflict, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, FromQueryResult,
    QueryFilter, QueryOrder, QuerySelect,
};
use serde::Serialize;

use super::entity::{metric_rollup, metric_sample};
use super::{StoreError, now_ms};

/// The width of a metric rollup bucket: five minutes.
pub const ROLLUP_MS: i64 = 300_000;

/// Fills an empty `metric_rollups` from `metric_samples` (the migration that
/// adds the table runs it). Kept as text: the migration that runs it is
/// written in SQL and must not change.
pub const ROLLUP_BACKFILL: &str = "INSERT INTO metric_rollups (project_id, bucket_ms, samples, cpu_sum, process_cpu_sum, \
    process_memory_sum, memory_used_sum, memory_total_sum) \
    SELECT project_id, ts_ms - (ts_ms % 300000), COUNT(*), SUM(cpu_percent), SUM(process_cpu_percent), \
    SUM(CAST(process_memory_bytes AS DOUBLE PRECISION)), SUM(CAST(memory_used_bytes AS DOUBLE PRECISION)), \
    SUM(CAST(memory_total_bytes AS DOUBLE PRECISION)) \
    FROM metric_samples GROUP BY project_id, ts_ms - (ts_ms % 300000)";

/// Rebuilds the metric rollups from the stored samples.
pub async fn rebuild_rollups(db: &DatabaseConnection) -> Result<(), StoreError> {
    metric_rollup::Entity::delete_many().exec(db).await?;
    db.execute_unprepared(ROLLUP_BACKFILL).await?;
    Ok(())
}

/// Deletes metric samples older than `cutoff_ms` and the rollups of the
/// buckets before it; returns how many samples.
pub async fn prune(db: &DatabaseConnection, cutoff_ms: i64) -> Result<u64, StoreError> {
    let samples = metric_sample::Entity::delete_many()
        .filter(metric_sample::Column::TsMs.lt(cutoff_ms))
        .exec(db)
        .await?;
    metric_rollup::Entity::delete_many()
        .filter(metric_rollup::Column::BucketMs.lt(cutoff_ms - (cutoff_ms % ROLLUP_MS)))
        .exec(db)
        .await?;
    Ok(samples.rows_affected)
}

/// One point of a metrics chart: averages over a bucket.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MetricPoint {
    /// Bucket start (ms).
    pub ts_ms: i64,
    /// Host CPU %.
    pub cpu_percent: f64,
    /// Process CPU %.
    pub process_cpu_percent: f64,
    /// Process memory.
    pub process_memory_bytes: f64,
    /// Host memory used.
    pub memory_used_bytes: f64,
    /// Host memory total.
    pub memory_total_bytes: f64,
    /// Samples averaged.
    pub samples: i64,
}

/// The chart windows, with their length in milliseconds.
pub const WINDOWS: &[(&str, i64)] = &[
    ("1m", 60_000),
    ("5m", 300_000),
    ("30m", 1_800_000),
    ("1h", 3_600_000),
    ("3h", 10_800_000),
    ("1d", 86_400_000),
    ("3d", 259_200_000),
    ("7d", 604_800_000),
];

/// The window named `name` (`5m`…) and its length in milliseconds.
pub fn window(name: &str) -> Option<(&'static str, i64)> {
    WINDOWS.iter().find(|(n, _)| *n == name).copied()
}

/// A bucket of a chart, as read (grouped by its own output column).
#[derive(FromQueryResult)]
struct Bucket {
    bucket: i64,
    cpu_percent: f64,
    process_cpu_percent: f64,
    process_memory_bytes: f64,
    memory_used_bytes: f64,
    memory_total_bytes: f64,
    samples: i64,
}

/// Bucketed averages of a project's samples over `window_ms`, at most ~300
/// points (buckets of at least one second).
pub async fn chart(
    db: &DatabaseConnection,
    project: i64,
    window_ms: i64,
) -> Result<Vec<MetricPoint>, StoreError> {
    let since = now_ms() - window_ms;
    // grouped and ordered by the output column `bucket`: each bound value
    // is a parameter of its own, so a repeated expression would not be the
    // same one on PostgreSQL
    let bucket_col = || Expr::col(Alias::new("bucket"));
    // windows of a day or more read the five-minute rollups
    let rows = if window_ms >= 86_400_000 {
        use metric_rollup::Column;
        let bucket = std::cmp::max(window_ms / 300, ROLLUP_MS);
        let bucket = bucket - bucket % ROLLUP_MS;
        let avg = |sum: Column| Expr::col(sum).sum().div(Expr::col(Column::Samples).sum());
        metric_rollup::Entity::find()
            .select_only()
            .expr_as(
                Expr::col(Column::BucketMs).div(bucket).mul(bucket),
                "bucket",
            )
            .expr_as(avg(Column::CpuSum), "cpu_percent")
            .expr_as(avg(Column::ProcessCpuSum), "process_cpu_percent")
            .expr_as(avg(Column::ProcessMemorySum), "process_memory_bytes")
            .expr_as(avg(Column::MemoryUsedSum), "memory_used_bytes")
            .expr_as(avg(Column::MemoryTotalSum), "memory_total_bytes")
            .expr_as(
                Expr::col(Column::Samples).sum().cast_as("BIGINT"),
                "samples",
            )
            .filter(Column::ProjectId.eq(project))
            .filter(Column::BucketMs.gte(since - since % ROLLUP_MS))
            .group_by(bucket_col())
            .order_by_asc(bucket_col())
            .into_model::<Bucket>()
            .all(db)
            .await?
    } else {
        use metric_sample::Column;
        let bucket = std::cmp::max(window_ms / 300, 1000);
        let avg = |c: Column| Expr::col(c).avg().cast_as("DOUBLE PRECISION");
        metric_sample::Entity::find()
            .select_only()
            .expr_as(Expr::col(Column::TsMs).div(bucket).mul(bucket), "bucket")
            .expr_as(avg(Column::CpuPercent), "cpu_percent")
            .expr_as(avg(Column::ProcessCpuPercent), "process_cpu_percent")
            .expr_as(avg(Column::ProcessMemoryBytes), "process_memory_bytes")
            .expr_as(avg(Column::MemoryUsedBytes), "memory_used_bytes")
            .expr_as(avg(Column::MemoryTotalBytes), "memory_total_bytes")
            .expr_as(Expr::col(Column::Id).count(), "samples")
            .filter(Column::ProjectId.eq(project))
            .filter(Column::TsMs.gte(since))
            .group_by(bucket_col())
            .order_by_asc(bucket_col())
            .into_model::<Bucket>()
            .all(db)
            .await?
    };
    Ok(rows
        .into_iter()
        .map(|b| MetricPoint {
            ts_ms: b.bucket,
            cpu_percent: b.cpu_percent,
            process_cpu_percent: b.process_cpu_percent,
            process_memory_bytes: b.process_memory_bytes,
            memory_used_bytes: b.memory_used_bytes,
            memory_total_bytes: b.memory_total_bytes,
            samples: b.samples,
        })
        .collect())
}

/// A reading thresholds watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// Process CPU %.
    ProcessCpu,
    /// Process memory (bytes).
    ProcessMemory,
}

impl Reading {
    fn column(self) -> metric_sample::Column {
        match self {
            Reading::ProcessCpu => metric_sample::Column::ProcessCpuPercent,
            Reading::ProcessMemory => metric_sample::Column::ProcessMemoryBytes,
        }
    }
}

/// When `project`'s current streak of `reading` above `threshold` started
/// (looking back from `since_ms`): the first sample after the last one at
/// or below it; `None` without samples since.
pub async fn streak_start(
    db: &DatabaseConnection,
    project: i64,
    reading: Reading,
    threshold: f64,
    since_ms: i64,
) -> Result<Option<i64>, StoreError> {
    use metric_sample::Column;
    let last_low = metric_sample::Entity::find()
        .select_only()
        .expr(Expr::col(Column::TsMs).max())
        .filter(Column::ProjectId.eq(project))
        .filter(Column::TsMs.gte(since_ms))
        .filter(Expr::col(reading.column()).lte(threshold))
        .into_tuple::<Option<i64>>()
        .one(db)
        .await?
        .flatten()
        .unwrap_or(since_ms - 1);
    Ok(metric_sample::Entity::find()
        .select_only()
        .expr(Expr::col(Column::TsMs).min())
        .filter(Column::ProjectId.eq(project))
        .filter(Column::TsMs.gt(last_low))
        .into_tuple::<Option<i64>>()
        .one(db)
        .await?
        .flatten())
}

/// `project`'s latest sample of `reading`.
pub async fn latest(
    db: &DatabaseConnection,
    project: i64,
    reading: Reading,
) -> Result<Option<f64>, StoreError> {
    use metric_sample::Column;
    Ok(metric_sample::Entity::find()
        .select_only()
        .expr(Expr::col(reading.column()).cast_as("DOUBLE PRECISION"))
        .filter(Column::ProjectId.eq(project))
        .order_by_desc(Column::TsMs)
        .limit(1)
        .into_tuple::<f64>()
        .one(db)
        .await?)
}

/// Stores a heartbeat's readings of instance `instance` at `now` (the
/// writer calls it in its transaction): a sample, and the sums of its
/// project's five-minute bucket.
pub(crate) async fn record_sample<C: ConnectionTrait>(
    conn: &C,
    instance: &str,
    now: i64,
    r: super::instances::Readings,
) -> Result<(), DbErr> {
    use super::entity::instance as inst;
    // the project is the instance's: both rows come from one SELECT of it
    let of_instance = |first: Vec<Expr>| {
        let mut select = Query::select();
        select
            .column(inst::Column::ProjectId)
            .exprs(first)
            .expr(Expr::val(r.cpu_percent))
            .expr(Expr::val(r.process_cpu_percent))
            .expr(Expr::val(r.process_memory_bytes))
            .expr(Expr::val(r.memory_used_bytes))
            .expr(Expr::val(r.memory_total_bytes))
            .from(inst::Entity)
            .and_where(Expr::col(inst::Column::Id).eq(instance));
        select
    };
    {
        use metric_sample::Column;
        let insert = Query::insert()
            .into_table(metric_sample::Entity)
            .columns([
                Column::ProjectId,
                Column::InstanceId,
                Column::TsMs,
                Column::CpuPercent,
                Column::ProcessCpuPercent,
                Column::ProcessMemoryBytes,
                Column::MemoryUsedBytes,
                Column::MemoryTotalBytes,
            ])
            .select_from(of_instance(vec![
                Expr::col(inst::Column::Id),
                Expr::val(now),
            ]))
            .map_err(|e| DbErr::Custom(e.to_string()))?
            .to_owned();
        conn.execute(&insert).await?;
    }
    use metric_rollup::Column;
    let sums = [
        Column::CpuSum,
        Column::ProcessCpuSum,
        Column::ProcessMemorySum,
        Column::MemoryUsedSum,
        Column::MemoryTotalSum,
    ];
    let mut on_conflict = OnConflict::columns([Column::ProjectId, Column::BucketMs]);
    on_conflict.value(
        Column::Samples,
        Expr::col((metric_rollup::Entity, Column::Samples)).add(1),
    );
    for sum in sums {
        on_conflict.value(
            sum,
            Expr::col((metric_rollup::Entity, sum)).add(Expr::col((Alias::new("excluded"), sum))),
        );
    }
    let mut columns = vec![Column::ProjectId, Column::BucketMs, Column::Samples];
    columns.extend(sums);
    let insert = Query::insert()
        .into_table(metric_rollup::Entity)
        .columns(columns)
        .select_from(of_instance(vec![
            Expr::val(now - (now % ROLLUP_MS)),
            Expr::val(1),
        ]))
        .map_err(|e| DbErr::Custom(e.to_string()))?
        .on_conflict(on_conflict)
        .to_owned();
    conn.execute(&insert).await?;
    Ok(())
}
