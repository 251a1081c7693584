//! Reports to Discord through a webhook (the model's `DiscordBackend`).
//!
//! Run with:
//! `DISCORD_WEBHOOK_URL=https://discord.com/api/webhooks/ID/TOKEN cargo run -p loggerflow-examples --bin discord`

use loggerflow_layer::sink::DiscordSink;
use loggerflow_layer::{LoggerFlowLayer, TraceMode};
use tracing_subscriber::prelude::*;

fn main() -> anyhow::Result<()> {
    let webhook = std::env::var("DISCORD_WEBHOOK_URL")
        .map_err(|_| anyhow::anyhow!("set DISCORD_WEBHOOK_URL to your channel's webhook URL"))?;
    let layer = LoggerFlowLayer::builder("Test")
        .sink(DiscordSink::new(webhook).authors(["<@123456789012345678>"]))
        .trace_mode(TraceMode::Clean)
        .build();
    let _guard = layer.flush_guard();
    tracing_subscriber::registry().with(layer).init();

    tracing::error!("Test Error");
    Ok(())
}
