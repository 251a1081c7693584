//! The tables, one entity per file. Times are Unix milliseconds (`*_ms`),
//! which sort, compare and bucket the same way on SQLite and PostgreSQL.

pub mod error_group;
pub mod instance;
pub mod metric_sample;
pub mod project;
pub mod report;
