//! A project's charts and connected apps, live: when the server's event
//! stream says the projects changed (readings arrived, an app started,
//! stopped or went offline), it fetches the same window once and redraws.

use leptos::prelude::*;

use crate::components::chart::{Series, line_chart};
use crate::components::format::{ago, bytes, duration};
use crate::model::{InstanceRow, MetricPoint, MetricsPage};
use crate::pages::segment;

/// CPU on one chart, the process's memory on a second, the host's on a
/// third (each on its own scale), and the connected apps. `csrf` goes into
/// the "Clear offline and stopped" form.
#[island]
pub fn LiveMetrics(
    /// The charts' data as the server rendered it.
    page: MetricsPage,
    /// The token the form carries.
    csrf: String,
) -> impl IntoView {
    let project = page.project.clone();
    let window = page.window.clone();
    #[cfg(feature = "hydrate")]
    let gap = gap(page.window_ms);
    let page = RwSignal::new(page);
    #[cfg(feature = "hydrate")]
    {
        let url = format!(
            "/api/v1/dashboard/projects/{}/metrics?window={}",
            segment(&project),
            segment(&window)
        );
        crate::live::refresh_on(
            Some(project.clone()),
            &[crate::live::event::PROJECTS, crate::live::event::READINGS],
            gap,
            move || url.clone(),
            move |fresh| page.set(fresh),
        );
        crate::live::ages_move_on(page, |p| &mut p.now_ms);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (&project, &window);
    let base = format!("/projects/{}", segment(&project));
    // drawn again only when a fetch brought other points (not when the
    // ages move on)
    let points = Memo::new(move |_| page.with(|p| p.points.clone()));
    view! {
        {move || charts(&points.get())}
        <h2>"Connected apps "
            <form method="post" action=format!("{base}/instances/clear") class="inline">
                <input type="hidden" name="csrf" value=csrf />
                <button type="submit" title="forget the apps that are not online">"Clear offline and stopped"</button>
            </form>
        </h2>
        <table class="instances">
            <thead><tr><th>"App"</th><th>"Status"</th><th>"Last message"</th><th>"Transport"</th><th>"Client"</th></tr></thead>
            <tbody>
                {move || page.with(|p| {
                    p.instances
                        .iter()
                        .map(|i| instance_row(i.clone(), p.now_ms))
                        .collect::<Vec<_>>()
                })}
            </tbody>
        </table>
    }
}

/// The least time between two fetches for a chart window of `window_ms`:
/// its buckets (a 300th of it), at least [`crate::live::PROJECTS_GAP`] and at
/// most 30 s (an app's status shows within that).
#[cfg(feature = "hydrate")]
fn gap(window_ms: i64) -> std::time::Duration {
    let bucket = std::time::Duration::from_millis(u64::try_from(window_ms / 300).unwrap_or(0));
    bucket.clamp(
        crate::live::PROJECTS_GAP,
        std::time::Duration::from_secs(30),
    )
}

/// The three charts of `points`.
fn charts(points: &[MetricPoint]) -> impl IntoView + use<> {
    let series = |label, class, f: fn(&MetricPoint) -> f64| Series {
        label,
        class,
        points: points.iter().map(|p| (p.ts_ms, f(p))).collect(),
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
    view! { {cpu} {process_memory} {host_memory} }
}

fn instance_row(i: InstanceRow, now: i64) -> impl IntoView {
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
}
