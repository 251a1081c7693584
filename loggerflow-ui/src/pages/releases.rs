//! A project's releases: per environment, when each was first and last
//! seen, the apps that run it, the errors new in it, the regressions in it,
//! and the errors resolved since.

use leptos::prelude::*;

use super::segment;
use crate::components::format::ago;
use crate::components::layout::{Refresh, document};
use crate::model::{ReleasesPage, Visitor};

/// The Releases page.
pub fn releases(page: ReleasesPage, visitor: &Visitor) -> String {
    let now = page.now_ms;
    let base = format!("/projects/{}", segment(&page.project));
    let rows: Vec<_> = page
        .releases
        .into_iter()
        .map(|r| {
            let errors = |extra: &str| {
                let mut href = format!("{base}?environment={}", segment(&r.environment));
                if !r.version.is_empty() {
                    href.push_str(&format!("&release={}", segment(&r.version)));
                }
                href.push_str(extra);
                href
            };
            let version = if r.version.is_empty() {
                view! { <span class="muted">"(no release)"</span> }.into_any()
            } else {
                view! { <a href=errors("")>{r.version.clone()}</a> }.into_any()
            };
            view! {
                <tr>
                    <td class="title">{version}</td>
                    <td>{r.environment.clone()}</td>
                    <td class="muted">{ago(r.first_seen_ms, now)}</td>
                    <td class="muted">{ago(r.last_seen_ms, now)}</td>
                    <td class="num">{r.apps}</td>
                    <td class="num">{r.new_errors}</td>
                    <td class="num">{r.regressions}</td>
                    <td class="num">{r.resolved_since}</td>
                </tr>
            }
        })
        .collect();
    let empty = rows.is_empty();
    let title = format!("Releases of {}", page.project);
    let body = view! {
        <h1>{title.clone()}</h1>
        <p><a href=base.clone()>"Errors"</a> " · " <a href=format!("{base}/metrics")>"Metrics"</a></p>
        {if empty {
            view! {
                <p class="muted">
                    "No release yet: apps name theirs with "
                    <code>".release(env!(\"CARGO_PKG_VERSION\"))"</code>
                    " and "<code>".environment(\"staging\")"</code>
                    " (or LOGGERFLOW_RELEASE and LOGGERFLOW_ENVIRONMENT)."
                </p>
            }.into_any()
        } else {
            view! {
                <table class="groups releases">
                    <thead><tr>
                        <th>"Release"</th><th>"Environment"</th><th>"First seen"</th><th>"Last seen"</th>
                        <th title="apps online that run it">"Apps"</th>
                        <th title="errors first seen in it (in its environment)">"New errors"</th>
                        <th title="resolved errors that came back in it">"Regressions"</th>
                        <th title="errors resolved since it was first seen">"Resolved since"</th>
                    </tr></thead>
                    <tbody>{rows}</tbody>
                </table>
            }.into_any()
        }}
    };
    document(&title, Refresh::Never, visitor, move || body)
}
