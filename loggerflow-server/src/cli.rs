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

#[derive(clap::Args)]
struct RunArgs {
    /// Address to listen on.
    #[arg(
        short = 'u',
        long,
        env = "LOGGERFLOW_HOST",
        default_value = "127.0.0.1"
    )]
    host: String,
    /// Port to listen on (0 picks a free one).
    #[arg(short = 'p', long, env = "LOGGERFLOW_PORT", default_value_t = 8000)]
    port: u16,
    /// Database URL: sqlite://FILE?mode=rwc or postgres://USER[:PASSWORD]@HOST[:PORT]/DB.
    #[arg(short = 'd', long, env = "LOGGERFLOW_DATABASE", default_value = crate::store::DEFAULT_DATABASE)]
    database: String,
    /// Credentials for the API and dashboard, as login:password (HTTP Basic).
    #[arg(short = 'a', long, env = "LOGGERFLOW_AUTH", value_parser = parse_auth)]
    auth: Option<(String, String)>,
    /// Disable the request and event log in the terminal.
    #[arg(long, env = "LOGGERFLOW_DISABLE_LOG")]
    disable_log: bool,
    /// Refuse ingest without this key (`Authorization: Bearer KEY`, or /loggerflow/k/KEY/ for Python clients).
    #[arg(long, env = "LOGGERFLOW_INGEST_KEY")]
    ingest_key: Option<String>,
    /// Alarm messages per alarm and project, as COUNT/SECONDS (default 5/600); the rest become a digest.
    #[arg(long, env = "LOGGERFLOW_ALARM_RATE", value_parser = parse_rate)]
    alarm_rate: Option<(i64, Duration)>,
    /// Seconds a request may take, body included; slower clients get 408.
    #[arg(long, env = "LOGGERFLOW_REQUEST_TIMEOUT", default_value_t = 30)]
    request_timeout: u64,
    /// Days of metric samples to keep.
    #[arg(long, env = "LOGGERFLOW_RETENTION_DAYS", default_value_t = 7)]
    retention_days: u32,
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

fn parse_auth(value: &str) -> Result<(String, String), String> {
    match value.split_once(':') {
        Some((login, password)) if !login.is_empty() && !password.is_empty() => {
            Ok((login.to_owned(), password.to_owned()))
        }
        _ => Err("expected login:password".into()),
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
    runtime.block_on(async {
        let addr: SocketAddr = format!("{}:{}", args.host, args.port)
            .parse()
            .map_err(|e| format!("invalid address {}:{}: {e}", args.host, args.port))?;
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
        config.auth = args.auth;
        config.ingest_key = args.ingest_key;
        config.request_timeout = Duration::from_secs(args.request_timeout.max(1));
        config.retention = Duration::from_secs(u64::from(args.retention_days) * 86_400);
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        let server = crate::Server::open(config)
            .await
            .map_err(|e| e.to_string())?;
        println!(
            "LoggerFlow listening on http://{addr}/ (ingest http://{addr}/loggerflow/, health http://{addr}/api/v1/health)"
        );
        server.serve(listener, shutdown).await.map_err(|e| e.to_string())
    })
}
