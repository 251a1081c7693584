//! Settings: the trace a report opens with, backlight, process memory,
//! metric and report retention.

use leptos::prelude::*;

use crate::components::layout::{Refresh, csrf_input, document};
use crate::model::{SettingsPage, Visitor};

/// The settings page (a plain form).
pub fn settings(page: SettingsPage, visitor: &Visitor) -> String {
    let notice = page.notice.map(|n| view! { <p class="notice">{n}</p> });
    let modes: Vec<_> = [
        ("full", "Full: every frame"),
        ("clean", "Clean: your frames only"),
        ("minimal", "Minimal: one line"),
    ]
    .into_iter()
    .map(|(value, label)| {
        let checked = page.trace_mode == value;
        view! { <label class="check"><input type="radio" name="trace_mode" value=value checked=checked /> {label}</label> }
    })
    .collect();
    let retention = page
        .retention_days
        .map(|d| d.to_string())
        .unwrap_or_default();
    let placeholder = format!("{} (from --retention-days)", page.default_retention_days);
    let report_retention = page
        .report_retention_days
        .map(|d| d.to_string())
        .unwrap_or_default();
    let report_placeholder = match page.default_report_retention_days {
        0 => "forever (from --report-retention-days)".to_owned(),
        days => format!("{days} (from --report-retention-days)"),
    };
    let count_note = match page.max_reports_per_project {
        0 => "Each project keeps all its reports (--max-reports-per-project 0).".to_owned(),
        max => format!(
            "Each project keeps its newest {max} reports (--max-reports-per-project); \
             every error keeps its first report and its true count."
        ),
    };
    let body = view! {
        <h1>"Settings"</h1>
        {notice}
        <form method="post" action="/settings" class="card settings">
            {csrf_input(visitor)}
            <fieldset>
                <legend>"Trace shown when a report opens"</legend>
                {modes}
            </fieldset>
            <label class="check"><input type="checkbox" name="backlight" value="on" checked=page.backlight /> " Backlight your own frames"</label>
            <label class="check"><input type="checkbox" name="show_process_memory" value="on" checked=page.show_process_memory /> " Show process memory on the projects page"</label>
            <label>"Keep metrics for (days)"
                <input type="number" name="retention_days" min="1" max="366" value=retention placeholder=placeholder />
            </label>
            <label>"Keep reports for (days, 0: forever)"
                <input type="number" name="report_retention_days" min="0" max="3660" value=report_retention placeholder=report_placeholder />
            </label>
            <p class="muted">{count_note}</p>
            <button type="submit">"Save"</button>
        </form>
    };
    document("Settings", Refresh::Never, visitor, move || body)
}
