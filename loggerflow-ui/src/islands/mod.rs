//! The interactive parts of the pages (Leptos islands). The server renders
//! them with the rest of the page; the wasm bundle hydrates only these, so a
//! page is complete without JavaScript and each island adds behaviour.

// `#[island]` generates props structs for serialization without docs
#[allow(missing_docs)]
pub mod live_errors;
#[allow(missing_docs)]
pub mod live_history;
#[allow(missing_docs)]
pub mod live_metrics;
#[allow(missing_docs)]
pub mod live_pager;
#[allow(missing_docs)]
pub mod live_projects;
#[allow(missing_docs)]
pub mod live_releases;
#[allow(missing_docs)]
pub mod trace_switch;
