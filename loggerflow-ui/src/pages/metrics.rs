//! Metrics of a project: CPU on one chart, the process's memory on a
//! second, the host's on a third (each scaled to its own bytes).

use leptos::prelude::*;

use super::segment;
use crate::components::chart::{Series, line_chart};
use crate::components::format::{ago, bytes, duration};
use crate::components::layout::{Refresh, csrf_input, document};
use crate::model::{MetricsPage, Visitor};

/// The metrics page; it refreshes every 10 s.
pub fn metrics(page: MetricsPage, visitor: &Visitor) -> String {
    let base = format!("/projects/{}", segment(&page.project));
    let windows: Vec<_> = page
        .windows
        .iter()
        .map(|w| {
            let current = *w == page.window;
            view! { <a href=format!("{base}/metrics?window={w}") class:current=current>{w.clone()}</a> }
        })
        .collect();
    let series = |label, class, f: fn(&crate::model::MetricPoint) -> f64| Series {
        label,
        class,
        points: page.points.iter().map(|p| (p.ts_ms, f(p))).collect(),
    };
    let cpu = line_chart(
        "CPU %",
        vec![
            series("host", "c1", |p| p.cpu_percent),
            series("process", "c2", |p| p.process_cpu_percent),
        ],
        Some(100.0),
        |v| format!("{v:.1} %"),
    );
    // the process on a scale of its own: on the host's, its megabytes are a
    // flat line at the bottom of the gigabytes
    let process_memory = line_chart(
        "Process memory",
        vec![series("process", "c2", |p| p.process_memory_bytes)],
        None,
        bytes,
    );
    let host_memory = line_chart(
        "Host memory",
        vec![
            series("used", "c1", |p| p.memory_used_bytes),
            series("total", "c3", |p| p.memory_total_bytes),
        ],
        None,
        bytes,
    );
    let now = page.now_ms;
    let rows: Vec<_> = page
        .instances
        .into_iter()
        .map(|i| {
            view! {
                <tr>
                    <td>{i.name}</td>
                    <td><span class=format!("status {}", i.status)>{i.status.clone()}</span> " "
                        <span class="muted">{format!("for {}", duration(now - i.status_since_ms))}</span></td>
                    <td class="muted">{ago(i.last_seen_ms, now)}</td>
                    <td>{i.transport}</td>
                    <td class="muted">{i.client_version}</td>
                </tr>
            }
        })
        .collect();
    let notice = page.notice.map(|n| view! { <p class="notice">{n}</p> });
    let title = format!("Metrics of {}", page.project);
    let body = view! {
        <p><a href=base.clone()>{format!("← errors of {}", page.project)}</a></p>
        <h1>{title.clone()}</h1>
        {notice}
        <nav class="filters">{windows}</nav>
        {cpu}
        {process_memory}
        {host_memory}
        <h2>"Connected apps "
            <form method="post" action=format!("{base}/instances/clear") class="inline">
                {csrf_input(visitor)}
                <button type="submit" title="forget the apps that are not online">"Clear offline and stopped"</button>
            </form>
        </h2>
        <table class="instances">
            <thead><tr><th>"App"</th><th>"Status"</th><th>"Last message"</th><th>"Transport"</th><th>"Client"</th></tr></thead>
            <tbody>{rows}</tbody>
        </table>
    };
    document(&title, Refresh::Every(10), visitor, move || body)
}
