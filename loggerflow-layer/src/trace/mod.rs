//! Stack traces: capturing and resolving frames, deciding which frames are
//! yours, and rendering a report as `full`, `clean` or `minimal` text.

pub mod classify;
pub(crate) mod frames;
pub mod render;

pub use crate::protocol::TraceMode;
