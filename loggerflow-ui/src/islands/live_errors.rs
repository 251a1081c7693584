//! The errors table of a project, live: when the server's event stream says
//! the project's errors changed (a new group, a count, a state), it fetches
//! the same view (same filters, search and page) as JSON once and redraws.

use leptos::prelude::*;

use crate::components::chart::sparkline;
use crate::components::format::ago;
use crate::model::{ErrorsPage, GroupRow};
use crate::pages::segment;

/// The table of groups (or "No errors here.") and its pager. `csrf` goes
/// into the resolve / ignore / reopen forms. The fetch asks for the view the
/// address bar shows (its query string: filters, search, cursor).
#[island]
pub fn LiveErrors(
    /// The view as the server rendered it.
    page: ErrorsPage,
    /// The token the state forms carry.
    csrf: String,
) -> impl IntoView {
    let project = page.project.clone();
    let page = RwSignal::new(page);
    #[cfg(feature = "hydrate")]
    {
        let path = format!("/api/v1/dashboard/projects/{}/errors", segment(&project));
        crate::live::refresh_on(
            Some(project.clone()),
            &[crate::live::event::ERRORS],
            crate::live::VIEW_GAP,
            move || {
                let search = web_sys::window()
                    .and_then(|w| w.location().search().ok())
                    .unwrap_or_default();
                format!("{path}{search}")
            },
            move |fresh| page.set(fresh),
        );
        crate::live::ages_move_on(page, |p| &mut p.now_ms);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = &project;
    view! {
        {move || {
            let p = page.get();
            let base = format!("/projects/{}", segment(&p.project));
            let now = p.now_ms;
            if p.groups.is_empty() {
                view! { <p class="muted">"No errors here."</p> }.into_any()
            } else {
                let rows = p
                    .groups
                    .into_iter()
                    .map(|g| group_row(g, &base, now, &csrf))
                    .collect::<Vec<_>>();
                view! {
                    <table class="groups">
                        <thead><tr><th>"Error"</th><th>"Count"</th><th>"Last 24 h"</th><th>"First seen"</th><th>"Last seen"</th><th>"State"</th><th></th></tr></thead>
                        <tbody>{rows}</tbody>
                    </table>
                }
                .into_any()
            }
        }}
        {move || pager(&page.get())}
    }
}

/// `?state=…&environment=…&release=…&q=…` with `after` (the cursor) set or
/// dropped: the link to another page of the same view.
pub fn view_link(page: &ErrorsPage, cursor: Option<&str>) -> String {
    let base = format!("/projects/{}", segment(&page.project));
    let mut parts = Vec::new();
    if let Some(state) = &page.state {
        parts.push(format!("state={}", segment(state)));
    }
    if let Some(environment) = &page.environment {
        parts.push(format!("environment={}", segment(environment)));
    }
    if let Some(release) = &page.release {
        parts.push(format!("release={}", segment(release)));
    }
    if !page.search.is_empty() {
        parts.push(format!("q={}", segment(&page.search)));
    }
    if let Some(cursor) = cursor {
        parts.push(format!("after={}", segment(cursor)));
    }
    if parts.is_empty() {
        base
    } else {
        format!("{base}?{}", parts.join("&"))
    }
}

fn pager(page: &ErrorsPage) -> impl IntoView + use<> {
    let first = page
        .paged
        .then(|| view! { <a href=view_link(page, None)>"← newest"</a> });
    let older = page
        .next_cursor
        .as_deref()
        .map(|c| view! { <a href=view_link(page, Some(c))>"older →"</a> });
    view! { <p class="pager">{first} " " {older}</p> }
}

fn group_row(g: GroupRow, base: &str, now: i64, csrf: &str) -> impl IntoView + use<> {
    let open_href = g
        .newest_report
        .as_ref()
        .map(|r| format!("{base}/reports/{}", segment(r)))
        .unwrap_or_else(|| base.to_owned());
    let action = format!("{base}/errors/{}/state", g.id);
    let buttons: Vec<_> = [
        ("resolved", "Resolve"),
        ("ignored", "Ignore"),
        ("open", "Reopen"),
    ]
    .into_iter()
    .filter(|(state, _)| *state != g.state)
    .map(|(state, label)| {
        view! {
            <form method="post" action=action.clone() class="inline">
                <input type="hidden" name="csrf" value=csrf.to_owned() />
                <input type="hidden" name="state" value=state />
                <button type="submit">{label}</button>
            </form>
        }
    })
    .collect();
    let regressed = g
        .regressed
        .then(|| view! { <span class="badge regressed">"regressed"</span> });
    let releases = g
        .releases
        .map(|r| view! { <br /><span class="muted releases">{r}</span> });
    let pruned = (g.pruned > 0).then(|| {
        let title = format!(
            "{} of its {} occurrences were pruned by report retention; its first report is kept",
            g.pruned, g.count
        );
        view! { <br /><span class="muted pruned" title=title>{format!("{} pruned", g.pruned)}</span> }
    });
    view! {
        <tr>
            <td class="title"><a href=open_href>{g.title}</a> {regressed} {releases}</td>
            <td class="num">{g.count} {pruned}</td>
            <td>{sparkline(&g.last_24h)}</td>
            <td class="muted">{ago(g.first_seen_ms, now)}</td>
            <td class="muted">{ago(g.last_seen_ms, now)}</td>
            <td><span class=format!("state {}", g.state)>{g.state.clone()}</span></td>
            <td class="actions">{buttons}</td>
        </tr>
    }
}
