//! Metrics of a project: CPU on one chart, the process's memory on a
//! second, the host's on a third (each scaled to its own bytes), and its
//! connected apps; live ([`LiveMetrics`]), and without JavaScript the page
//! reloads itself every 10 s.

use leptos::prelude::*;

use super::segment;
use crate::components::layout::{Refresh, document};
use crate::islands::live_metrics::LiveMetrics;
use crate::model::{MetricsPage, Visitor};

/// The metrics page.
pub fn metrics(mut page: MetricsPage, visitor: &Visitor) -> String {
    let base = format!("/projects/{}", segment(&page.project));
    let windows: Vec<_> = page
        .windows
        .iter()
        .map(|w| {
            let current = *w == page.window;
            view! { <a href=format!("{base}/metrics?window={w}") class:current=current>{w.clone()}</a> }
        })
        .collect();
    let notice = page
        .notice
        .take()
        .map(|n| view! { <p class="notice">{n}</p> });
    let title = format!("Metrics of {}", page.project);
    let csrf = visitor.csrf.clone();
    let body = view! {
        <p><a href=base.clone()>{format!("← errors of {}", page.project)}</a></p>
        <h1>{title.clone()}</h1>
        {notice}
        <nav class="filters">{windows}</nav>
        <LiveMetrics page=page csrf=csrf />
    };
    document(&title, Refresh::WithoutScript(10), visitor, move || body)
}
