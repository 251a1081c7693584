//! The `loggerflow` command line, as a library: the `loggerflow` binary is
//! `Server::builder().run()`, and your own binary adds custom alarms with
//! `Server::builder().alarm::<MyAlarm>().run()`.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

/// LoggerFlow: error tracking and lifecycle monitoring for Rust services.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server: ingest, storage, lifecycle and the API.
    Run(RunArgs),
}

/// `--help` never shows what an environment variable holds
/// (`hide_env_values` on every argument), and errors about values that can
/// hold a secret (`--auth`, `--public-url`) never repeat them.
#[derive(clap::Args)]
struct RunArgs {
    /// Address to listen on.
    #[arg(
        short = 'u',
        long,
        env = "LOGGERFLOW_HOST",
        default_value = "127.0.0.1",
        hide_env_values = true
    )]
    host: String,
    /// Port to listen on (0 picks a free one).
    #[arg(
        short = 'p',
        long,
        env = "LOGGERFLOW_PORT",
        default_value_t = 8000,
        hide_env_values = true
    )]
    port: u16,
    /// Database URL: sqlite://FILE?mode=rwc or postgres://USER[:PASSWORD]@HOST[:PORT]/DB.
    #[arg(short = 'd', long, env = "LOGGERFLOW_DATABASE", hide_env_values = true, default_value = crate::store::DEFAULT_DATABASE)]
    database: String,
    /// Credentials for the API and dashboard, as login:password (HTTP Basic).
    #[arg(short = 'a', long, env = "LOGGERFLOW_AUTH", hide_env_values = true)]
    auth: Option<String>,
    /// Listen on a non-loopback --host without --auth (anyone who reaches the port can read and change everything).
    #[arg(long, env = "LOGGERFLOW_ALLOW_UNAUTHENTICATED", hide_env_values = true)]
    allow_unauthenticated: bool,
    /// The address people and apps use, e.g. https://lf.example.com: its host is accepted in Host, https makes cookies Secure.
    #[arg(long, env = "LOGGERFLOW_PUBLIC_URL", hide_env_values = true)]
    public_url: Option<String>,
    /// Disable the request and event log in the terminal.
    #[arg(long, env = "LOGGERFLOW_DISABLE_LOG", hide_env_values = true)]
    disable_log: bool,
    /// Refuse ingest without this key (`Authorization: Bearer KEY`, or /loggerflow/k/KEY/ for Python clients).
    #[arg(long, env = "LOGGERFLOW_INGEST_KEY", hide_env_values = true)]
    ingest_key: Option<String>,
    /// The directory `file` alarms may write in (without it, file alarms are refused).
    #[arg(long, env = "LOGGERFLOW_ALARM_DIR", hide_env_values = true)]
    alarm_dir: Option<std::path::PathBuf>,
    /// Let alarms reach loopback, private, link-local and metadata addresses.
    #[arg(long, env = "LOGGERFLOW_ALLOW_PRIVATE_TARGETS", hide_env_values = true)]
    allow_private_targets: bool,
    /// Connections served at once; more are answered 503.
    #[arg(
        long,
        env = "LOGGERFLOW_MAX_CONNECTIONS",
        default_value_t = 16_384,
        hide_env_values = true
    )]
    max_connections: usize,
    /// Dashboard tabs' event streams open at once (part of --max-connections); more are answered 503 and the tab tries again later.
    #[arg(
        long,
        env = "LOGGERFLOW_MAX_EVENT_STREAMS",
        default_value_t = 4_096,
        hide_env_values = true
    )]
    max_event_streams: usize,
    /// Seconds a client has to send a request head (also the idle keep-alive limit and a websocket's time to say hello).
    #[arg(
        long,
        env = "LOGGERFLOW_HEADER_TIMEOUT",
        default_value_t = 15,
        hide_env_values = true
    )]
    header_timeout: u64,
    /// Seconds a websocket may stay silent (at least three of its heartbeat intervals) before it is closed.
    #[arg(
        long,
        env = "LOGGERFLOW_WEBSOCKET_IDLE_TIMEOUT",
        default_value_t = 60,
        hide_env_values = true
    )]
    websocket_idle_timeout: u64,
    /// Behind a reverse proxy: take the client's address from the last X-Forwarded-For entry.
    #[arg(long, env = "LOGGERFLOW_TRUST_FORWARDED_FOR", hide_env_values = true)]
    trust_forwarded_for: bool,
    /// New projects one client may create per hour (0: no limit).
    #[arg(
        long,
        env = "LOGGERFLOW_MAX_NEW_PROJECTS_PER_HOUR",
        default_value_t = 60,
        hide_env_values = true
    )]
    max_new_projects_per_hour: u32,
    /// New app instances one client may introduce per hour (0: no limit).
    #[arg(
        long,
        env = "LOGGERFLOW_MAX_NEW_INSTANCES_PER_HOUR",
        default_value_t = 3_600,
        hide_env_values = true
    )]
    max_new_instances_per_hour: u32,
    /// Serve the status badges (`/badge/{project}/status.svg`, `errors.svg`)
    /// without the login, for READMEs and status pages; they name the
    /// project's status and its errors of the last 24 h.
    #[arg(long, env = "LOGGERFLOW_PUBLIC_BADGES", hide_env_values = true)]
    public_badges: bool,
    /// A token for Prometheus scrapers: `GET /metrics` with
    /// `Authorization: Bearer TOKEN` (at least 16 characters) answers without
    /// the login; with it set, `/metrics` needs the token or the login.
    #[arg(long, env = "LOGGERFLOW_METRICS_TOKEN", hide_env_values = true)]
    metrics_token: Option<String>,
    /// Alarm messages per alarm and project, as COUNT/SECONDS (default 5/600); the rest become a digest.
    #[arg(long, env = "LOGGERFLOW_ALARM_RATE", value_parser = parse_rate, hide_env_values = true)]
    alarm_rate: Option<(i64, Duration)>,
    /// Seconds a server's claim on an alarm event lasts; an event still unsent after that (its server died) is sent by another server. The same on every server of a database; one message may take half of it (at most 15 s).
    #[arg(
        long,
        env = "LOGGERFLOW_ALARM_CLAIM_LEASE",
        default_value_t = 60,
        value_parser = clap::value_parser!(u64).range(2..=3600),
        hide_env_values = true
    )]
    alarm_claim_lease: u64,
    /// The largest request body or websocket message, in bytes (reports are
    /// at most 256 KiB each, so below that some are refused as too large).
    #[arg(long, env = "LOGGERFLOW_BODY_LIMIT", default_value_t = 1024 * 1024, hide_env_values = true)]
    body_limit: usize,
    /// Seconds a request may take, body included; slower clients get 408.
    #[arg(
        long,
        env = "LOGGERFLOW_REQUEST_TIMEOUT",
        default_value_t = 30,
        hide_env_values = true
    )]
    request_timeout: u64,
    /// Days of metric samples to keep.
    #[arg(
        long,
        env = "LOGGERFLOW_RETENTION_DAYS",
        default_value_t = 7,
        hide_env_values = true
    )]
    retention_days: u32,
    /// Days of reports to keep (0: forever); the settings page may set
    /// another. Every error keeps its first report and its true count.
    #[arg(
        long,
        env = "LOGGERFLOW_REPORT_RETENTION_DAYS",
        default_value_t = 30,
        value_parser = clap::value_parser!(u32).range(0..=3660),
        hide_env_values = true
    )]
    report_retention_days: u32,
    /// Reports a project keeps at most, its newest (0: no limit); a project
    /// over it is pruned back within a minute.
    #[arg(
        long,
        env = "LOGGERFLOW_MAX_REPORTS_PER_PROJECT",
        default_value_t = 100_000,
        hide_env_values = true
    )]
    max_reports_per_project: u64,
    /// Seconds between two report retention passes.
    #[arg(
        long,
        env = "LOGGERFLOW_PRUNE_EVERY",
        default_value_t = 10,
        value_parser = clap::value_parser!(u64).range(1..=3600),
        hide_env_values = true
    )]
    prune_every: u64,
}

fn parse_rate(value: &str) -> Result<(i64, Duration), String> {
    let (count, seconds) = value
        .split_once('/')
        .ok_or("expected COUNT/SECONDS, e.g. 5/600")?;
    let count: i64 = count.trim().parse().map_err(|_| "COUNT must be a number")?;
    let seconds: u64 = seconds
        .trim()
        .parse()
        .map_err(|_| "SECONDS must be a number")?;
    if count < 1 || seconds < 1 {
        return Err("COUNT and SECONDS must be at least 1".into());
    }
    Ok((count, Duration::from_secs(seconds)))
}

/// Ctrl-C (SIGINT) or, on Unix, SIGTERM (what `docker stop`, systemd and
/// Kubernetes send).
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!("stopping: websockets closed, finishing what is queued (again to stop at once)");
    // a second signal (Ctrl-C or SIGTERM) ends the process at once
    tokio::spawn(async {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            if let Ok(mut term) = signal(SignalKind::terminate()) {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
                std::process::exit(130);
            }
        }
        let _ = tokio::signal::ctrl_c().await;
        std::process::exit(130);
    });
}

/// `http(s)://HOST[:PORT][/PATH]`; the error never repeats the value.
fn parse_public_url(value: &str) -> Result<url::Url, String> {
    const EXPECTED: &str =
        "--public-url (LOGGERFLOW_PUBLIC_URL) must be http(s)://HOST[:PORT][/PATH]";
    let url = url::Url::parse(value).map_err(|_| EXPECTED.to_owned())?;
    if !matches!(url.scheme(), "http" | "https")
        || url.host_str().is_none()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err(EXPECTED.into());
    }
    Ok(url)
}

/// `login:password`; the error never repeats the value (it is a password).
fn parse_auth(value: &str) -> Result<(String, String), String> {
    match value.split_once(':') {
        Some((login, password)) if !login.is_empty() && !password.is_empty() => {
            Ok((login.to_owned(), password.to_owned()))
        }
        _ => Err("--auth (LOGGERFLOW_AUTH) must be login:password".into()),
    }
}

/// Parses the command line and runs it with `alarms`.
pub fn main(alarms: crate::alarm::Registry) -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run(args) => match run(args, alarms) {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                use std::io::Write as _;
                let _ = writeln!(std::io::stderr(), "loggerflow: {message}");
                ExitCode::FAILURE
            }
        },
    }
}

fn run(args: RunArgs, alarms: crate::alarm::Registry) -> Result<(), String> {
    let auth = args.auth.as_deref().map(parse_auth).transpose()?;
    let public_url = args
        .public_url
        .as_deref()
        .map(parse_public_url)
        .transpose()?;
    if !args.disable_log {
        tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "info,sqlx=warn,sea_orm=warn".into()),
            )
            .with_writer(std::io::stderr)
            .init();
    }
    let runtime = tokio::runtime::Runtime::new().map_err(|e| format!("cannot start: {e}"))?;
    let outcome = runtime.block_on(async {
        let ip: std::net::IpAddr = args
            .host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .map_err(|e| format!("invalid --host {}: {e} (give an IP address)", args.host))?;
        let addr = SocketAddr::new(ip, args.port);
        if !ip.is_loopback() && auth.is_none() {
            if !args.allow_unauthenticated {
                return Err(format!(
                    "refusing to listen on {ip} without --auth: anyone who can reach it could read \
                     every report and change alarms. Give --auth USER:PASSWORD, or listen on \
                     127.0.0.1 behind a proxy, or pass --allow-unauthenticated if the network is \
                     trusted"
                ));
            }
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "WARNING: loggerflow is listening on {ip} WITHOUT --auth \
                 (--allow-unauthenticated): anyone who reaches this port can read every report, \
                 add alarms and delete projects."
            );
        }
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        let mut config = crate::Config::new(args.database);
        config.alarms = alarms;
        if let Some((limit, window)) = args.alarm_rate {
            config.alarm_rate = crate::alarm::dispatch::RateLimit { limit, window };
        }
        config.alarm_claim_lease = Duration::from_secs(args.alarm_claim_lease);
        config.auth = auth;
        config.ingest_key = args.ingest_key;
        config.public_url = public_url;
        config.alarm_dir = args.alarm_dir;
        config.allow_private_targets = args.allow_private_targets;
        config.max_connections = args.max_connections.max(1);
        if let Some(room) = crate::connections::connection_room()
            && room < config.max_connections
        {
            tracing::warn!(
                asked = config.max_connections,
                allowed = room,
                "the open-file limit allows fewer connections than --max-connections: capped"
            );
            config.max_connections = room;
        }
        config.max_event_streams = args.max_event_streams;
        config.header_timeout = Duration::from_secs(args.header_timeout.max(1));
        config.websocket_idle_timeout = Duration::from_secs(args.websocket_idle_timeout.max(1));
        config.trust_forwarded_for = args.trust_forwarded_for;
        config.new_projects_per_hour = args.max_new_projects_per_hour;
        config.new_instances_per_hour = args.max_new_instances_per_hour;
        config.public_badges = args.public_badges;
        config.metrics_token = match args.metrics_token {
            Some(token) if token.trim().chars().count() < 16 => {
                return Err(
                    "--metrics-token (LOGGERFLOW_METRICS_TOKEN) must have at least 16 characters"
                        .into(),
                );
            }
            token => token.map(|t| t.trim().to_owned()),
        };
        config.request_timeout = Duration::from_secs(args.request_timeout.max(1));
        config.body_limit = args.body_limit.max(16 * 1024);
        config.retention = Duration::from_secs(u64::from(args.retention_days) * 86_400);
        config.report_retention = (args.report_retention_days > 0)
            .then(|| Duration::from_secs(u64::from(args.report_retention_days) * 86_400));
        config.max_reports_per_project =
            (args.max_reports_per_project > 0).then_some(args.max_reports_per_project);
        config.prune_every = Duration::from_secs(args.prune_every);
        let shutdown = stop_signal();
        let server = crate::Server::open(config)
            .await
            .map_err(|e| e.to_string())?;
        println!(
            "LoggerFlow listening on http://{addr}/ (ingest http://{addr}/loggerflow/, health http://{addr}/api/v1/health)"
        );
        server.serve(listener, shutdown).await.map_err(|e| e.to_string())
    });
    // a blocking task still running (a DNS lookup of an alarm) does not hold
    // the exit
    runtime.shutdown_timeout(Duration::from_millis(200));
    outcome
}
