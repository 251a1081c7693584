//! Charts drawn as SVG on the server: readable without JavaScript, no CDN.

use leptos::prelude::*;

/// One line of a chart.
pub struct Series {
    /// Legend label.
    pub label: &'static str,
    /// CSS colour class (`c1`, `c2`, `c3`).
    pub class: &'static str,
    /// (time ms, value), oldest first.
    pub points: Vec<(i64, f64)>,
}

const W: f64 = 720.0;
const H: f64 = 200.0;
const PAD: f64 = 8.0;

/// A line chart of `series`, y from 0 to the largest value (or `y_max`),
/// labels formatted by `format`. Each point has a tooltip (`<title>`).
pub fn line_chart(
    title: &str,
    series: Vec<Series>,
    y_max: Option<f64>,
    format: fn(f64) -> String,
) -> impl IntoView + use<> {
    let all: Vec<(i64, f64)> = series
        .iter()
        .flat_map(|s| s.points.iter().copied())
        .collect();
    let (t0, t1) = all.iter().fold((i64::MAX, i64::MIN), |(a, b), (t, _)| {
        (a.min(*t), b.max(*t))
    });
    let top = y_max
        .unwrap_or_else(|| all.iter().map(|(_, v)| *v).fold(0.0, f64::max))
        .max(1e-9);
    // no points: t0 > t1 (the fold's start), and nothing is drawn
    let span = t1.saturating_sub(t0).max(1) as f64;
    let x = move |t: i64| PAD + t.saturating_sub(t0) as f64 / span * (W - 2.0 * PAD);
    let y = move |v: f64| H - PAD - (v / top).clamp(0.0, 1.0) * (H - 2.0 * PAD);
    let empty = all.is_empty();
    let legend: Vec<_> = series
        .iter()
        .map(|s| view! { <span class=format!("legend {}", s.class)>{s.label}</span> })
        .collect();
    let lines: Vec<_> = series
        .into_iter()
        .map(|s| {
            let points: String = s
                .points
                .iter()
                .map(|(t, v)| format!("{:.1},{:.1}", x(*t), y(*v)))
                .collect::<Vec<_>>()
                .join(" ");
            let dots: Vec<_> = s
                .points
                .iter()
                .map(|(t, v)| {
                    let tip = format!("{}: {} at {}", s.label, format(*v), clock(*t));
                    view! { <circle cx=format!("{:.1}", x(*t)) cy=format!("{:.1}", y(*v)) r="2.5"><title>{tip}</title></circle> }
                })
                .collect();
            view! {
                <g class=format!("series {}", s.class)>
                    <polyline points=points fill="none" />
                    {dots}
                </g>
            }
        })
        .collect();
    let title = title.to_owned();
    let top_label = format(top);
    let (start, end) = if empty {
        (String::new(), String::new())
    } else {
        (clock(t0), clock(t1))
    };
    view! {
        <figure class="chart">
            <figcaption>{title} " " {legend}</figcaption>
            {if empty {
                view! { <p class="muted">"No samples in this window yet."</p> }.into_any()
            } else {
                view! {
                    <svg viewBox=format!("0 0 {W} {H}") role="img">
                        <line class="axis" x1=PAD y1=H - PAD x2=W - PAD y2=H - PAD />
                        {lines}
                    </svg>
                    <div class="axis-labels">
                        <span>{start}</span>
                        <span>"max " {top_label}</span>
                        <span>{end}</span>
                    </div>
                }
                .into_any()
            }}
        </figure>
    }
}

/// `HH:MM:SS` (UTC) of a time in ms.
fn clock(ms: i64) -> String {
    let s = ms.div_euclid(1000).rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}", s / 3600, (s % 3600) / 60, s % 60)
}

/// Reports per hour as tiny bars.
pub fn sparkline(counts: &[u32]) -> impl IntoView + use<> {
    let max = counts.iter().copied().max().unwrap_or(0).max(1) as f64;
    let n = counts.len().max(1) as f64;
    let bars: Vec<_> = counts
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let h = (*c as f64 / max * 18.0).max(if *c > 0 { 1.5 } else { 0.0 });
            view! { <rect x=format!("{:.1}", i as f64 * 72.0 / n) y=format!("{:.1}", 20.0 - h) width=format!("{:.1}", 72.0 / n - 0.5) height=format!("{h:.1}") /> }
        })
        .collect();
    view! { <svg class="spark" viewBox="0 0 72 20" width="72" height="20" aria-label="reports per hour, last 24 h">{bars}</svg> }
}

/// A small horizontal bar for a percentage.
pub fn bar(label: &'static str, percent: Option<f64>, text: String) -> impl IntoView + use<> {
    let width = percent.unwrap_or(0.0).clamp(0.0, 100.0);
    let tip = format!("{label}: {text}");
    view! {
        <div class="bar" title=tip>
            <span class="bar-label">{label}</span>
            <span class="bar-track"><span class="bar-fill" style=format!("width:{width:.0}%")></span></span>
            <span class="bar-text">{text}</span>
        </div>
    }
}
