//! A report's pager (`← older`, `newer →`), live: when the server's event
//! stream says the project's errors changed, it asks once for the report's
//! neighbours, so a newer occurrence shows up as a link without a reload.

use leptos::prelude::*;

use crate::model::Neighbours;
use crate::pages::segment;

/// The pager of the report `id` of `project`; its links keep the trace
/// `mode` shown.
#[island]
pub fn LivePager(
    /// The project.
    project: String,
    /// The report shown.
    id: String,
    /// The trace mode its links keep.
    mode: String,
    /// The neighbours as the server rendered them.
    neighbours: Neighbours,
) -> impl IntoView {
    let neighbours = RwSignal::new(neighbours);
    let base = format!("/projects/{}/reports", segment(&project));
    #[cfg(feature = "hydrate")]
    {
        let url = format!(
            "/api/v1/dashboard/projects/{}/reports/{}/neighbours",
            segment(&project),
            segment(&id)
        );
        crate::live::refresh_on(
            Some(project.clone()),
            &[crate::live::event::ERRORS],
            crate::live::VIEW_GAP,
            move || url.clone(),
            move |fresh| neighbours.set(fresh),
        );
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (&project, &id);
    let link = move |other: &str| format!("{base}/{}?mode={}", segment(other), segment(&mode));
    view! {
        <p class="pager">
            {move || {
                let n = neighbours.get();
                let older = n
                    .older
                    .map(|id| view! { <a href=link(&id) class="older">"← older"</a> });
                let newer = n
                    .newer
                    .map(|id| view! { <a href=link(&id) class="newer">"newer →"</a> });
                view! { {older} " " {newer} }
            }}
        </p>
    }
}
