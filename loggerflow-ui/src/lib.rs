//! The LoggerFlow dashboard: Leptos components rendered on the server.
//!
//! The server reads its store, fills the page types of [`model`], and asks a
//! page of [`pages`] for its HTML. Every page is complete HTML that works
//! without JavaScript: links, plain forms, and a refresh every few seconds
//! where the page shows live state. Text from apps (messages, traces, field
//! values, project names) is always escaped by Leptos.
//!
//! ```
//! use loggerflow_ui::{model::ProjectsPage, pages};
//!
//! let html = pages::projects(ProjectsPage::default());
//! assert!(html.contains("<!DOCTYPE html>"));
//! ```

pub mod components;
pub mod model;
pub mod pages;

/// The stylesheet every page links (`/assets/style.css`), served by the
/// binary: no CDN.
pub const STYLE: &str = include_str!("style.css");
