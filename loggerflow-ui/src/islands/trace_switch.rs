//! The trace of a report with its Full / Clean / Minimal switch. Without
//! JavaScript the switch is three links (`?mode=`); hydrated, it switches in
//! place and keeps the address in step.

use leptos::prelude::*;

use crate::model::{TraceLine, Traces};

/// The modes, in the order the switch shows them.
pub const MODES: [&str; 3] = ["full", "clean", "minimal"];

/// The switch and the trace. `here` is the report page's path; `backlight`
/// marks your own frames.
#[island]
pub fn TraceSwitch(
    /// The trace in its three forms.
    traces: Traces,
    /// The form shown first.
    mode: String,
    /// The report page's path.
    here: String,
    /// Whether your own frames are backlit.
    backlight: bool,
) -> impl IntoView {
    let mode = RwSignal::new(mode);
    let links = MODES
        .into_iter()
        .map(|m| {
            let href = format!("{here}?mode={m}");
            view! {
                <a
                    href=href.clone()
                    class:current=move || mode.get() == m
                    on:click=move |ev| {
                        ev.prevent_default();
                        mode.set(m.to_owned());
                        crate::hydration::replace_url(&href);
                    }
                >
                    {m}
                </a>
            }
        })
        .collect::<Vec<_>>();
    view! {
        <h2>"Trace " <span class="modes">{links}</span></h2>
        <div class:backlit=backlight>
            {move || match mode.get().as_str() {
                "minimal" => view! { <pre class="trace">{traces.minimal.clone()}</pre> }.into_any(),
                "full" => trace_list(&traces.full).into_any(),
                _ => trace_list(&traces.clean).into_any(),
            }}
        </div>
    }
}

fn trace_list(lines: &[TraceLine]) -> impl IntoView + use<> {
    let items = lines
        .iter()
        .cloned()
        .map(|line| match line {
            TraceLine::Frame(f) => {
                let location = f
                    .location
                    .map(|l| view! { <span class="at">{format!("at {l}")}</span> });
                view! {
                    <li class:yours=f.yours>
                        <span class="index">{f.index}</span>
                        <span class="function">{f.function}</span>
                        {location}
                    </li>
                }
                .into_any()
            }
            TraceLine::Hidden(n) => {
                view! { <li class="hidden">{format!("⋮ {n} frame(s) hidden ⋮")}</li> }.into_any()
            }
        })
        .collect::<Vec<_>>();
    view! { <ol class="trace">{items}</ol> }
}
