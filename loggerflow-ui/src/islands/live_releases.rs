//! A project's releases, live: when the server's event stream says the
//! project's errors changed (a report, a state) or the projects table did
//! (an app started, stopped or went offline), it fetches the releases once
//! and redraws.

use leptos::prelude::*;

use crate::components::format::ago;
use crate::model::{ReleaseRow, ReleasesPage};
use crate::pages::segment;

/// The releases table (or how to name releases, while there is none).
#[island]
pub fn LiveReleases(
    /// The releases as the server rendered them.
    page: ReleasesPage,
) -> impl IntoView {
    let project = page.project.clone();
    let page = RwSignal::new(page);
    #[cfg(feature = "hydrate")]
    {
        let url = format!("/api/v1/dashboard/projects/{}/releases", segment(&project));
        crate::live::refresh_on(
            Some(project.clone()),
            // not readings: no figure of a release is one
            &[crate::live::event::ERRORS, crate::live::event::PROJECTS],
            crate::live::RELEASES_GAP,
            move || url.clone(),
            move |fresh| page.set(fresh),
        );
        crate::live::ages_move_on(page, |p| &mut p.now_ms);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = &project;
    move || {
        let p = page.get();
        let base = format!("/projects/{}", segment(&p.project));
        let now = p.now_ms;
        if p.releases.is_empty() {
            view! {
                <p class="muted">
                    "No release yet: apps name theirs with "
                    <code>".release(env!(\"CARGO_PKG_VERSION\"))"</code>
                    " and "<code>".environment(\"staging\")"</code>
                    " (or LOGGERFLOW_RELEASE and LOGGERFLOW_ENVIRONMENT)."
                </p>
            }
            .into_any()
        } else {
            let rows = p
                .releases
                .into_iter()
                .map(|r| release_row(r, &base, now))
                .collect::<Vec<_>>();
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
            }
            .into_any()
        }
    }
}

/// One release: its version links to its errors in its environment.
fn release_row(r: ReleaseRow, base: &str, now: i64) -> impl IntoView {
    let mut href = format!("{base}?environment={}", segment(&r.environment));
    let version = if r.version.is_empty() {
        view! { <span class="muted">"(no release)"</span> }.into_any()
    } else {
        href.push_str(&format!("&release={}", segment(&r.version)));
        view! { <a href=href>{r.version.clone()}</a> }.into_any()
    };
    view! {
        <tr>
            <td class="title">{version}</td>
            <td>{r.environment}</td>
            <td class="muted">{ago(r.first_seen_ms, now)}</td>
            <td class="muted">{ago(r.last_seen_ms, now)}</td>
            <td class="num">{r.apps}</td>
            <td class="num">{r.new_errors}</td>
            <td class="num">{r.regressions}</td>
            <td class="num">{r.resolved_since}</td>
        </tr>
    }
}
