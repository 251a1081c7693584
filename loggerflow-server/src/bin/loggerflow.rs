//! `loggerflow`: the LoggerFlow server's command line.

fn main() -> std::process::ExitCode {
    loggerflow_server::Server::builder().run()
}
