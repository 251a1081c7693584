//! `instances`: one row per running (or once running) app process.

use sea_orm::entity::prelude::*;

/// An app instance: one process of a project, with its status and last readings.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "instances")]
pub struct Model {
    /// The instance id the client made (a UUID).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// The project.
    pub project_id: i64,
    /// Host name.
    pub host: String,
    /// Process id.
    pub pid: i64,
    /// Client library and version.
    pub client_version: String,
    /// `webhook`, `websocket`, or `python-webhook` / `python-websocket`.
    pub transport: String,
    /// Seconds between heartbeats.
    pub heartbeat_s: i32,
    /// `online`, `offline` or `stopped`.
    pub status: String,
    /// When the instance said hello (first time).
    pub started_ms: i64,
    /// Last message of any kind.
    pub last_seen_ms: i64,
    /// When `status` last changed.
    pub status_since_ms: i64,
    /// Last host CPU %, if any heartbeat carried it.
    pub cpu_percent: Option<f64>,
    /// Last process CPU %.
    pub process_cpu_percent: Option<f64>,
    /// Last process memory.
    pub process_memory_bytes: Option<i64>,
    /// Last host memory used.
    pub memory_used_bytes: Option<i64>,
    /// Host memory total.
    pub memory_total_bytes: Option<i64>,
    /// The live websocket connection of the instance (its generation);
    /// a connection that closes while another is live changes nothing.
    pub connection: Option<String>,
    /// The server holding the live websocket connection (`servers.id`).
    pub server_id: Option<String>,
    /// The address the live connection came from.
    pub client_addr: Option<String>,
    /// The Python websocket instance this one replaced (paired after its
    /// server died), once paired.
    pub resumed_from: Option<String>,
    /// The release it runs (its hello), if it names one.
    pub release: Option<String>,
    /// The environment it runs in (its hello; none from older clients).
    pub environment: Option<String>,
    /// Where else its app sends reports (`, `-separated backend or sink
    /// names, as its hello said; empty: none named).
    pub backends: String,
    /// The people its app's backends mention (`, `-separated, as a Python
    /// app's handshake said).
    pub authors: String,
}

/// No relations are declared; queries join by id.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
