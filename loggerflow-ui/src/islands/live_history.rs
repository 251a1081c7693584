//! The alarm history, live: when the server's event stream says the history
//! changed (an alarm was queued, sent or failed), it fetches the shown
//! history once and redraws.

use leptos::prelude::*;

use crate::model::{EventRow, History};
use crate::pages::segment;

/// The history table, for `project` (empty: all projects).
#[island]
pub fn LiveHistory(
    /// The history as the server rendered it.
    history: History,
    /// The project it is filtered to (empty: all).
    project: String,
) -> impl IntoView {
    let history = RwSignal::new(history);
    #[cfg(feature = "hydrate")]
    {
        let url = if project.is_empty() {
            "/api/v1/dashboard/alarm-events".to_owned()
        } else {
            format!(
                "/api/v1/dashboard/alarm-events?project={}",
                segment(&project)
            )
        };
        crate::live::refresh_on(
            None,
            &[crate::live::event::ALARMS],
            crate::live::VIEW_GAP,
            move || url.clone(),
            move |fresh| history.set(fresh),
        );
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (&project, segment);
    view! {
        <table class="history">
            <thead><tr><th>"Time"</th><th>"Project"</th><th>"Alarm"</th><th>"Trigger"</th><th>"Message"</th><th>"Status"</th><th>"Error"</th></tr></thead>
            <tbody>
                {move || history.get().events.into_iter().map(event_row).collect::<Vec<_>>()}
            </tbody>
        </table>
    }
}

fn event_row(e: EventRow) -> impl IntoView {
    view! {
        <tr>
            <td class="muted">{e.time}</td>
            <td>{e.project}</td>
            <td>{e.alarm}</td>
            <td>{e.trigger}</td>
            <td class="title">{e.message}</td>
            <td><span class=format!("state {}", e.status)>{e.status.clone()}</span></td>
            <td class="muted">
                {e.error.unwrap_or_default()}
                {e.taken_over_from.map(|from| view! {
                    <div>{format!("taken over from {from} (its claim expired)")}</div>
                })}
            </td>
        </tr>
    }
}
