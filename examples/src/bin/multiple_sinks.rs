//! Several sinks at once (the model's `backend=[backend_telegram,
//! backend_discord]`): every report goes to each of them, independently, so
//! a chat service that is down delays nobody else.
//!
//! Telegram and Discord are used when their variables are set
//! (`TELEGRAM_TOKEN` + `TELEGRAM_CHAT_ID`, `DISCORD_WEBHOOK_URL`); the file
//! `logs/errors.log` and a one-line summary on stderr always are.
//!
//! Run with: `cargo run -p loggerflow-examples --bin multiple_sinks`

use loggerflow_layer::sink::{
    BlockingSink, Delivery, DiscordSink, FileSink, SinkError, TelegramSink,
};
use loggerflow_layer::{LoggerFlowLayer, TraceMode};
use tracing_subscriber::prelude::*;

/// A sink that writes the one-line summary to stderr, whatever the layer's mode.
struct Stderr;

impl BlockingSink for Stderr {
    fn send(&self, delivery: &Delivery) -> Result<(), SinkError> {
        eprintln!(
            "[{}] {}",
            delivery.report().project,
            delivery.render(TraceMode::Minimal)
        );
        Ok(())
    }
}

fn main() {
    let path = std::env::var("LOGGERFLOW_EXAMPLE_LOG").unwrap_or_else(|_| "logs/errors.log".into());
    let mut builder = LoggerFlowLayer::builder("Multi")
        .sink(FileSink::new(&path))
        .blocking_sink(Stderr)
        .trace_mode(TraceMode::Full);
    if let (Ok(token), Ok(chat)) = (
        std::env::var("TELEGRAM_TOKEN"),
        std::env::var("TELEGRAM_CHAT_ID"),
    ) {
        let mut telegram = TelegramSink::new(token, chat)
            .authors(["@telegram_username"])
            .trace_mode(TraceMode::Clean);
        if let Ok(url) = std::env::var("TELEGRAM_API_URL") {
            telegram = telegram.api_url(url);
        }
        builder = builder.sink(telegram);
    }
    if let Ok(webhook) = std::env::var("DISCORD_WEBHOOK_URL") {
        builder = builder.sink(DiscordSink::new(webhook).trace_mode(TraceMode::Minimal));
    }
    let layer = builder.build();
    let _guard = layer.flush_guard();
    tracing_subscriber::registry().with(layer).init();

    tracing::error!(order = 1042, "payment provider rejected the card");
}
