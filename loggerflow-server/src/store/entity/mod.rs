//! The tables, one entity per file (the schema the queries are written
//! against; `store::migration` makes it). Times are Unix milliseconds
//! (`*_ms`), which sort, compare and bucket the same way on SQLite and
//! PostgreSQL.

pub mod alarm;
pub mod alarm_connection;
pub mod alarm_event;
pub mod error_group;
pub mod group_release;
pub mod instance;
pub mod metric_rollup;
pub mod metric_sample;
pub mod prelude;
pub mod project;
pub mod release;
pub mod report;
pub mod server;
pub mod session;
pub mod setting;
