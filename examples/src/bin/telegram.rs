//! Reports to Telegram (the model's first example, `TelegramBackend`).
//!
//! Run with:
//! `TELEGRAM_TOKEN=123:abc TELEGRAM_CHAT_ID=-1001234567890 cargo run -p loggerflow-examples --bin telegram`
//! (`TELEGRAM_API_URL` points it at a local Bot API server or a test double).

use loggerflow_layer::sink::TelegramSink;
use loggerflow_layer::{LoggerFlowLayer, TraceMode};
use tracing_subscriber::prelude::*;

fn main() -> anyhow::Result<()> {
    let token = std::env::var("TELEGRAM_TOKEN")
        .map_err(|_| anyhow::anyhow!("set TELEGRAM_TOKEN to your bot's token"))?;
    let chat_id = std::env::var("TELEGRAM_CHAT_ID")
        .map_err(|_| anyhow::anyhow!("set TELEGRAM_CHAT_ID (a number, or @channel)"))?;
    let mut telegram = TelegramSink::new(token, chat_id).authors(["@DeNRuDi"]);
    if let Ok(url) = std::env::var("TELEGRAM_API_URL") {
        telegram = telegram.api_url(url);
    }

    let layer = LoggerFlowLayer::builder("Test")
        .sink(telegram)
        .trace_mode(TraceMode::Clean)
        .build();
    let _guard = layer.flush_guard();
    tracing_subscriber::registry().with(layer).init();

    tracing::error!("Test Error");
    Ok(())
}
