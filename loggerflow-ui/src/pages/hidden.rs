//! Hidden projects: return them to the projects page, or delete them with
//! everything they stored.

use leptos::prelude::*;

use super::segment;
use crate::components::layout::{Refresh, csrf_input, document};
use crate::model::{HiddenPage, Visitor};

/// The hidden projects page.
pub fn hidden(page: HiddenPage, visitor: &Visitor) -> String {
    let notice = page.notice.map(|n| view! { <p class="notice">{n}</p> });
    let body = if page.projects.is_empty() {
        view! {
            <h1>"Hidden projects"</h1>
            {notice}
            <p class="muted">"No hidden projects. Hide one from the projects page; it keeps receiving reports."</p>
        }
        .into_any()
    } else {
        let rows: Vec<_> = page
            .projects
            .into_iter()
            .map(|p| {
                let base = format!("/projects/{}", segment(&p.name));
                let confirm = format!(
                    "Delete {} and its {} report(s), metrics and alarm connections?",
                    p.name, p.error_count
                );
                view! {
                    <tr>
                        <td><a href=base.clone() class="project">{p.name}</a></td>
                        <td><span class=format!("status {}", p.status)>{p.status.clone()}</span></td>
                        <td class="num">{p.error_count}</td>
                        <td class="actions">
                            <form method="post" action=format!("{base}/unhide") class="inline">
                                {csrf_input(visitor)}
                                <button type="submit">"Return"</button>
                            </form>
                            <form method="post" action=format!("{base}/delete") class="inline">
                                {csrf_input(visitor)}
                                <label class="confirm"><input type="checkbox" name="confirm" value="yes" required=true title=confirm /> "sure"</label>
                                <button type="submit" class="danger">"Delete"</button>
                            </form>
                        </td>
                    </tr>
                }
            })
            .collect();
        view! {
            <h1>"Hidden projects"</h1>
            {notice}
            <p class="muted">"Hidden projects keep receiving reports. Delete removes a project with its reports, metrics and alarm connections; an app that reports again creates it anew."</p>
            <table class="projects">
                <thead><tr><th>"Project"</th><th>"Status"</th><th>"Errors"</th><th></th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
        }
        .into_any()
    };
    document("Hidden projects", Refresh::Never, visitor, move || body)
}
