//! The projects (home) page: one glance tells what is up and what broke.

use leptos::prelude::*;

use crate::components::layout::{Refresh, document};
use crate::islands::live_projects::LiveProjects;
use crate::model::{ProjectsPage, Visitor};

/// The four lines that connect an app sending to `ingest_url`.
fn connect(ingest_url: &str) -> String {
    format!(
        r#"let layer = LoggerFlowLayer::builder("MyApp")
    .sink(WebhookLifecycle::new({ingest_url:?}))
    .build();
let _guard = layer.flush_guard();
tracing_subscriber::registry().with(layer).init();"#
    )
}

/// The projects page. Its table is a live island: with JavaScript it polls
/// `/api/v1/dashboard/projects` every 5 s; without, the page refreshes
/// itself every 15 s.
pub fn projects(page: ProjectsPage, visitor: &Visitor) -> String {
    let hidden = (page.hidden > 0).then(|| {
        view! {
            <p class="muted"><a href="/hidden">{format!("{} hidden project(s)", page.hidden)}</a></p>
        }
    });
    let csrf = visitor.csrf.clone();
    let body = move || {
        if page.projects.is_empty() {
            view! {
            <section class="empty">
                <h1>"No apps yet"</h1>
                <p>"Connect your first app with four lines (feature " <code>"lifecycle"</code> " of " <code>"loggerflow-layer"</code> "):"</p>
                <pre class="code">{connect(&page.ingest_url)}</pre>
                <p class="muted">"It appears here as soon as it says hello."</p>
                {hidden}
            </section>
        }
        .into_any()
        } else {
            view! {
                <h1>"Projects"</h1>
                <LiveProjects page=page csrf=csrf />
                {hidden}
            }
            .into_any()
        }
    };
    document("Projects", Refresh::WithoutScript(10), visitor, body)
}
