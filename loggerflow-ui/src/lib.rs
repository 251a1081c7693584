//! The LoggerFlow dashboard: Leptos components rendered by the server.
//!
//! Empty at this stage: the dashboard arrives with its own issue, after the
//! server's storage and JSON API. What it will show is described in
//! `ARCHITECTURE.md`.
//!
//! ```
//! // nothing to call yet
//! ```
