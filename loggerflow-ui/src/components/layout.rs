//! The page frame: head, navigation, the logout button, and an optional
//! refresh.

use leptos::prelude::*;

use crate::model::Visitor;

/// The hidden input that proves a form was sent by our own page (CSRF).
pub fn csrf_input(visitor: &Visitor) -> impl IntoView + use<> {
    view! { <input type="hidden" name="csrf" value=visitor.csrf.clone() /> }
}

/// Whether a page reloads itself to show live state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresh {
    /// A static page.
    Never,
    /// Reload every so many seconds.
    Every(u32),
    /// Reload every so many seconds only without JavaScript: with it, the
    /// page's live island is updated by push instead.
    WithoutScript(u32),
}

/// A whole HTML document around what `body` builds. `body` runs inside a
/// reactive owner that is dropped with the render, so the signals of its
/// islands are freed after each request.
pub fn document<V: IntoView + 'static>(
    title: &str,
    refresh: Refresh,
    visitor: &Visitor,
    body: impl FnOnce() -> V,
) -> String {
    let owner = Owner::new();
    owner.with(|| frame(title, refresh, visitor, body()))
}

fn frame(
    title: &str,
    refresh: Refresh,
    visitor: &Visitor,
    body: impl IntoView + 'static,
) -> String {
    let title = format!("{title} · LoggerFlow");
    let refresh = match refresh {
        Refresh::Never => None,
        Refresh::Every(s) => {
            Some(view! { <meta http-equiv="refresh" content=s.to_string() /> }.into_any())
        }
        Refresh::WithoutScript(s) if crate::hydration::enabled() => Some(
            view! { <noscript><meta http-equiv="refresh" content=s.to_string() /></noscript> }
                .into_any(),
        ),
        Refresh::WithoutScript(s) => {
            Some(view! { <meta http-equiv="refresh" content=s.to_string() /> }.into_any())
        }
    };
    let account = visitor.user.clone().map(|user| {
        view! {
            <form method="post" action="/logout" class="inline account">
                {csrf_input(visitor)}
                <span class="muted">{user}</span>
                <button type="submit">"Log out"</button>
            </form>
        }
    });
    let page = view! {
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                {refresh}
                <title>{title}</title>
                <link rel="stylesheet" href=concat!("/assets/style.css?v=", env!("CARGO_PKG_VERSION")) />
                {crate::hydration::scripts()}
            </head>
            <body>
                <header class="top">
                    <a class="brand" href="/">"LoggerFlow"</a>
                    <nav>
                        <a href="/">"Projects"</a>
                        <a href="/alarms">"Alarms"</a>
                        <a href="/hidden">"Hidden"</a>
                        <a href="/settings">"Settings"</a>
                    </nav>
                    {account}
                </header>
                <main>{body}</main>
            </body>
        </html>
    };
    format!("<!DOCTYPE html>{}", page.to_html())
}

/// A page outside the frame's navigation (the login page).
pub fn bare_document(title: &str, body: impl IntoView + 'static) -> String {
    let title = format!("{title} · LoggerFlow");
    let page = view! {
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <title>{title}</title>
                <link rel="stylesheet" href=concat!("/assets/style.css?v=", env!("CARGO_PKG_VERSION")) />
            </head>
            <body>
                <header class="top"><span class="brand">"LoggerFlow"</span></header>
                <main>{body}</main>
            </body>
        </html>
    };
    format!("<!DOCTYPE html>{}", page.to_html())
}
