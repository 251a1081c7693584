//! `loggerflow`: the LoggerFlow server's command line.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// LoggerFlow: error tracking and lifecycle monitoring for Rust services.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
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
    /// Port to listen on.
    #[arg(short = 'p', long, env = "LOGGERFLOW_PORT", default_value_t = 8000)]
    port: u16,
    /// Disable the request log in the terminal.
    #[arg(long, env = "LOGGERFLOW_DISABLE_LOG")]
    disable_log: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run(args) => match run(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("loggerflow: {message}");
                ExitCode::FAILURE
            }
        },
    }
}

fn run(args: RunArgs) -> Result<(), String> {
    if !args.disable_log {
        tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "info".into()),
            )
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
        println!("LoggerFlow listening on http://{addr}/ (health: http://{addr}/api/v1/health)");
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        loggerflow_server::serve(listener, shutdown)
            .await
            .map_err(|e| format!("server error: {e}"))
    })
}
