//! The errors of a project: grouped, filtered, searchable; resolve / ignore / reopen.

use leptos::prelude::*;

use super::segment;
use crate::components::layout::{Refresh, document};
use crate::islands::live_errors::LiveErrors;
use crate::model::{ErrorsPage, Visitor};

/// The errors page: 50 groups, newest first, then a link to older ones.
pub fn errors(page: ErrorsPage, visitor: &Visitor) -> String {
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
    let title = format!("Errors of {}", page.project);
    let state_value = page.state.clone().unwrap_or_default();
    let environment_value = page.environment.clone().unwrap_or_default();
    let release_value = page.release.clone().unwrap_or_default();
    let search = page.search.clone();
    let csrf = visitor.csrf.clone();
    let heading = title.clone();
    let body = move || {
        view! {
            <h1>{heading}</h1>
            <p><a href=format!("{base}/metrics")>"Metrics"</a> " · " <a href=format!("{base}/releases")>"Releases"</a></p>
            <div class="toolbar">
                <nav class="filters">{filters}</nav>
                <nav class="filters environments">{environments}</nav>
                {release_filter}
                <form method="get" action=base.clone() class="search">
                    <input type="hidden" name="state" value=state_value />
                    <input type="hidden" name="environment" value=environment_value />
                    <input type="hidden" name="release" value=release_value />
                    <input type="search" name="q" placeholder="Search titles" value=search />
                    <button type="submit">"Search"</button>
                </form>
            </div>
            <LiveErrors page=page csrf=csrf />
        }
    };
    document(&title, Refresh::Never, visitor, body)
}
