//! The projects table, live: when the server's event stream says the
//! projects changed (an app came, went, reported or sent readings), it
//! fetches the table's data once and redraws, with no reload and no polling.

use leptos::prelude::*;

use crate::components::chart::bar;
use crate::components::format::{ago, bytes, duration};
use crate::model::{ProjectRow, ProjectsPage};
use crate::pages::segment;

/// The projects table with totals. `csrf` goes into its hide forms.
#[island]
pub fn LiveProjects(
    /// The data as the server rendered it.
    page: ProjectsPage,
    /// The token the hide forms carry.
    csrf: String,
) -> impl IntoView {
    let page = RwSignal::new(page);
    #[cfg(feature = "hydrate")]
    {
        crate::live::refresh_on(
            None,
            &[crate::live::event::PROJECTS, crate::live::event::READINGS],
            crate::live::PROJECTS_GAP,
            || "/api/v1/dashboard/projects".to_owned(),
            move |fresh| page.set(fresh),
        );
        crate::live::ages_move_on(page, |p| &mut p.now_ms);
    }
    view! {
        <table class="projects">
            <thead><tr>
                <th>"Project"</th><th>"Status"</th><th>"Errors"</th><th>"Newest error"</th>
                <th>"Heartbeat"</th><th>"Last readings"</th><th>"Implementation"</th>
                <th>"Backends"</th><th>"Authors"</th><th></th>
            </tr></thead>
            <tbody>
                {move || {
                    let p = page.get();
                    p.projects
                        .into_iter()
                        .map(|row| project_row(row, p.now_ms, p.show_process_memory, &csrf))
                        .collect::<Vec<_>>()
                }}
            </tbody>
            <tfoot>
                {move || {
                    let p = page.get();
                    let online = p.projects.iter().filter(|r| r.status == "online").count();
                    let errors: i64 = p.projects.iter().map(|r| r.error_count).sum();
                    view! {
                        <tr>
                            <td>{format!("{} project(s)", p.projects.len())}</td>
                            <td>{format!("{online} online")}</td>
                            <td class="num">{errors}</td>
                            <td colspan="7"></td>
                        </tr>
                    }
                }}
            </tfoot>
        </table>
    }
}

fn percent(part: Option<i64>, total: Option<i64>) -> Option<f64> {
    match (part, total) {
        (Some(u), Some(t)) if t > 0 => Some(u as f64 / t as f64 * 100.0),
        _ => None,
    }
}

/// `names`, or `—` when there are none (as the original shows them).
fn or_dash(names: String) -> String {
    if names.is_empty() {
        "—".into()
    } else {
        names
    }
}

fn project_row(p: ProjectRow, now: i64, show_process: bool, csrf: &str) -> impl IntoView + use<> {
    let href = format!("/projects/{}", segment(&p.name));
    let metrics_href = format!("{href}/metrics");
    let hide_action = format!("{href}/hide");
    let since = p
        .status_since_ms
        .map(|s| format!("for {}", duration(now - s)))
        .unwrap_or_default();
    let heartbeat = match (p.heartbeat_s, p.last_heartbeat_ms) {
        (Some(every), Some(last)) => format!("every {every} s, last {}", ago(last, now)),
        (Some(every), None) => format!("every {every} s"),
        _ => "—".into(),
    };
    let memory_percent = percent(p.memory_used_bytes, p.memory_total_bytes);
    let process_percent = percent(p.process_memory_bytes, p.memory_total_bytes);
    let cpu_text = p
        .cpu_percent
        .map(|c| format!("{c:.1} %"))
        .unwrap_or_else(|| "—".into());
    let mem_text = p
        .memory_used_bytes
        .map(|u| bytes(u as f64))
        .unwrap_or_else(|| "—".into());
    let proc_text = p
        .process_memory_bytes
        .map(|u| bytes(u as f64))
        .unwrap_or_else(|| "—".into());
    let process = show_process.then(|| bar("proc", process_percent, proc_text));
    view! {
        <tr>
            <td>
                <a href=href.clone() class="project">{p.name}</a>
                {p.release.map(|r| view! { <br /><span class="muted release" title="the release its online apps run">{r}</span> })}
            </td>
            <td><span class=format!("status {}", p.status)>{p.status.clone()}</span> " " <span class="muted">{since}</span></td>
            <td class="num"><a href=href>{p.error_count}</a></td>
            <td class="title">{p.last_error.unwrap_or_default()}</td>
            <td class="muted">{heartbeat}</td>
            <td class="readings">
                {bar("CPU", p.cpu_percent, cpu_text)}
                {process}
                {bar("mem", memory_percent, mem_text)}
            </td>
            <td>{p.implementation}</td>
            <td class="names">{or_dash(p.backends)}</td>
            <td class="names">{or_dash(p.authors)}</td>
            <td class="actions">
                <a href=metrics_href>"metrics"</a>
                <form method="post" action=hide_action class="inline">
                    <input type="hidden" name="csrf" value=csrf.to_owned() />
                    <button type="submit" class="quiet">"hide"</button>
                </form>
            </td>
        </tr>
    }
}
