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
//! let layer = LoggerFlowLayer::new("TestProj")
//!     .sink(FileSink::new("test.log"))
//!     .trace_mode(TraceMode::Clean)
//!     .exclude("ValueError");
//! let _guard = layer.flush_guard(); // flushes when main returns
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
//! enqueue, never block, and return the report's id, so they suit sync and
//! async code alike.
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
//! crates with [`LoggerFlowLayer::your_crates`] or replace the rule with
//! [`LoggerFlowLayer::yours_if`]; see [`Classifier`](trace::classify::Classifier).
//!
//! # Delivery
//!
//! Captures wait in a bounded queue (1024 by default); when it is full, the
//! report is dropped and counted ([`Handle::stats`]) and the next delivered
//! report says how many were lost. Each sink has its own queue and task and
//! retries failures with exponential backoff; a slow, failing or panicking
//! sink affects no other sink and never the app. Nothing logged while
//! delivering (by a sink, reqwest or hyper) is captured again.
//!
//! # Feature flags
//!
//! The default build has the file sink and the [`Sink`](sink::Sink) trait and
//! no HTTP stack. Sinks that need HTTP come behind their own features:
//!
//! - `telegram`: [`sink::TelegramSink`] (reqwest with rustls).
//! - `discord`: [`sink::DiscordSink`] (reqwest with rustls).
//! - `lifecycle`: [`lifecycle::WebhookLifecycle`] and
//!   [`lifecycle::WebSocketLifecycle`], the LoggerFlow server's sinks, with
//!   heartbeats and process metrics (sysinfo).

pub mod backlight;
#[cfg(feature = "lifecycle")]
pub mod lifecycle;
pub mod protocol;
pub mod sink;
pub mod trace;

mod capture;
mod config;
mod diag;
mod guard;
mod handle;
mod layer;
mod panic;
mod worker;

pub use backlight::{Backlight, BacklitError, Color, TracebackBacklighter};
pub use config::RetryPolicy;
pub use guard::FlushGuard;
pub use handle::{Handle, SinkStats, Stats, capture_error, capture_message, capture_panic};
pub use layer::LoggerFlowLayer;
pub use protocol::{ErrorInfo, Frame, Level, Report, ReportId, ReportKind, SpanInfo};
pub use trace::TraceMode;
