//! The projects (home) page: one glance tells what is up and what broke.

use leptos::prelude::*;

use super::segment;
use crate::components::chart::bar;
use crate::components::format::{ago, bytes, duration};
use crate::components::layout::document;
use crate::model::ProjectsPage;

const CONNECT: &str = r#"let layer = LoggerFlowLayer::new("MyApp")
    .sink(WebhookLifecycle::new("http://127.0.0.1:8000/loggerflow/"));
let _guard = layer.flush_guard();
tracing_subscriber::registry().with(layer).init();"#;

/// The projects page; it refreshes every 5 s.
pub fn projects(page: ProjectsPage) -> String {
    let now = page.now_ms;
    let online = page
        .projects
        .iter()
        .filter(|p| p.status == "online")
        .count();
    let total_errors: i64 = page.projects.iter().map(|p| p.error_count).sum();
    let count = page.projects.len();
    let body = if page.projects.is_empty() {
        view! {
            <section class="empty">
                <h1>"No apps yet"</h1>
                <p>"Connect your first app with four lines (feature " <code>"lifecycle"</code> " of " <code>"loggerflow-layer"</code> "):"</p>
                <pre class="code">{CONNECT}</pre>
                <p class="muted">"It appears here as soon as it says hello."</p>
            </section>
        }
        .into_any()
    } else {
        let rows: Vec<_> = page
            .projects
            .into_iter()
            .map(|p| {
                let href = format!("/projects/{}", segment(&p.name));
                let metrics_href = format!("/projects/{}/metrics", segment(&p.name));
                let since = p.status_since_ms.map(|s| format!("for {}", duration(now - s))).unwrap_or_default();
                let heartbeat = match (p.heartbeat_s, p.last_heartbeat_ms) {
                    (Some(every), Some(last)) => format!("every {every} s, last {}", ago(last, now)),
                    (Some(every), None) => format!("every {every} s"),
                    _ => "—".into(),
                };
                let memory_percent = match (p.memory_used_bytes, p.memory_total_bytes) {
                    (Some(u), Some(t)) if t > 0 => Some(u as f64 / t as f64 * 100.0),
                    _ => None,
                };
                let process_percent = match (p.process_memory_bytes, p.memory_total_bytes) {
                    (Some(u), Some(t)) if t > 0 => Some(u as f64 / t as f64 * 100.0),
                    _ => None,
                };
                let cpu_text = p.cpu_percent.map(|c| format!("{c:.1} %")).unwrap_or_else(|| "—".into());
                let mem_text = p.memory_used_bytes.map(|u| bytes(u as f64)).unwrap_or_else(|| "—".into());
                let proc_text = p.process_memory_bytes.map(|u| bytes(u as f64)).unwrap_or_else(|| "—".into());
                view! {
                    <tr>
                        <td><a href=href.clone() class="project">{p.name}</a></td>
                        <td><span class=format!("status {}", p.status)>{p.status.clone()}</span> <span class="muted">{since}</span></td>
                        <td class="num"><a href=href>{p.error_count}</a></td>
                        <td class="title">{p.last_error.unwrap_or_default()}</td>
                        <td class="muted">{heartbeat}</td>
                        <td class="readings">
                            {bar("CPU", p.cpu_percent, cpu_text)}
                            {bar("proc", process_percent, proc_text)}
                            {bar("mem", memory_percent, mem_text)}
                        </td>
                        <td>{p.implementation}</td>
                        <td><a href=metrics_href>"metrics"</a></td>
                    </tr>
                }
            })
            .collect();
        view! {
            <h1>"Projects"</h1>
            <table class="projects">
                <thead><tr>
                    <th>"Project"</th><th>"Status"</th><th>"Errors"</th><th>"Newest error"</th>
                    <th>"Heartbeat"</th><th>"Last readings"</th><th>"Implementation"</th><th></th>
                </tr></thead>
                <tbody>{rows}</tbody>
                <tfoot><tr>
                    <td>{format!("{count} project(s)")}</td>
                    <td>{format!("{online} online")}</td>
                    <td class="num">{total_errors}</td>
                    <td colspan="5"></td>
                </tr></tfoot>
            </table>
        }
        .into_any()
    };
    document("Projects", Some(5), body)
}
