//! The page frame: head, navigation, and an optional refresh.

use leptos::prelude::*;

/// A whole HTML document around `body`. `refresh_s` reloads the page every
/// so many seconds (live state without JavaScript).
pub fn document(title: &str, refresh_s: Option<u32>, body: impl IntoView + 'static) -> String {
    let title = format!("{title} · LoggerFlow");
    let refresh = refresh_s.map(|s| view! { <meta http-equiv="refresh" content=s.to_string() /> });
    let page = view! {
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                {refresh}
                <title>{title}</title>
                <link rel="stylesheet" href=concat!("/assets/style.css?v=", env!("CARGO_PKG_VERSION")) />
            </head>
            <body>
                <header class="top">
                    <a class="brand" href="/">"LoggerFlow"</a>
                    <nav>
                        <a href="/">"Projects"</a>
                        <a href="/alarms">"Alarms"</a>
                    </nav>
                </header>
                <main>{body}</main>
            </body>
        </html>
    };
    format!("<!DOCTYPE html>{}", page.to_html())
}
