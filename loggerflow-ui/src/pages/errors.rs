//! The errors of a project: grouped, filtered, searchable; resolve / ignore / reopen.

use leptos::prelude::*;

use super::segment;
use crate::components::chart::sparkline;
use crate::components::format::ago;
use crate::components::layout::{Refresh, csrf_input, document};
use crate::model::{ErrorsPage, Visitor};

/// The errors page: 50 groups, newest first, then a link to older ones.
pub fn errors(page: ErrorsPage, visitor: &Visitor) -> String {
    let now = page.now_ms;
    let base = format!("/projects/{}", segment(&page.project));
    // a link to this page with some filters changed (the cursor dropped)
    let link = |state: Option<&str>, environment: Option<&str>, release: Option<&str>| {
        let mut parts = Vec::new();
        if let Some(state) = state {
            parts.push(format!("state={}", segment(state)));
        }
        if let Some(environment) = environment {
            parts.push(format!("environment={}", segment(environment)));
        }
        if let Some(release) = release {
            parts.push(format!("release={}", segment(release)));
        }
        if parts.is_empty() {
            base.clone()
        } else {
            format!("{base}?{}", parts.join("&"))
        }
    };
    let environment = page.environment.as_deref();
    let release = page.release.as_deref();
    let filters: Vec<_> = [None, Some("open"), Some("resolved"), Some("ignored")]
        .into_iter()
        .map(|state| {
            let label = state.unwrap_or("all");
            let href = link(state, environment, release);
            let current = page.state.as_deref() == state;
            view! { <a href=href class:current=current>{label}</a> }
        })
        .collect();
    // the environment switch: a release belongs to one, so it is dropped
    let environments: Vec<_> = if page.environments.len() > 1 || environment.is_some() {
        std::iter::once(None)
            .chain(page.environments.iter().map(|e| Some(e.as_str())))
            .map(|e| {
                let href = link(page.state.as_deref(), e, None);
                let current = environment == e;
                let label = e.unwrap_or("all environments").to_owned();
                view! { <a href=href class:current=current>{label}</a> }
            })
            .collect()
    } else {
        Vec::new()
    };
    let release_options: Vec<_> = page
        .versions
        .iter()
        .map(|v| {
            let selected = release == Some(v.as_str());
            view! { <option value=v.clone() selected=selected>{v.clone()}</option> }
        })
        .collect();
    let release_filter = (!page.versions.is_empty() || release.is_some()).then(|| {
        view! {
            <form method="get" action=base.clone() class="search release-filter">
                <input type="hidden" name="state" value=page.state.clone().unwrap_or_default() />
                <input type="hidden" name="environment" value=page.environment.clone().unwrap_or_default() />
                <select name="release" aria-label="Release">
                    <option value="">"all releases"</option>
                    {release_options}
                </select>
                <button type="submit">"Show"</button>
            </form>
        }
    });
    let rows: Vec<_> = page
        .groups
        .into_iter()
        .map(|g| {
            let open_href = g
                .newest_report
                .as_ref()
                .map(|r| format!("{base}/reports/{}", segment(r)))
                .unwrap_or_else(|| base.clone());
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
                        {csrf_input(visitor)}
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
        })
        .collect();
    let empty = rows.is_empty();
    let title = format!("Errors of {}", page.project);
    let state_value = page.state.clone().unwrap_or_default();
    let query = |cursor: Option<&str>| {
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
            base.clone()
        } else {
            format!("{base}?{}", parts.join("&"))
        }
    };
    let first = page
        .paged
        .then(|| view! { <a href=query(None)>"← newest"</a> });
    let older = page
        .next_cursor
        .as_deref()
        .map(|c| view! { <a href=query(Some(c))>"older →"</a> });
    let body = view! {
        <h1>{title.clone()}</h1>
        <p><a href=format!("{base}/metrics")>"Metrics"</a> " · " <a href=format!("{base}/releases")>"Releases"</a></p>
        <div class="toolbar">
            <nav class="filters">{filters}</nav>
            <nav class="filters environments">{environments}</nav>
            {release_filter}
            <form method="get" action=base.clone() class="search">
                <input type="hidden" name="state" value=state_value />
                <input type="hidden" name="environment" value=page.environment.clone().unwrap_or_default() />
                <input type="hidden" name="release" value=page.release.clone().unwrap_or_default() />
                <input type="search" name="q" placeholder="Search titles" value=page.search />
                <button type="submit">"Search"</button>
            </form>
        </div>
        {if empty {
            view! { <p class="muted">"No errors here."</p> }.into_any()
        } else {
            view! {
                <table class="groups">
                    <thead><tr><th>"Error"</th><th>"Count"</th><th>"Last 24 h"</th><th>"First seen"</th><th>"Last seen"</th><th>"State"</th><th></th></tr></thead>
                    <tbody>{rows}</tbody>
                </table>
            }.into_any()
        }}
        <p class="pager">{first} " " {older}</p>
    };
    document(&title, Refresh::Never, visitor, move || body)
}
