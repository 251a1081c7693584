//! The login page (when the server runs with `--auth`).

use leptos::prelude::*;

use crate::components::layout::bare_document;

/// The login form; `next` is where a successful login goes, `error` what
/// went wrong last time.
pub fn login(next: &str, error: Option<&str>) -> String {
    let error = error.map(|e| view! { <p class="notice error">{e.to_owned()}</p> });
    let body = view! {
        <section class="login">
            <h1>"Log in"</h1>
            {error}
            <form method="post" action="/login" class="card">
                <input type="hidden" name="next" value=next.to_owned() />
                <label>"User" <input name="user" autocomplete="username" required=true autofocus=true /></label>
                <label>"Password" <input type="password" name="password" autocomplete="current-password" required=true /></label>
                <button type="submit">"Log in"</button>
            </form>
        </section>
    };
    bare_document("Log in", body)
}
