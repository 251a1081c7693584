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
pub mod changes;
pub mod cli;
pub mod connections;
pub mod error;
pub mod hosts;
pub mod ingest;
pub mod markup;
pub mod names;
pub mod router;
pub mod store;
pub mod tasks;
pub mod telemetry;
pub mod web;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// How the server runs.
#[derive(Clone)]
pub struct Config {
    /// The sea-orm database URL (`sqlite://FILE?mode=rwc` or `postgres://…`).
    pub database_url: String,
    /// HTTP Basic credentials for the API and pages.
    pub auth: Option<(String, String)>,
    /// The key ingest must present (`Authorization: Bearer KEY`).
    pub ingest_key: Option<String>,
    /// How long metric samples are kept.
    pub retention: Duration,
    /// How long reports are kept (`None`: forever); the settings page may
    /// set another.
    pub report_retention: Option<Duration>,
    /// Reports a project keeps at most, its newest (`None`: no limit).
    pub max_reports_per_project: Option<u64>,
    /// How often report retention runs.
    pub prune_every: Duration,
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
    /// How long a server's claim on an alarm event lasts before another
    /// server (or this one, restarted) takes the event over; one message
    /// may take at most half of it.
    pub alarm_claim_lease: Duration,
    /// The address people and apps use (`--public-url`): its host is
    /// allowed in `Host`, and `https` makes cookies `Secure`.
    pub public_url: Option<url::Url>,
    /// More names allowed in `Host`, besides `localhost`, IP addresses and
    /// the public URL's host.
    pub allowed_hosts: Vec<String>,
    /// The directory `file` alarms may write in (none: no file alarms).
    pub alarm_dir: Option<std::path::PathBuf>,
    /// Whether alarms may reach loopback, private and link-local addresses.
    pub allow_private_targets: bool,
    /// Connections served at once; more are answered 503.
    pub max_connections: usize,
    /// Dashboard event streams (`GET /api/v1/events`) open at once, out of
    /// `max_connections` (at most three quarters of it, so ingest keeps the
    /// rest); more are answered 503.
    pub max_event_streams: usize,
    /// The time a client has to send a request head, and the longest an
    /// idle keep-alive connection or a websocket without its hello is kept.
    pub header_timeout: Duration,
    /// The least time a websocket may stay silent (it is at least three of
    /// its heartbeat intervals) before it is closed.
    pub websocket_idle_timeout: Duration,
    /// Behind a reverse proxy: the client is the right-most
    /// `X-Forwarded-For` address, not the TCP peer.
    pub trust_forwarded_for: bool,
    /// New projects one client may create per hour (also its burst).
    pub new_projects_per_hour: u32,
    /// New instances one client may introduce per hour (also its burst).
    pub new_instances_per_hour: u32,
    /// Whether the status badges (`/badge/{project}/…svg`) are readable
    /// without the login.
    pub public_badges: bool,
    /// The token Prometheus scrapers present for `GET /metrics`
    /// (`Authorization: Bearer …`); when set, `/metrics` needs it or the
    /// login.
    pub metrics_token: Option<String>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let masked = |set: bool| if set { Some(alarm::MASK) } else { None };
        f.debug_struct("Config")
            .field("database_url", &"…")
            .field(
                "auth",
                &self.auth.as_ref().map(|(user, _)| (user, alarm::MASK)),
            )
            .field("ingest_key", &masked(self.ingest_key.is_some()))
            .field("retention", &self.retention)
            .field("report_retention", &self.report_retention)
            .field("max_reports_per_project", &self.max_reports_per_project)
            .field("prune_every", &self.prune_every)
            .field("body_limit", &self.body_limit)
            .field("request_timeout", &self.request_timeout)
            .field("alarms", &self.alarms)
            .field("alarm_rate", &self.alarm_rate)
            .field("alarm_claim_lease", &self.alarm_claim_lease)
            .field(
                "public_url",
                &self.public_url.as_ref().map(url::Url::as_str),
            )
            .field("allowed_hosts", &self.allowed_hosts)
            .field("alarm_dir", &self.alarm_dir)
            .field("allow_private_targets", &self.allow_private_targets)
            .field("max_connections", &self.max_connections)
            .field("max_event_streams", &self.max_event_streams)
            .field("header_timeout", &self.header_timeout)
            .field("websocket_idle_timeout", &self.websocket_idle_timeout)
            .field("trust_forwarded_for", &self.trust_forwarded_for)
            .field("new_projects_per_hour", &self.new_projects_per_hour)
            .field("new_instances_per_hour", &self.new_instances_per_hour)
            .field("public_badges", &self.public_badges)
            .field("metrics_token", &masked(self.metrics_token.is_some()))
            .finish_non_exhaustive()
    }
}

impl Config {
    /// Defaults: no auth, 7 days of metrics, 30 days and at most 100,000
    /// reports per project (pruned every 10 s), 1 MiB bodies, a sweep a second,
    /// public alarm targets only, no file alarms, 16,384 connections, 15 s
    /// for a request head, websockets silent for 60 s closed.
    pub fn new(database_url: impl Into<String>) -> Self {
        Self {
            database_url: database_url.into(),
            auth: None,
            ingest_key: None,
            retention: Duration::from_secs(7 * 24 * 3600),
            report_retention: Some(Duration::from_secs(30 * 24 * 3600)),
            max_reports_per_project: Some(100_000),
            prune_every: Duration::from_secs(10),
            body_limit: 1024 * 1024,
            sweep_every: Duration::from_secs(1),
            request_timeout: Duration::from_secs(30),
            alarms: alarm::Registry::default(),
            alarm_rate: alarm::dispatch::RateLimit::default(),
            alarm_claim_lease: alarm::dispatch::DEFAULT_LEASE,
            public_url: None,
            allowed_hosts: Vec::new(),
            alarm_dir: None,
            allow_private_targets: false,
            max_connections: 16_384,
            max_event_streams: 4_096,
            header_timeout: Duration::from_secs(15),
            websocket_idle_timeout: Duration::from_secs(60),
            trust_forwarded_for: false,
            new_projects_per_hour: 60,
            new_instances_per_hour: 3_600,
            public_badges: false,
            metrics_token: None,
        }
    }

    /// Whether the public URL is `https` (cookies are then `Secure`).
    pub fn https(&self) -> bool {
        self.public_url
            .as_ref()
            .is_some_and(|u| u.scheme() == "https")
    }

    /// Links from alarm messages to the dashboard, under the public URL.
    pub fn links(&self) -> alarm::Links {
        alarm::Links::new(self.public_url.clone())
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

    /// Serves on `listener` until `shutdown` completes. Shutdown is graceful
    /// and bounded (about 4 s at most, whatever the database does): no new
    /// connection is accepted, requests in flight get 2 s to finish,
    /// websockets get a close frame (their apps reconnect to the next
    /// server; they are not marked offline), and what is queued for the
    /// database is written within 1.5 s more. Nothing acknowledged is lost;
    /// what was not acknowledged is sent again by the apps.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let Self { config, db } = self;
        let quota =
            ingest::quota::Quota::new(config.new_projects_per_hour, config.new_instances_per_hour);
        // who this process is to the others on the database: the holder of
        // its websockets (`instances.server_id`) and of its alarm claims
        let me = store::servers::new_id();
        // what changed, for the dashboard's live pages (on PostgreSQL also
        // told to, and heard from, the other servers)
        let changes = changes::Changes::new();
        let (writer, writer_task) =
            store::writer::Writer::spawn(db.clone(), quota, me.clone(), changes.clone());
        let outbound = alarm::Outbound::new(config.allow_private_targets, config.alarm_dir.clone());
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let beat = tokio::spawn(tasks::beat(db.clone(), me.clone(), stop_rx.clone()));
        let sweeper = tokio::spawn(tasks::sweeper(
            db.clone(),
            config.sweep_every,
            changes.clone(),
            stop_rx.clone(),
        ));
        let coalescer = tokio::spawn(changes::run(
            changes.clone(),
            db.clone(),
            me.clone(),
            stop_rx.clone(),
        ));
        let heard = tokio::spawn(changes::listen(
            changes.clone(),
            config.database_url.clone(),
            me.clone(),
            stop_rx.clone(),
        ));
        let retention = tokio::spawn(tasks::retention(
            db.clone(),
            config.retention,
            stop_rx.clone(),
        ));
        let prune = tokio::spawn(tasks::prune_reports(
            db.clone(),
            writer.clone(),
            store::retention::Policy {
                max_age_ms: config
                    .report_retention
                    .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
                max_per_project: config.max_reports_per_project,
            },
            config.prune_every,
            stop_rx.clone(),
        ));
        // the login sessions of open event streams, looked up now and then
        // (only with --auth: without it no stream has a session)
        let sessions = auth::watch::SessionWatch::default();
        let session_checks = config
            .auth
            .is_some()
            .then(|| tokio::spawn(sessions.clone().run(db.clone(), stop_rx.clone())));
        let alarms = tokio::spawn(alarm::dispatch::run(
            db.clone(),
            me,
            config.alarms.clone(),
            outbound.clone(),
            alarm::dispatch::Delivery {
                rate: config.alarm_rate,
                lease: config.alarm_claim_lease,
                links: config.links(),
            },
            Duration::from_millis(500),
            changes.clone(),
            stop_rx,
        ));
        let limits = connections::Limits {
            max_connections: config.max_connections,
            header_timeout: config.header_timeout,
        };
        let drain = config.request_timeout.min(SHUTDOWN_DRAIN);
        let (closing_tx, closing_rx) = tokio::sync::watch::channel(false);
        let live_sockets = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        // tabs never take more than three quarters of the connections
        let room = config.max_connections.saturating_mul(3) / 4;
        if config.max_event_streams > room {
            tracing::warn!(
                asked = config.max_event_streams,
                allowed = room,
                "--max-event-streams is over three quarters of --max-connections: capped"
            );
        }
        let streams = Arc::new(tokio::sync::Semaphore::new(
            config
                .max_event_streams
                .min(room)
                .min(tokio::sync::Semaphore::MAX_PERMITS),
        ));
        let state = router::AppState {
            shutdown: closing_rx,
            live_sockets: Arc::clone(&live_sockets),
            hosts: Arc::new(hosts::Allowed::new(&config)),
            config: Arc::new(config),
            db: db.clone(),
            writer: writer.clone(),
            outbound,
            throttle: Arc::new(auth::throttle::Throttle::default()),
            streams,
            views: Arc::default(),
            changes,
            sessions: sessions.clone(),
        };
        let app = router::router(state);
        let signal = async move {
            shutdown.await;
            let _ = closing_tx.send(true);
        };
        let served = connections::serve(listener, app, limits, signal, drain)
            .await
            .map_err(ServerError::Serve);
        // the sweeper stops first: a stopping server marks no app offline
        let _ = stop_tx.send(true);
        let tasks_done = tokio::time::Instant::now() + TASKS_GRACE;
        // websockets end (their close frames are sent) before the writer
        // stops, so nothing they submit while ending is refused
        let sockets_done = tokio::time::Instant::now() + SOCKETS_GRACE;
        while live_sockets.load(std::sync::atomic::Ordering::Relaxed) > 0
            && tokio::time::Instant::now() < sockets_done
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // what is queued is written, within the deadline; whatever still
        // holds a handle is refused from now on and its app sends again
        let deadline = tokio::time::Instant::now() + WRITER_DRAIN;
        writer.close(deadline).await;
        // the writer gives up at the deadline itself; a moment for rollback
        let _ = tokio::time::timeout_at(deadline + Duration::from_millis(300), writer_task).await;
        // the dispatcher finishes the message it is sending (bounded by its
        // timeout) and gives back what it claimed, within the same 2.5 s
        // counted from the stop (the websockets and the writer took most)
        if tokio::time::timeout_at(tasks_done, alarms).await.is_err() {
            tracing::warn!(
                "the alarm dispatcher did not stop in time; its claims expire after the lease"
            );
        }
        for task in [sweeper, retention, prune, beat, coalescer, heard]
            .into_iter()
            .chain(session_checks)
        {
            if tokio::time::timeout(Duration::from_millis(300), task)
                .await
                .is_err()
            {
                tracing::warn!("a background task did not stop in time");
            }
        }
        let _ = tokio::time::timeout(Duration::from_millis(500), db.close()).await;
        served
    }
}

/// The longest the server waits for requests in flight when it stops.
const SHUTDOWN_DRAIN: Duration = Duration::from_secs(2);
/// The longest the background tasks get to stop, counted from the stop
/// signal (the alarm dispatcher may be finishing a message).
const TASKS_GRACE: Duration = Duration::from_millis(2500);
/// The longest it waits for its websockets to end.
const SOCKETS_GRACE: Duration = Duration::from_millis(500);
/// The longest it takes to write what is queued: a stop takes at most about
/// 2 + 0.5 + 1.5 s, whatever the database does.
const WRITER_DRAIN: Duration = Duration::from_millis(1500);

/// [`Server::open`] then [`Server::serve`].
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    Server::open(config).await?.serve(listener, shutdown).await
}
