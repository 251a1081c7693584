//! The LoggerFlow server: ingest, storage, lifecycle and the JSON API.
//!
//! It is a library with a thin binary (`loggerflow`), so tests and your own
//! binaries can start it on any listener:
//!
//! ```no_run
//! # async fn run() -> Result<(), loggerflow_server::ServerError> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(loggerflow_server::ServerError::Bind)?;
//! let config = loggerflow_server::Config::new("sqlite://loggerflow.db?mode=rwc");
//! loggerflow_server::serve(listener, config, std::future::pending()).await
//! # }
//! ```
//!
//! What happens to one report: a handler in [`ingest`] decodes it and hands
//! it to the [`store::writer::Writer`], which groups it
//! ([`store::fingerprint`]) and commits it with whatever else is waiting,
//! then the handler acknowledges it. The [`tasks`] sweeper marks instances
//! offline when their heartbeats stop, and prunes old metric samples.

pub mod alarm;
pub mod api;
pub mod auth;
pub mod cli;
pub mod error;
pub mod ingest;
pub mod router;
pub mod store;
pub mod tasks;
pub mod web;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// How the server runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// The sea-orm database URL (`sqlite://FILE?mode=rwc` or `postgres://…`).
    pub database_url: String,
    /// HTTP Basic credentials for the API and pages.
    pub auth: Option<(String, String)>,
    /// The key ingest must present (`Authorization: Bearer KEY`).
    pub ingest_key: Option<String>,
    /// How long metric samples are kept.
    pub retention: Duration,
    /// The largest request body or websocket message accepted.
    pub body_limit: usize,
    /// How often the status sweeper runs.
    pub sweep_every: Duration,
    /// The longest a request may take, body included (a client that
    /// trickles its body is cut off with 408).
    pub request_timeout: Duration,
    /// The alarm kinds (built-in ones, plus yours with [`Config::alarm`]).
    pub alarms: alarm::Registry,
    /// Alarm messages per alarm and project per window.
    pub alarm_rate: alarm::dispatch::RateLimit,
}

impl Config {
    /// Defaults: no auth, 7 days of metrics, 1 MiB bodies, a sweep a second.
    pub fn new(database_url: impl Into<String>) -> Self {
        Self {
            database_url: database_url.into(),
            auth: None,
            ingest_key: None,
            retention: Duration::from_secs(7 * 24 * 3600),
            body_limit: 1024 * 1024,
            sweep_every: Duration::from_secs(1),
            request_timeout: Duration::from_secs(30),
            alarms: alarm::Registry::default(),
            alarm_rate: alarm::dispatch::RateLimit::default(),
        }
    }

    /// Registers a custom alarm kind (the model's `--custom-alarm`).
    #[must_use]
    pub fn alarm<A: alarm::Alarm>(mut self) -> Self {
        self.alarms = self.alarms.with::<A>();
        self
    }
}

/// Why the server could not start or stopped.
#[derive(Debug)]
pub enum ServerError {
    /// The listener could not be bound.
    Bind(std::io::Error),
    /// The database could not be opened or migrated.
    Store(store::StoreError),
    /// Serving failed.
    Serve(std::io::Error),
}

impl std::fmt::Display for ServerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServerError::Bind(e) => write!(f, "cannot listen: {e}"),
            ServerError::Store(e) => write!(f, "{e}"),
            ServerError::Serve(e) => write!(f, "server error: {e}"),
        }
    }
}

impl std::error::Error for ServerError {}

/// Builds the `loggerflow` command line with custom alarm kinds.
#[derive(Debug, Default)]
pub struct Builder {
    alarms: alarm::Registry,
}

impl Builder {
    /// Adds an alarm kind (the model's `--custom-alarm`).
    #[must_use]
    pub fn alarm<A: alarm::Alarm>(mut self) -> Self {
        self.alarms = self.alarms.with::<A>();
        self
    }

    /// Parses the command line (`run --host … --port …`) and runs it.
    pub fn run(self) -> std::process::ExitCode {
        cli::main(self.alarms)
    }
}

/// A server whose database is open and migrated, ready to serve.
pub struct Server {
    config: Config,
    db: sea_orm::DatabaseConnection,
}

impl Server {
    /// The command line, to add custom alarms before running it.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// Opens (and migrates) the database of `config`.
    pub async fn open(config: Config) -> Result<Self, ServerError> {
        let db = store::connect(&config.database_url)
            .await
            .map_err(ServerError::Store)?;
        Ok(Self { config, db })
    }

    /// Serves on `listener` until `shutdown` completes. Shutdown is graceful:
    /// requests in flight finish and everything queued for the database is
    /// written before this returns.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let Self { config, db } = self;
        let (writer, writer_task) = store::writer::Writer::spawn(db.clone());
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let sweeper = tokio::spawn(tasks::sweeper(
            db.clone(),
            config.sweep_every,
            stop_rx.clone(),
        ));
        let retention = tokio::spawn(tasks::retention(
            db.clone(),
            config.retention,
            stop_rx.clone(),
        ));
        let alarms = tokio::spawn(alarm::dispatch::run(
            db.clone(),
            config.alarms.clone(),
            config.alarm_rate,
            Duration::from_millis(500),
            stop_rx,
        ));
        let state = router::AppState {
            config: Arc::new(config),
            db: db.clone(),
            writer,
        };
        let app = router::router(state);
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(ServerError::Serve);
        // the router (and every Writer clone in it) is gone: the writer drains and ends
        let _ = stop_tx.send(true);
        let _ = writer_task.await;
        let _ = sweeper.await;
        let _ = retention.await;
        let _ = alarms.await;
        db.close().await.ok();
        served
    }
}

/// [`Server::open`] then [`Server::serve`].
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    Server::open(config).await?.serve(listener, shutdown).await
}
