//! Alarms: the configured channels and the alarm history ("Alarms info").

use leptos::prelude::*;

use crate::components::layout::document;
use crate::model::AlarmsPage;

/// The alarms page; it refreshes every 10 s.
pub fn alarms(page: AlarmsPage) -> String {
    let alarms: Vec<_> = page
        .alarms
        .into_iter()
        .map(|a| {
            view! {
                <tr>
                    <td>{a.name}</td>
                    <td>{a.kind}</td>
                    <td class="muted">{a.fields}</td>
                    <td>{a.projects}</td>
                </tr>
            }
        })
        .collect();
    let events: Vec<_> = page
        .events
        .into_iter()
        .map(|e| {
            view! {
                <tr>
                    <td class="muted">{e.time}</td>
                    <td>{e.project}</td>
                    <td>{e.alarm}</td>
                    <td>{e.trigger}</td>
                    <td class="title">{e.message}</td>
                    <td><span class=format!("state {}", e.status)>{e.status.clone()}</span></td>
                    <td class="muted">{e.error.unwrap_or_default()}</td>
                </tr>
            }
        })
        .collect();
    let no_alarms = alarms.is_empty();
    let body = view! {
        <h1>"Alarms"</h1>
        {if no_alarms {
            view! { <p class="muted">"No alarms yet: create one with " <code>"POST /api/v1/alarms"</code> " (see the README)."</p> }.into_any()
        } else {
            view! {
                <table>
                    <thead><tr><th>"Name"</th><th>"Kind"</th><th>"Fields"</th><th>"Projects and triggers"</th></tr></thead>
                    <tbody>{alarms}</tbody>
                </table>
            }.into_any()
        }}
        <h2>"History"</h2>
        <table>
            <thead><tr><th>"Time"</th><th>"Project"</th><th>"Alarm"</th><th>"Trigger"</th><th>"Message"</th><th>"Status"</th><th>"Error"</th></tr></thead>
            <tbody>{events}</tbody>
        </table>
    };
    document("Alarms", Some(10), body)
}
