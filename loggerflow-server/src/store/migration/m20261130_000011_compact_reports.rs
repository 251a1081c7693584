//! The `reports` table laid out for speed: the id as 16 bytes (BLOB on
//! SQLite, `uuid` on PostgreSQL), the report compressed (`body`, zstd: `store::payload`), and
//! only the columns the pages read (level, kind and title are in the report,
//! and a group has its own title). The existing reports are copied over,
//! compressed, in multi-row INSERTs of 500: the upgrade needs room for both
//! tables at once, and SQLite keeps the freed pages in its file (reused by
//! new reports; `VACUUM` gives them back to the disk).
// `async_trait` expands `&SchemaManager` with a hidden lifetime
#![allow(elided_lifetimes_in_paths)]

use sea_orm::{ConnectionTrait, DbBackend, Statement, Value};
use sea_orm_migration::prelude::*;

/// Rebuilds `reports` as `id` (16 bytes), `project_id`, `group_id`,
/// `instance_id`, `ts_ms`, `body` (zstd JSON).
#[derive(DeriveMigrationName)]
pub struct Migration;

/// Rows copied per statement.
const CHUNK: i64 = 500;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        let backend = db.get_database_backend();
        db.execute_unprepared(match backend {
            DbBackend::Postgres => {
                "CREATE TABLE reports_new (id UUID PRIMARY KEY, project_id BIGINT NOT NULL, \
                 group_id BIGINT NOT NULL, instance_id TEXT, ts_ms BIGINT NOT NULL, body BYTEA NOT NULL)"
            }
            // a rowid table (and its key index): `WITHOUT ROWID` was larger
            // on disk for ~700 B bodies, and 3× larger for bodies of 4 KB or
            // more, which it moves to overflow pages (measured on 100,000 rows)
            _ => {
                "CREATE TABLE reports_new (id BLOB NOT NULL PRIMARY KEY, project_id INTEGER NOT NULL, \
                 group_id INTEGER NOT NULL, instance_id TEXT, ts_ms INTEGER NOT NULL, body BLOB NOT NULL)"
            }
        })
        .await?;
        let select = match backend {
            DbBackend::Postgres => {
                "SELECT id, project_id, group_id, instance_id, ts_ms, payload FROM reports \
                 WHERE id > $1 ORDER BY id LIMIT $2"
            }
            _ => {
                "SELECT id, project_id, group_id, instance_id, ts_ms, payload FROM reports \
                 WHERE id > ? ORDER BY id LIMIT ?"
            }
        };
        let mut after = String::new();
        loop {
            let rows = db
                .query_all_raw(Statement::from_sql_and_values(
                    backend,
                    select,
                    [after.clone().into(), CHUNK.into()],
                ))
                .await?;
            let Some(last) = rows.last() else { break };
            after = last.try_get("", "id")?;
            let mut values: Vec<Value> = Vec::with_capacity(rows.len() * 6);
            for row in &rows {
                let id: String = row.try_get("", "id")?;
                // an id that is not a UUID was never one of ours: skipped
                let Ok(uuid) = uuid::Uuid::parse_str(&id) else {
                    continue;
                };
                let payload: Option<String> = row.try_get("", "payload")?;
                let body = zstd::bulk::compress(payload.unwrap_or_default().as_bytes(), 1)
                    .map_err(|e| DbErr::Migration(format!("compress report {id}: {e}")))?;
                values.extend([
                    uuid.into(),
                    row.try_get::<i64>("", "project_id")?.into(),
                    row.try_get::<i64>("", "group_id")?.into(),
                    row.try_get::<Option<String>>("", "instance_id")?.into(),
                    row.try_get::<i64>("", "ts_ms")?.into(),
                    body.into(),
                ]);
            }
            if values.is_empty() {
                continue;
            }
            let placeholders: Vec<String> = (0..values.len() / 6)
                .map(|r| match backend {
                    DbBackend::Postgres => {
                        let n = r * 6;
                        format!(
                            "(${}, ${}, ${}, ${}, ${}, ${})",
                            n + 1,
                            n + 2,
                            n + 3,
                            n + 4,
                            n + 5,
                            n + 6
                        )
                    }
                    _ => "(?, ?, ?, ?, ?, ?)".to_owned(),
                })
                .collect();
            db.execute_raw(Statement::from_sql_and_values(
                backend,
                format!(
                    "INSERT INTO reports_new (id, project_id, group_id, instance_id, ts_ms, body) \
                     VALUES {} ON CONFLICT (id) DO NOTHING",
                    placeholders.join(", ")
                ),
                values,
            ))
            .await?;
        }
        db.execute_unprepared("DROP TABLE reports").await?;
        db.execute_unprepared("ALTER TABLE reports_new RENAME TO reports")
            .await?;
        if backend == DbBackend::Postgres {
            // the key's index keeps the table's first name otherwise
            db.execute_unprepared("ALTER INDEX reports_new_pkey RENAME TO reports_pkey")
                .await?;
        }
        // the pages read a project's reports by time, a group's by time
        for (name, column) in [
            ("ix_reports_project_ts", "project_id"),
            ("ix_reports_group_ts", "group_id"),
        ] {
            db.execute_unprepared(&format!("CREATE INDEX {name} ON reports ({column}, ts_ms)"))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, _m: &SchemaManager) -> Result<(), DbErr> {
        Err(DbErr::Migration(
            "reports cannot be laid out as text again: restore a backup".into(),
        ))
    }
}
