//! Alarms: the configured channels and the alarm history ("Alarms info").

use leptos::prelude::*;

use super::segment;
use crate::components::layout::{Refresh, csrf_input, document};
use crate::islands::live_history::LiveHistory;
use crate::model::{AlarmsPage, History, Visitor};

/// The alarms page; it refreshes every 10 s.
pub fn alarms(page: AlarmsPage, visitor: &Visitor) -> String {
    let names: Vec<String> = page.alarms.iter().map(|a| a.name.clone()).collect();
    let alarms: Vec<_> = page
        .alarms
        .into_iter()
        .map(|a| {
            let check = format!("/alarms/{}/check", segment(&a.name));
            let delete = format!("/alarms/{}/delete", segment(&a.name));
            view! {
                <tr>
                    <td>{a.name}</td>
                    <td>{a.kind}</td>
                    <td class="muted">{a.fields}</td>
                    <td>{a.projects}</td>
                    <td class="actions">
                        <form method="post" action=check class="inline">{csrf_input(visitor)}<button type="submit">"Check"</button></form>
                        <form method="post" action=delete class="inline">{csrf_input(visitor)}<button type="submit">"Delete"</button></form>
                    </td>
                </tr>
            }
        })
        .collect();
    let no_alarms = alarms.is_empty();
    let kind_links: Vec<_> = page
        .kinds
        .iter()
        .map(|k| {
            let current = k.kind == page.kind;
            view! { <a href=format!("/alarms?kind={}", k.kind) class:current=current>{k.kind.clone()}</a> }
        })
        .collect();
    let inputs: Vec<_> = page
        .kinds
        .iter()
        .find(|k| k.kind == page.kind)
        .map(|k| k.fields.clone())
        .unwrap_or_default()
        .into_iter()
        .map(|f| {
            let name = format!("field.{}", f.name);
            let input = if !f.choices.is_empty() {
                let options: Vec<_> = f
                    .choices
                    .iter()
                    .map(|c| view! { <option value=c.clone()>{c.clone()}</option> })
                    .collect();
                view! { <select name=name>{options}</select> }.into_any()
            } else if f.multiline {
                view! { <textarea name=name required=f.required rows="4" autocomplete="off"></textarea> }
                    .into_any()
            } else {
                let kind = if f.secret { "password" } else { "text" };
                view! { <input type=kind name=name required=f.required autocomplete="off" /> }
                    .into_any()
            };
            view! {
                <label>
                    <span>{f.label}{if f.required { " *" } else { "" }}</span>
                    {input}
                </label>
            }
        })
        .collect();
    let alarm_options: Vec<_> = names
        .iter()
        .map(|n| view! { <option value=n.clone()>{n.clone()}</option> })
        .collect();
    let project_options: Vec<_> = page
        .projects
        .iter()
        .map(|p| view! { <option value=p.clone()>{p.clone()}</option> })
        .collect();
    let trigger_boxes: Vec<_> = page
        .triggers
        .iter()
        .map(|t| view! { <label class="check"><input type="checkbox" name="trigger" value=t.clone() />{t.clone()}</label> })
        .collect();
    let notice = page.notice.map(|n| view! { <p class="notice">{n}</p> });
    let history_options: Vec<_> = page
        .projects
        .iter()
        .map(|p| {
            let selected = *p == page.history_project;
            view! { <option value=p.clone() selected=selected>{p.clone()}</option> }
        })
        .collect();
    let (events, history_project) = (page.events, page.history_project);
    let body = move || {
        view! {
            <h1>"Alarms"</h1>
            {notice}
            {if no_alarms {
                view! { <p class="muted">"No alarms yet: add one below (or with " <code>"POST /api/v1/alarms"</code> ")."</p> }.into_any()
            } else {
                view! {
                    <table>
                        <thead><tr><th>"Name"</th><th>"Kind"</th><th>"Fields"</th><th>"Projects and triggers"</th><th></th></tr></thead>
                        <tbody>{alarms}</tbody>
                    </table>
                }.into_any()
            }}
            <div class="forms">
                <form method="post" action="/alarms/new" class="card">
                    {csrf_input(visitor)}
                    <h2>"Add alarm"</h2>
                    <nav class="filters">{kind_links}</nav>
                    <input type="hidden" name="kind" value=page.kind.clone() />
                    <label><span>"Name *"</span><input type="text" name="name" required=true /></label>
                    {inputs}
                    <button type="submit">"Add"</button>
                </form>
                <form method="post" action="/alarms/connect" class="card">
                    {csrf_input(visitor)}
                    <h2>"App connections"</h2>
                    <label><span>"Project"</span><select name="project">{project_options}</select></label>
                    <label><span>"Alarm"</span><select name="alarm">{alarm_options}</select></label>
                    <div class="triggers">{trigger_boxes}</div>
                    <label><span>"Every Nth (for every_nth)"</span><input type="text" name="every_nth" value="0" /></label>
                    <label><span>"CPU % above (cpu_high)"</span><input type="text" name="cpu_above" /></label>
                    <label><span>"Process memory MiB above (memory_high)"</span><input type="text" name="memory_above_mib" /></label>
                    <label><span>"For seconds"</span><input type="text" name="for_seconds" value="300" /></label>
                    <label><span>"Environments (comma-separated; empty: all)"</span><input type="text" name="environments" placeholder="production, staging" /></label>
                    <button type="submit">"Connect"</button>
                </form>
            </div>
            <h2>"History " <form method="post" action="/alarms/clear" class="inline">{csrf_input(visitor)}<button type="submit">"Clear"</button></form></h2>
            <form method="get" action="/alarms" class="search">
                <select name="project">
                    <option value="">"all projects"</option>
                    {history_options}
                </select>
                <button type="submit">"Filter"</button>
            </form>
            <LiveHistory history=History { events } project=history_project />
        }
    };
    document("Alarms", Refresh::Never, visitor, body)
}
