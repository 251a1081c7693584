//! A project's releases: per environment, when each was first and last
//! seen, the apps that run it, the errors new in it, the regressions in it,
//! and the errors resolved since (the table is live: [`LiveReleases`]).

use leptos::prelude::*;

use super::segment;
use crate::components::layout::{Refresh, document};
use crate::islands::live_releases::LiveReleases;
use crate::model::{ReleasesPage, Visitor};

/// The Releases page.
pub fn releases(page: ReleasesPage, visitor: &Visitor) -> String {
    let base = format!("/projects/{}", segment(&page.project));
    let title = format!("Releases of {}", page.project);
    let body = view! {
        <h1>{title.clone()}</h1>
        <p><a href=base.clone()>"Errors"</a> " · " <a href=format!("{base}/metrics")>"Metrics"</a></p>
        <LiveReleases page=page />
    };
    document(&title, Refresh::Never, visitor, move || body)
}
