//! The pipeline from the app's threads to the sinks: the configuration, the
//! [`Handle`] that captures and flushes, the worker that prepares reports
//! and feeds each sink's lane, and the [`FlushGuard`].
//!
//! It sits between [`capture`](crate::capture) (what the app's thread
//! copies) and the panic hook and the layer, which feed it.

pub(crate) mod config;
pub(crate) mod guard;
pub(crate) mod handle;
pub(crate) mod worker;

pub use config::RetryPolicy;
pub use guard::FlushGuard;
pub use handle::{Handle, SinkStats, Stats, capture_error, capture_message, capture_panic};
