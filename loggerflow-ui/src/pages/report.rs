//! One report: message, chain, fields, spans, and the trace in full, clean
//! or minimal form with your frames backlit.

use leptos::prelude::*;

use super::segment;
use crate::components::layout::{Refresh, document};
use crate::islands::live_pager::LivePager;
use crate::islands::trace_switch::TraceSwitch;
use crate::model::{Neighbours, ReportPage, Visitor};

/// The report page.
pub fn report(page: ReportPage, visitor: &Visitor) -> String {
    let base = format!("/projects/{}", segment(&page.project));
    let here = format!("{base}/reports/{}", segment(&page.id));
    let causes: Vec<_> = page
        .causes
        .into_iter()
        .map(|c| view! { <li>{c}</li> })
        .collect();
    let fields: Vec<_> = page
        .fields
        .into_iter()
        .map(|(k, v)| view! { <tr><th>{k}</th><td>{field_value(v)}</td></tr> })
        .collect();
    let spans: Vec<_> = page
        .spans
        .into_iter()
        .map(|s| view! { <li>{s}</li> })
        .collect();
    let neighbours = Neighbours {
        older: page.older,
        newer: page.newer,
    };
    let (project, id, mode) = (page.project.clone(), page.id.clone(), page.mode.clone());
    let title = page.title.clone();
    let body = move || {
        view! {
            <p><a href=base.clone()>{format!("← errors of {}", page.project)}</a></p>
            <h1 class="title">{page.title}</h1>
            <pre class="message">{page.message}</pre>
            <dl class="facts">
                <dt>"Level"</dt><dd>{page.level}" "{page.kind}</dd>
                <dt>"Time"</dt><dd>{page.time}</dd>
                <dt>"Location"</dt><dd>{page.location.unwrap_or_default()}</dd>
                <dt>"Thread"</dt><dd>{page.thread}</dd>
                <dt>"Host"</dt><dd>{page.host}</dd>
                <dt>"Release"</dt><dd>{page.release.unwrap_or_default()}</dd>
            </dl>
            {(!causes.is_empty()).then(|| view! { <h2>"Caused by"</h2><ol class="causes">{causes}</ol> })}
            {(!fields.is_empty()).then(|| view! { <h2>"Fields"</h2><table class="fields">{fields}</table> })}
            {(!spans.is_empty()).then(|| view! { <h2>"Span trace"</h2><ol class="spans">{spans}</ol> })}
            <TraceSwitch traces=page.traces mode=page.mode here=here backlight=page.backlight />
            <LivePager project=project id=id mode=mode neighbours=neighbours />
        }
    };
    document(&title, Refresh::Never, visitor, body)
}

/// A field's value: one with several lines (a Python app's `traceback`)
/// keeps them, preformatted; one line is plain text.
fn field_value(value: String) -> AnyView {
    if value.contains('\n') {
        view! { <pre class="field">{value}</pre> }.into_any()
    } else {
        value.into_any()
    }
}
