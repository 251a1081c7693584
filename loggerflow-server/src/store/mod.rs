//! Storage: sea-orm over SQLite (a file, by default) or PostgreSQL.
//!
//! Ingest writes go through one [`writer::Writer`] task that batches them
//! into transactions. Every other statement is a named function of the
//! module of its aggregate, written with sea-orm / sea-query against the
//! [`entity`] of its table: [`projects`], [`instances`], [`groups`] (and
//! their reports), [`metrics`], [`alarms`], [`alarm_events`] (the outbox),
//! [`sessions`], [`settings`], [`servers`]. Nothing outside `store` builds
//! SQL, and `store` imports no module above it.

pub mod alarm_events;
pub mod alarms;
pub mod entity;
pub mod fingerprint;
pub mod groups;
pub mod instances;
pub mod metrics;
pub mod migration;
pub mod payload;
pub mod projects;
pub mod releases;
pub mod retention;
pub mod servers;
pub mod sessions;
pub mod settings;
pub mod writer;

pub use metrics::{ROLLUP_BACKFILL, ROLLUP_MS};

use std::time::Duration;

use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, Statement,
};
use sea_orm_migration::MigratorTrait;

/// Why the store cannot answer.
#[derive(Debug)]
pub enum StoreError {
    /// The database cannot be reached, is busy, or cannot take writes (a
    /// full disk, a read-only file or filesystem): try again later (HTTP 503).
    Unavailable(String),
    /// Anything else (a bug, a schema problem).
    Other(String),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Unavailable(m) => write!(f, "the database is unavailable: {m}"),
            StoreError::Other(m) => write!(f, "database error: {m}"),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<DbErr> for StoreError {
    fn from(error: DbErr) -> Self {
        match &error {
            DbErr::Conn(_) | DbErr::ConnectionAcquire(_) => {
                StoreError::Unavailable(error.to_string())
            }
            DbErr::Exec(e) | DbErr::Query(e) if is_connection_error(&e.to_string()) => {
                StoreError::Unavailable(error.to_string())
            }
            _ => StoreError::Other(error.to_string()),
        }
    }
}

/// Whether an error says the database cannot answer now but may later: it
/// cannot be reached or is busy, or it cannot take writes because its disk
/// is full or it is read-only (the write rolls back whole; it succeeds again
/// once space returns or the file is writable, with no restart).
fn is_connection_error(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    [
        "connection",
        "database is locked",
        "broken pipe",
        "timed out",
        "pool",
        // SQLite: SQLITE_FULL, SQLITE_READONLY, SQLITE_IOERR, SQLITE_CANTOPEN
        "database or disk is full",
        "readonly database",
        "disk i/o error",
        "unable to open database file",
        // PostgreSQL: disk_full (53100), read_only_sql_transaction (25006),
        // a server in recovery or shutting down (57P03)
        "no space left on device",
        "could not extend file",
        "read-only transaction",
        "the database system is",
        // two transactions that waited on each other: one was rolled back
        // whole, and goes through when sent again (40P01, 40001)
        "deadlock detected",
        "could not serialize access",
    ]
    .iter()
    .any(|needle| m.contains(needle))
}

/// The database URL used when none is given: `loggerflow.db` in the working
/// directory, created on first start.
pub const DEFAULT_DATABASE: &str = "sqlite://loggerflow.db?mode=rwc";

/// Connects to `url` (`sqlite://…` or `postgres://…`) and brings its schema
/// up to date.
pub async fn connect(url: &str) -> Result<DatabaseConnection, StoreError> {
    let scheme = url.split(':').next().unwrap_or_default();
    if !matches!(scheme, "sqlite" | "postgres" | "postgresql") {
        return Err(StoreError::Other(format!(
            "unsupported database URL `{}`: use sqlite://FILE or postgres://USER@HOST/DB",
            redact(url)
        )));
    }
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(if scheme == "sqlite" { 4 } else { 10 })
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        .connect_timeout(Duration::from_secs(5))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|o| {
            // 16 KiB pages (set when the file is created): a ~2.5 KB report
            // fills most of a 4 KiB page, and fewer, larger pages roughly
            // double the insert rate (BUILD-FACTS)
            o.page_size(16_384)
                .journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                // a checkpoint runs inside the commit that crosses this many
                // WAL pages and holds the one writer: 256 × 16 KiB = 4 MB makes
                // them short (ack p99 at half load 33 → 18 ms; BENCHMARKS.md)
                .pragma("wal_autocheckpoint", "256")
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(5))
        })
        // a pooled connection is handed out only outside any transaction:
        // see `outside_transactions`
        .map_sqlx_sqlite_before_acquire(|conn, _| {
            Box::pin(async move { Ok(outside_transactions::<sea_orm::sqlx::Sqlite>(conn)) })
        })
        .map_sqlx_postgres_before_acquire(|conn, _| {
            Box::pin(async move { Ok(outside_transactions::<sea_orm::sqlx::Postgres>(conn)) })
        });
    let db = Database::connect(options)
        .await
        .map_err(|e| StoreError::Unavailable(format!("cannot connect to {}: {e}", redact(url))))?;
    migrate(&db)
        .await
        .map_err(|e| StoreError::Other(format!("cannot migrate {}: {e}", redact(url))))?;
    Ok(db)
}

/// Whether a pooled connection is outside any transaction, as sqlx counts
/// them (else the pool closes it and hands out another).
///
/// sqlx counts a connection's open transactions and lowers the count only
/// when its `COMMIT` / `ROLLBACK` succeeds. On a full disk SQLite rolls a
/// failed commit back by itself, so the rollback after it fails and the
/// connection comes back to the pool counting 1 transaction. sea-orm begins
/// the next write there as a `SAVEPOINT`; when that one's commit failed too,
/// the `ROLLBACK TO` after it succeeded and left a real transaction open
/// under the count. The writes after that were `SAVEPOINT`s inside it, their
/// "commits" `RELEASE`s that committed nothing: the writer acknowledged
/// batches that a later rollback threw away (4,500 reports in one run of
/// `tests/disk_full.rs` under load).
fn outside_transactions<DB: sea_orm::sqlx::Database>(conn: &mut DB::Connection) -> bool {
    use sqlx_core::transaction::TransactionManager as _;
    DB::TransactionManager::get_transaction_depth(conn) == 0
}

/// The PostgreSQL advisory lock key the migrations run under ("LFMIGRAT").
const MIGRATION_LOCK: i64 = 0x4C46_4D49_4752_4154;

/// Brings the schema up to date. On PostgreSQL several servers may start
/// together on one database: the migrations run in one transaction under an
/// advisory lock, so the others wait for it and then find nothing to do
/// (without it, the second one's `CREATE TABLE` failed halfway).
async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    use sea_orm::TransactionTrait;
    if db.get_database_backend() != DbBackend::Postgres {
        return migration::Migrator::up(db, None).await;
    }
    let txn = db.begin().await?;
    txn.execute_raw(sql(
        DbBackend::Postgres,
        "SELECT pg_advisory_xact_lock($1)",
        [MIGRATION_LOCK.into()],
    ))
    .await?;
    migration::Migrator::up(&txn, None).await?;
    txn.commit().await
}

/// A URL without its password.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// A raw statement with `$n` placeholders (they work on both backends).
/// Only the writer's report path uses it (the multi-row INSERT, whose
/// placeholders were measured, BENCHMARKS.md "Storage"; the group upserts
/// and updates around it, kept as written, not measured against sea-query),
/// and PostgreSQL's advisory locks (migrations, count pruning); every other
/// statement is built with sea-query.
pub(crate) fn sql(
    backend: DbBackend,
    sql: &str,
    values: impl IntoIterator<Item = sea_orm::Value>,
) -> Statement {
    Statement::from_sql_and_values(backend, sql, values)
}

/// Starts a write transaction. On SQLite it is `BEGIN IMMEDIATE`: a deferred
/// transaction that reads first cannot wait for another writer later (SQLite
/// answers "busy" at once), an immediate one waits within the busy timeout.
pub(crate) async fn begin_write(
    db: &DatabaseConnection,
) -> Result<sea_orm::DatabaseTransaction, DbErr> {
    use sea_orm::{SqliteTransactionMode, TransactionOptions, TransactionTrait};
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..TransactionOptions::default()
    })
    .await
}

/// Now, in Unix milliseconds.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pooled SQLite connection left inside a transaction (what a failed
    /// rollback on a full disk leaves) is not handed out again: a write
    /// "committed" there would commit nothing (`outside_transactions`).
    #[tokio::test]
    async fn a_connection_left_inside_a_transaction_is_not_handed_out() {
        use sqlx_core::transaction::TransactionManager as _;
        let dir = tempfile::tempdir().expect("a directory");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let db = connect(&url).await.expect("connect");
        // every connection the pool may hold (4), each left inside a counted
        // transaction
        let mut held = Vec::new();
        for _ in 0..4 {
            let mut conn = db
                .get_sqlite_connection_pool()
                .acquire()
                .await
                .expect("a connection");
            <sea_orm::sqlx::Sqlite as sea_orm::sqlx::Database>::TransactionManager::begin(
                &mut conn, None,
            )
            .await
            .expect("begin");
            held.push(conn);
        }
        drop(held);
        let txn = begin_write(&db).await.expect("begin the write");
        txn.execute_unprepared("INSERT INTO settings (key, value) VALUES ('probe', '1')")
            .await
            .expect("write");
        txn.commit().await.expect("commit");
        // another pool of its own sees the write
        let other = Database::connect(url.as_str())
            .await
            .expect("connect again");
        let seen = other
            .query_one_raw(sea_orm::Statement::from_string(
                DbBackend::Sqlite,
                "SELECT value FROM settings WHERE key = 'probe'",
            ))
            .await
            .expect("read");
        assert!(seen.is_some(), "the acknowledged write was committed");
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("sqlite://x.db"), "sqlite://x.db");
    }
}
