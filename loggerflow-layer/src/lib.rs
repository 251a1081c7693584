//! Error tracking for Rust services, built on `tracing`.
//!
//! [`LoggerFlowLayer`] is a `tracing_subscriber` layer: every event at or
//! above its level (ERROR by default) and every panic, in any thread, becomes
//! a [`Report`] (message, fields, error chain, span trace, classified stack).
//! A background worker renders it as a `full`, `clean` (your frames only) or
//! `minimal` (one line) trace and ships it to [sinks](sink): a file,
//! Telegram and Discord (features `telegram`, `discord`), or a custom
//! [`Sink`](sink::Sink). The app's threads never wait on a sink.
//!
//! # Quick start
//!
//! ```no_run
//! use loggerflow_layer::{LoggerFlowLayer, TraceMode, sink::FileSink};
//! use tracing_subscriber::prelude::*;
//!
//! let layer = LoggerFlowLayer::builder("TestProj")
//!     .sink(FileSink::new("test.log"))
//!     .trace_mode(TraceMode::Clean)
//!     .exclude("ValueError")
//!     .build(); // the worker starts here, with these settings
//! let _guard = layer.flush_guard(); // flushes and shuts down when main returns
//! tracing_subscriber::registry()
//!     .with(tracing_subscriber::fmt::layer())
//!     .with(layer)
//!     .init();
//!
//! tracing::error!(order = 42, "payment failed");
//! ```
//!
//! # Capturing by hand
//!
//! Frameworks that catch errors themselves (an axum error type, a failed
//! tokio task) hand them over with [`capture_error`], [`capture_message`] or
//! [`capture_panic`] (or the same methods on a [`Handle`]). They copy and
//! enqueue, never block, and return the report's id when it was queued
//! (`None` when it was not: a full queue, an excluded error type), so they
//! suit sync and async code alike.
//!
//! ```no_run
//! # fn parse() -> Result<u8, std::num::ParseIntError> { "x".parse() }
//! if let Err(error) = parse() {
//!     let id = loggerflow_layer::capture_error(&error);
//!     eprintln!("reported as {id:?}");
//! }
//! ```
//!
//! # Which frames are yours
//!
//! `clean` and `minimal` need to know your code from your dependencies. By
//! default a frame is yours when its source lies outside the Rust toolchain
//! and cargo's download folders (so the calling package and its workspace
//! are yours) and its crate is not std, tokio, tracing or this crate. Add
//! crates with [`LoggerFlowBuilder::your_crates`] or replace the rule with
//! [`LoggerFlowBuilder::yours_if`]; see [`Classifier`](trace::classify::Classifier).
//!
//! # Delivery
//!
//! Captures wait in a bounded queue (1024 by default); when it is full, the
//! report is dropped and counted ([`Handle::stats`]) and the next delivered
//! report says how many were lost. Each sink has its own queue and task and
//! retries failures with exponential backoff; a slow, failing or panicking
//! sink affects no other sink and never the app. Nothing logged on the
//! worker's threads (by a sink, or the reqwest, hyper or rustls under it) is
//! captured; the same crates' errors on the app's own threads are.
//!
//! [`Handle::flush`] and the [`FlushGuard`] wait until what was captured
//! before them was *delivered*: written by the file sink, accepted by
//! Telegram or Discord, acknowledged by the LoggerFlow server for the
//! lifecycle sinks (not merely buffered). They return whether everything
//! made it within their timeout. A layer shuts its sinks down once, when
//! its last guard is dropped (or on [`Handle::shutdown`]).
//!
//! [`LoggerFlowBuilder::before_send`] edits, drops or samples reports on the
//! worker before any sink sees them.
//!
//! # Feature flags
//!
//! The default build has the file sink, the [`Sink`](sink::Sink) trait and
//! the backlighter, and no HTTP stack. The rest comes behind features:
//!
//! - `backlight` (default): `TracebackBacklighter`, the panic and error
//!   printer (owo-colors, color-spantrace).
//! - `telegram`: `sink::TelegramSink` (reqwest with rustls).
//! - `discord`: `sink::DiscordSink` (reqwest with rustls).
//! - `lifecycle`: `lifecycle::WebhookLifecycle` and
//!   `lifecycle::WebSocketLifecycle`, the LoggerFlow server's sinks, with
//!   heartbeats and process metrics (sysinfo), over `http(s)://` and
//!   `ws(s)://` (rustls; the system's roots, `SSL_CERT_FILE`, or a PEM file).

#![cfg_attr(docsrs, feature(doc_cfg))]

// The modules form layers, each using only those below it (kept so by
// tests/module_layers.rs): diag < protocol < trace < capture < sink <
// {pipeline, lifecycle} < hook < {layer, backlight}.
#[cfg(feature = "backlight")]
#[cfg_attr(docsrs, doc(cfg(feature = "backlight")))]
pub mod backlight;
mod capture;
mod diag;
mod hook;
mod layer;
#[cfg(feature = "lifecycle")]
#[cfg_attr(docsrs, doc(cfg(feature = "lifecycle")))]
pub mod lifecycle;
mod pipeline;
pub mod protocol;
pub mod sink;
pub mod trace;

#[cfg(feature = "backlight")]
#[cfg_attr(docsrs, doc(cfg(feature = "backlight")))]
pub use backlight::{Backlight, BacklitError, Color, TracebackBacklighter};
pub use layer::{LoggerFlowBuilder, LoggerFlowLayer};
pub use pipeline::{
    FlushGuard, Handle, RetryPolicy, SinkStats, Stats, capture_error, capture_message,
    capture_panic,
};
pub use protocol::{
    DEFAULT_ENVIRONMENT, ErrorInfo, Frame, Level, Report, ReportId, ReportKind, SpanInfo, TraceMode,
};
