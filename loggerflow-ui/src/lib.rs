//! The LoggerFlow dashboard: Leptos pages rendered on the server, with
//! islands hydrated by a small wasm bundle.
//!
//! The server reads its store, fills the page types of [`model`], and asks a
//! page of [`pages`] for its HTML. Every page is complete HTML that works
//! without JavaScript: links, plain forms, and a refresh where the page shows
//! live state. The [`islands`] (the live projects table, the trace switch)
//! are hydrated by the bundle described in [`hydration`]. Text from apps
//! (messages, traces, field values, project names) is always escaped by
//! Leptos.
//!
//! ```
//! # #[cfg(feature = "ssr")] {
//! use loggerflow_ui::{model::{ProjectsPage, Visitor}, pages};
//!
//! let html = pages::projects(ProjectsPage::default(), &Visitor::default());
//! assert!(html.contains("<!DOCTYPE html>"));
//! # }
//! ```

pub mod components;
pub mod hydration;
pub mod islands;
pub mod live;
pub mod model;
pub mod pages;

/// The stylesheet every page links (`/assets/style.css`), served by the
/// binary: no CDN.
pub const STYLE: &str = include_str!("style.css");
