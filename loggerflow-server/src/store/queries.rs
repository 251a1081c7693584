//! What the JSON API (and later the dashboard) reads.

use sea_orm::{ConnectionTrait, DatabaseConnection, FromQueryResult};
use serde::Serialize;

use super::{StoreError, now_ms, sql};

/// An app instance as the API shows it.
#[derive(Debug, Clone, Serialize, FromQueryResult)]
pub struct InstanceView {
    /// Instance id.
    pub id: String,
    /// Host name.
    pub host: String,
    /// Process id.
    pub pid: i64,
    /// Client library and version.
    pub client_version: String,
    /// `webhook` or `websocket`.
    pub transport: String,
    /// Seconds between heartbeats.
    pub heartbeat_s: i32,
    /// `online`, `offline` or `stopped`.
    pub status: String,
    /// Since when (ms).
    pub status_since_ms: i64,
    /// Last message (ms).
    pub last_seen_ms: i64,
    /// Last host CPU %.
    pub cpu_percent: Option<f64>,
    /// Last process CPU %.
    pub process_cpu_percent: Option<f64>,
    /// Last process memory.
    pub process_memory_bytes: Option<i64>,
    /// Last host memory used.
    pub memory_used_bytes: Option<i64>,
    /// Host memory total.
    pub memory_total_bytes: Option<i64>,
    #[serde(skip)]
    project_id: i64,
}

/// A project as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ProjectView {
    /// Name.
    pub name: String,
    /// `online` if any instance is, else `offline` if any is, else `stopped` (or `unknown`).
    pub status: String,
    /// Implementation(s) of its instances.
    pub implementation: String,
    /// Heartbeat interval of its newest instance.
    pub heartbeat_s: Option<i32>,
    /// Newest heartbeat of any instance (ms).
    pub last_heartbeat_ms: Option<i64>,
    /// Reports stored.
    pub error_count: i64,
    /// Error groups.
    pub group_count: i64,
    /// Title of the newest group.
    pub last_error: Option<String>,
    /// Hidden from the dashboard.
    pub hidden: bool,
    /// Its instances, newest first.
    pub instances: Vec<InstanceView>,
}

#[derive(FromQueryResult)]
struct ProjectRow {
    id: i64,
    name: String,
    hidden: bool,
}

#[derive(FromQueryResult)]
struct TitleRow {
    title: String,
}

#[derive(FromQueryResult)]
struct GroupTotals {
    project_id: i64,
    reports: i64,
    groups: i64,
}

/// Every project with its instances and error totals.
pub async fn projects(db: &DatabaseConnection) -> Result<Vec<ProjectView>, StoreError> {
    let backend = db.get_database_backend();
    let projects = ProjectRow::find_by_statement(sql(
        backend,
        "SELECT id, name, hidden FROM projects ORDER BY name",
        [],
    ))
    .all(db)
    .await?;
    let instances = InstanceView::find_by_statement(sql(
        backend,
        "SELECT * FROM instances ORDER BY last_seen_ms DESC",
        [],
    ))
    .all(db)
    .await?;
    let totals = GroupTotals::find_by_statement(sql(
        backend,
        "SELECT project_id, CAST(COALESCE(SUM(count), 0) AS BIGINT) AS reports, COUNT(*) AS groups \
         FROM error_groups GROUP BY project_id",
        [],
    ))
    .all(db)
    .await?;
    let mut views = Vec::with_capacity(projects.len());
    for p in projects {
        let mine: Vec<InstanceView> = instances
            .iter()
            .filter(|i| i.project_id == p.id)
            .cloned()
            .collect();
        let status = ["online", "offline", "stopped"]
            .into_iter()
            .find(|s| mine.iter().any(|i| i.status == *s))
            .unwrap_or("unknown")
            .to_owned();
        let mut implementation: Vec<&str> = mine.iter().map(|i| i.transport.as_str()).collect();
        implementation.sort_unstable();
        implementation.dedup();
        let last_error = TitleRow::find_by_statement(sql(
            backend,
            "SELECT title FROM error_groups WHERE project_id = $1 ORDER BY last_seen_ms DESC LIMIT 1",
            [p.id.into()],
        ))
        .one(db)
        .await?
        .map(|r| r.title);
        let t = totals.iter().find(|t| t.project_id == p.id);
        views.push(ProjectView {
            name: p.name,
            status,
            implementation: implementation.join(", "),
            heartbeat_s: mine.first().map(|i| i.heartbeat_s),
            last_heartbeat_ms: mine.iter().map(|i| i.last_seen_ms).max(),
            error_count: t.map_or(0, |t| t.reports),
            group_count: t.map_or(0, |t| t.groups),
            last_error,
            hidden: p.hidden,
            instances: mine,
        });
    }
    Ok(views)
}

/// The id of the project named `name`.
pub async fn project_id(db: &DatabaseConnection, name: &str) -> Result<Option<i64>, StoreError> {
    #[derive(FromQueryResult)]
    struct Id {
        id: i64,
    }
    let row = Id::find_by_statement(sql(
        db.get_database_backend(),
        "SELECT id FROM projects WHERE name = $1",
        [name.into()],
    ))
    .one(db)
    .await?;
    Ok(row.map(|r| r.id))
}

/// An error group as the API shows it.
#[derive(Debug, Clone, Serialize, FromQueryResult)]
pub struct GroupView {
    /// Group id.
    pub id: i64,
    /// Title.
    pub title: String,
    /// The grouping key.
    pub fingerprint: String,
    /// Reports the group ever had (its true count, pruned ones included).
    pub count: i64,
    /// Of those, deleted by report retention.
    pub pruned: i64,
    /// First seen (ms).
    pub first_seen_ms: i64,
    /// Last seen (ms).
    pub last_seen_ms: i64,
    /// `open`, `resolved` or `ignored`.
    pub state: String,
    /// Came back after being resolved.
    pub regressed: bool,
}

/// The groups of a project, most recent first, optionally of one state.
pub async fn groups(
    db: &DatabaseConnection,
    project: i64,
    state: Option<&str>,
) -> Result<Vec<GroupView>, StoreError> {
    let backend = db.get_database_backend();
    let stmt = match state {
        Some(state) => sql(
            backend,
            "SELECT id, title, fingerprint, count, pruned, first_seen_ms, last_seen_ms, state, regressed \
             FROM error_groups WHERE project_id = $1 AND state = $2 ORDER BY last_seen_ms DESC",
            [project.into(), state.into()],
        ),
        None => sql(
            backend,
            "SELECT id, title, fingerprint, count, pruned, first_seen_ms, last_seen_ms, state, regressed \
             FROM error_groups WHERE project_id = $1 ORDER BY last_seen_ms DESC",
            [project.into()],
        ),
    };
    Ok(GroupView::find_by_statement(stmt).all(db).await?)
}

/// How many groups one errors page shows.
pub const GROUPS_PER_PAGE: u64 = 50;

/// One page of a project's groups for the dashboard, newest first: of one
/// state, whose title contains `search` (case-insensitive for ASCII), older
/// than the cursor `after` (`(last_seen_ms, id)`). Returns the groups, each
/// with the id of its newest report, and the cursor of the next page.
pub async fn groups_page(
    db: &DatabaseConnection,
    project: i64,
    state: Option<&str>,
    search: &str,
    after: Option<(i64, i64)>,
) -> Result<(Vec<(GroupView, Option<String>)>, Option<(i64, i64)>), StoreError> {
    #[derive(FromQueryResult)]
    struct Row {
        id: i64,
        title: String,
        fingerprint: String,
        count: i64,
        pruned: i64,
        first_seen_ms: i64,
        last_seen_ms: i64,
        state: String,
        regressed: bool,
        newest: Option<uuid::Uuid>,
    }
    let backend = db.get_database_backend();
    let mut values: Vec<sea_orm::Value> = vec![project.into()];
    let mut text = String::from(
        "SELECT g.id, g.title, g.fingerprint, g.count, g.pruned, g.first_seen_ms, g.last_seen_ms, g.state, g.regressed, \
         (SELECT r.id FROM reports r WHERE r.group_id = g.id ORDER BY r.ts_ms DESC, r.id DESC LIMIT 1) AS newest \
         FROM error_groups g WHERE g.project_id = $1",
    );
    if let Some(state) = state {
        values.push(state.into());
        text.push_str(&format!(" AND g.state = ${}", values.len()));
    }
    if !search.is_empty() {
        // folded by the server on both sides (Unicode rules): titles are
        // stored folded (`title_folded`), as SQLite's LOWER folds only ASCII
        let escaped = search
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        values.push(format!("%{escaped}%").into());
        text.push_str(&format!(
            " AND COALESCE(g.title_folded, LOWER(g.title)) LIKE ${} ESCAPE '\\'",
            values.len()
        ));
    }
    if let Some((seen, id)) = after {
        values.push(seen.into());
        values.push(id.into());
        let (a, b) = (values.len() - 1, values.len());
        text.push_str(&format!(
            " AND (g.last_seen_ms < ${a} OR (g.last_seen_ms = ${a} AND g.id < ${b}))"
        ));
    }
    // one more than a page tells whether there is a next one
    values.push(i64::try_from(GROUPS_PER_PAGE + 1).unwrap_or(51).into());
    text.push_str(&format!(
        " ORDER BY g.last_seen_ms DESC, g.id DESC LIMIT ${}",
        values.len()
    ));
    let mut rows = Row::find_by_statement(sql(backend, &text, values))
        .all(db)
        .await?;
    let more = rows.len() as u64 > GROUPS_PER_PAGE;
    rows.truncate(usize::try_from(GROUPS_PER_PAGE).unwrap_or(50));
    let next = more
        .then(|| rows.last().map(|r| (r.last_seen_ms, r.id)))
        .flatten();
    let groups = rows
        .into_iter()
        .map(|r| {
            (
                GroupView {
                    id: r.id,
                    title: r.title,
                    fingerprint: r.fingerprint,
                    count: r.count,
                    pruned: r.pruned,
                    first_seen_ms: r.first_seen_ms,
                    last_seen_ms: r.last_seen_ms,
                    state: r.state,
                    regressed: r.regressed,
                },
                r.newest.map(|id| id.to_string()),
            )
        })
        .collect();
    Ok((groups, next))
}

/// Reports per group and hour over the 24 h before `now_ms`, for the
/// sparklines of `groups`: `(group, hour 0..24 oldest first, count)`.
pub async fn hourly_counts(
    db: &DatabaseConnection,
    groups: &[i64],
    now_ms: i64,
) -> Result<Vec<(i64, i64, i64)>, StoreError> {
    #[derive(FromQueryResult)]
    struct Row {
        group_id: i64,
        hour: i64,
        n: i64,
    }
    if groups.is_empty() {
        return Ok(Vec::new());
    }
    let since = now_ms - 24 * 3_600_000;
    let mut values: Vec<sea_orm::Value> = vec![since.into()];
    let mut marks = Vec::with_capacity(groups.len());
    for g in groups {
        values.push((*g).into());
        marks.push(format!("${}", values.len()));
    }
    let text = format!(
        "SELECT group_id, (ts_ms - $1) / 3600000 AS hour, COUNT(*) AS n FROM reports \
         WHERE group_id IN ({}) AND ts_ms >= $1 GROUP BY group_id, (ts_ms - $1) / 3600000",
        marks.join(", ")
    );
    let rows = Row::find_by_statement(sql(db.get_database_backend(), &text, values))
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.group_id, r.hour, r.n))
        .collect())
}

/// The instances of a project, newest first.
pub async fn instances(
    db: &DatabaseConnection,
    project: i64,
) -> Result<Vec<InstanceView>, StoreError> {
    Ok(InstanceView::find_by_statement(sql(
        db.get_database_backend(),
        "SELECT * FROM instances WHERE project_id = $1 ORDER BY last_seen_ms DESC",
        [project.into()],
    ))
    .all(db)
    .await?)
}

/// Forgets a project's instances that are not online; returns how many.
pub async fn clear_instances(db: &DatabaseConnection, project: i64) -> Result<u64, StoreError> {
    let result = db
        .execute_raw(sql(
            db.get_database_backend(),
            "DELETE FROM instances WHERE project_id = $1 AND status <> 'online'",
            [project.into()],
        ))
        .await?;
    Ok(result.rows_affected())
}

/// Hides or returns a project; false if there is none of that name.
pub async fn set_hidden(
    db: &DatabaseConnection,
    name: &str,
    hidden: bool,
) -> Result<bool, StoreError> {
    let result = db
        .execute_raw(sql(
            db.get_database_backend(),
            "UPDATE projects SET hidden = $1 WHERE name = $2",
            [hidden.into(), name.into()],
        ))
        .await?;
    Ok(result.rows_affected() > 0)
}

/// Deletes a project with its reports, groups, instances, metrics, alarm
/// connections and history, in one transaction; false if there is none of
/// that name.
pub async fn delete_project(db: &DatabaseConnection, name: &str) -> Result<bool, StoreError> {
    let backend = db.get_database_backend();
    let Some(id) = project_id(db, name).await? else {
        return Ok(false);
    };
    let txn = super::begin_write(db).await?;
    if backend != sea_orm::DbBackend::Sqlite {
        // first the project's row: a server writing to it holds it (FOR KEY
        // SHARE) until its commit, so the deletion waits for that write
        // instead of deadlocking with it over the project's groups
        txn.execute_raw(sql(
            backend,
            "SELECT id FROM projects WHERE id = $1 FOR UPDATE",
            [id.into()],
        ))
        .await?;
    }
    for table in [
        "reports",
        "error_groups",
        "metric_samples",
        "metric_rollups",
        "instances",
        "alarm_connections",
        "alarm_events",
    ] {
        txn.execute_raw(sql(
            backend,
            &format!("DELETE FROM {table} WHERE project_id = $1"),
            [id.into()],
        ))
        .await?;
    }
    txn.execute_raw(sql(
        backend,
        "DELETE FROM projects WHERE id = $1",
        [id.into()],
    ))
    .await?;
    txn.commit().await?;
    Ok(true)
}

#[derive(FromQueryResult)]
struct PayloadRow {
    id: uuid::Uuid,
    ts_ms: i64,
    group_id: i64,
    instance_id: Option<String>,
    body: Vec<u8>,
}

/// A stored report with where it belongs.
#[derive(Debug, Clone, Serialize)]
pub struct ReportView {
    /// Its group.
    pub group_id: i64,
    /// The instance that sent it.
    pub instance_id: Option<String>,
    /// The report.
    pub report: serde_json::Value,
    /// The cursor for the next (older) page: pass it as `before`.
    pub cursor: String,
}

/// Reports of a project (optionally of one group), newest first, `limit` at
/// most, older than the cursor `before` (`"{ts_ms}:{id}"`) when given.
pub async fn reports(
    db: &DatabaseConnection,
    project: i64,
    group: Option<i64>,
    limit: u64,
    before: Option<(i64, uuid::Uuid)>,
) -> Result<Vec<ReportView>, StoreError> {
    let backend = db.get_database_backend();
    // ids compare as 16 bytes: the largest one stands for "none"
    let (before_ts, before_id) = before.unwrap_or((i64::MAX, uuid::Uuid::max()));
    let limit = i64::try_from(limit.clamp(1, 500)).unwrap_or(100);
    let group_filter = if group.is_some() {
        " AND group_id = $5"
    } else {
        ""
    };
    let text = format!(
        "SELECT id, ts_ms, group_id, instance_id, body FROM reports \
         WHERE project_id = $1 AND (ts_ms < $2 OR (ts_ms = $2 AND id < $3)){group_filter} \
         ORDER BY ts_ms DESC, id DESC LIMIT $4"
    );
    let mut values: Vec<sea_orm::Value> = vec![
        project.into(),
        before_ts.into(),
        before_id.into(),
        limit.into(),
    ];
    if let Some(group) = group {
        values.push(group.into());
    }
    let rows = PayloadRow::find_by_statement(sql(backend, &text, values))
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| ReportView {
            group_id: r.group_id,
            instance_id: r.instance_id,
            report: super::payload::decode_json(&r.body)
                .ok()
                .and_then(|json| serde_json::from_slice(&json).ok())
                .unwrap_or(serde_json::Value::Null),
            cursor: format!("{}:{}", r.ts_ms, r.id),
        })
        .collect())
}

/// One point of a metrics chart: averages over a bucket.
#[derive(Debug, Clone, Serialize, FromQueryResult)]
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

/// Bucketed averages of a project's samples over `window_ms`, at most ~300
/// points (buckets of at least one second).
pub async fn metrics(
    db: &DatabaseConnection,
    project: i64,
    window_ms: i64,
) -> Result<Vec<MetricPoint>, StoreError> {
    let since = now_ms() - window_ms;
    // windows of a day or more read the five-minute rollups
    let stmt = if window_ms >= 86_400_000 {
        let bucket = (window_ms / 300).max(super::ROLLUP_MS);
        let bucket = bucket - bucket % super::ROLLUP_MS;
        sql(
            db.get_database_backend(),
            "SELECT (bucket_ms / $1) * $1 AS ts_ms, \
             SUM(cpu_sum) / SUM(samples) AS cpu_percent, \
             SUM(process_cpu_sum) / SUM(samples) AS process_cpu_percent, \
             SUM(process_memory_sum) / SUM(samples) AS process_memory_bytes, \
             SUM(memory_used_sum) / SUM(samples) AS memory_used_bytes, \
             SUM(memory_total_sum) / SUM(samples) AS memory_total_bytes, \
             CAST(SUM(samples) AS BIGINT) AS samples \
             FROM metric_rollups WHERE project_id = $2 AND bucket_ms >= $3 \
             GROUP BY 1 ORDER BY 1",
            [
                bucket.into(),
                project.into(),
                (since - since % super::ROLLUP_MS).into(),
            ],
        )
    } else {
        let bucket = (window_ms / 300).max(1000);
        sql(
            db.get_database_backend(),
            "SELECT (ts_ms / $1) * $1 AS ts_ms, \
             CAST(AVG(cpu_percent) AS DOUBLE PRECISION) AS cpu_percent, \
             CAST(AVG(process_cpu_percent) AS DOUBLE PRECISION) AS process_cpu_percent, \
             CAST(AVG(process_memory_bytes) AS DOUBLE PRECISION) AS process_memory_bytes, \
             CAST(AVG(memory_used_bytes) AS DOUBLE PRECISION) AS memory_used_bytes, \
             CAST(AVG(memory_total_bytes) AS DOUBLE PRECISION) AS memory_total_bytes, \
             COUNT(*) AS samples \
             FROM metric_samples WHERE project_id = $2 AND ts_ms >= $3 \
             GROUP BY 1 ORDER BY 1",
            [bucket.into(), project.into(), since.into()],
        )
    };
    Ok(MetricPoint::find_by_statement(stmt).all(db).await?)
}

/// Sets a group's state (`open`, `resolved`, `ignored`); false when no such group.
pub async fn set_group_state(
    db: &DatabaseConnection,
    project: i64,
    group: i64,
    state: &str,
) -> Result<bool, StoreError> {
    let result = db
        .execute_raw(sql(
            db.get_database_backend(),
            "UPDATE error_groups SET state = $3, regressed = CASE WHEN $3 = 'open' THEN regressed ELSE FALSE END \
             WHERE project_id = $1 AND id = $2",
            [project.into(), group.into(), state.into()],
        ))
        .await?;
    Ok(result.rows_affected() == 1)
}

/// One entry of the alarm history.
#[derive(Debug, Clone, FromQueryResult, Serialize)]
pub struct AlarmEventView {
    /// Row id.
    pub id: i64,
    /// Project name.
    pub project: String,
    /// Alarm name (`(deleted)` once deleted).
    pub alarm: String,
    /// Trigger.
    pub trigger: String,
    /// Message.
    pub message: String,
    /// When it happened (ms).
    pub created_ms: i64,
    /// `pending`, `sending`, `sent`, `failed`, `digested`, `summarized`.
    pub status: String,
    /// When it was sent (ms).
    pub sent_ms: Option<i64>,
    /// The delivery error.
    pub error: Option<String>,
    /// The server that claimed it last (`host:pid/…`).
    pub claimed_by: Option<String>,
    /// The server whose expired claim that one took over, if any.
    pub taken_over_from: Option<String>,
}

/// The alarm history, newest first, of one project and/or alarm (`""` for all).
pub async fn alarm_events(
    db: &DatabaseConnection,
    project: &str,
    alarm: &str,
    limit: i64,
) -> Result<Vec<AlarmEventView>, StoreError> {
    Ok(AlarmEventView::find_by_statement(sql(
        db.get_database_backend(),
        "SELECT e.id, p.name AS project, COALESCE(a.name, '(deleted)') AS alarm, e.\"trigger\", e.message, \
         e.created_ms, e.status, e.sent_ms, e.error, e.claimed_by, e.taken_over_from \
         FROM alarm_events e JOIN projects p ON p.id = e.project_id LEFT JOIN alarms a ON a.id = e.alarm_id \
         WHERE ($1 = '' OR p.name = $1) AND ($2 = '' OR a.name = $2) ORDER BY e.id DESC LIMIT $3",
        [project.into(), alarm.into(), limit.clamp(1, 1000).into()],
    ))
    .all(db)
    .await?)
}

/// A configured alarm with its connections.
#[derive(Debug, Clone, FromQueryResult)]
pub struct AlarmConnectionView {
    /// Alarm name.
    pub name: String,
    /// Kind.
    pub kind: String,
    /// Stored fields (JSON).
    pub fields: String,
    /// A connected project, if any.
    pub project: Option<String>,
    /// Its triggers (JSON array).
    pub triggers: Option<String>,
}

/// Every alarm, once per connected project (or once when it has none).
pub async fn alarm_connections(
    db: &DatabaseConnection,
) -> Result<Vec<AlarmConnectionView>, StoreError> {
    Ok(AlarmConnectionView::find_by_statement(sql(
        db.get_database_backend(),
        "SELECT a.name, a.kind, a.fields, p.name AS project, c.triggers FROM alarms a \
         LEFT JOIN alarm_connections c ON c.alarm_id = a.id LEFT JOIN projects p ON p.id = c.project_id \
         ORDER BY a.name, p.name",
        [],
    ))
    .all(db)
    .await?)
}
