//! Alarm events are written in the transaction of the change that causes
//! them, one per connection subscribed to the trigger.

use sea_orm::{ConnectionTrait, DbErr};

use crate::store::{now_ms, sql};

/// Queues `trigger` for every alarm connected to `project` with that trigger.
pub async fn enqueue<C: ConnectionTrait>(
    conn: &C,
    project: i64,
    trigger: &str,
    message: &str,
) -> Result<(), DbErr> {
    let pattern = format!("%\"{trigger}\"%");
    // PostgreSQL refuses NUL in text; app text may hold one
    let message = message.replace('\0', "");
    conn.execute_raw(sql(
        conn.get_database_backend(),
        "INSERT INTO alarm_events (project_id, alarm_id, \"trigger\", message, created_ms, status) \
         SELECT project_id, alarm_id, $2, $3, $4, 'pending' FROM alarm_connections \
         WHERE project_id = $1 AND triggers LIKE $5",
        [
            project.into(),
            trigger.into(),
            message.into(),
            now_ms().into(),
            pattern.into(),
        ],
    ))
    .await?;
    Ok(())
}

/// The distinct N of the project's connections with an `every_nth` trigger.
pub async fn every_nth_values<C: ConnectionTrait>(
    conn: &C,
    project: i64,
) -> Result<Vec<i64>, DbErr> {
    let rows = conn
        .query_all_raw(sql(
            conn.get_database_backend(),
            "SELECT DISTINCT CAST(every_nth AS BIGINT) AS n FROM alarm_connections \
             WHERE project_id = $1 AND triggers LIKE '%\"every_nth\"%' AND every_nth > 0",
            [project.into()],
        ))
        .await?;
    rows.iter().map(|r| r.try_get::<i64>("", "n")).collect()
}

/// Queues `every_nth` for connections whose N divides `count`.
pub async fn enqueue_every_nth<C: ConnectionTrait>(
    conn: &C,
    project: i64,
    count: i64,
    message: &str,
) -> Result<(), DbErr> {
    let message = message.replace('\0', "");
    conn.execute_raw(sql(
        conn.get_database_backend(),
        "INSERT INTO alarm_events (project_id, alarm_id, \"trigger\", message, created_ms, status) \
         SELECT project_id, alarm_id, 'every_nth', $2, $3, 'pending' FROM alarm_connections \
         WHERE project_id = $1 AND triggers LIKE '%\"every_nth\"%' AND every_nth > 0 AND $4 % every_nth = 0",
        [project.into(), message.into(), now_ms().into(), count.into()],
    ))
    .await?;
    Ok(())
}
