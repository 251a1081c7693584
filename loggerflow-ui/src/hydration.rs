//! Hydration: how pages load the wasm bundle, and what the bundle does.
//!
//! The bundle is this crate built for `wasm32-unknown-unknown` with the
//! `hydrate` feature (`scripts/bundle` does it, no downloaded tools). The
//! server embeds it and calls [`enable`]; from then on every page links
//! `/pkg/boot.js`, which loads the bundle and hydrates each island. Without
//! it (or without JavaScript) pages are complete HTML: links, plain forms,
//! and a refresh where a page shows live state.

/// The name of the bundle's files: `/pkg/loggerflow_ui.js` and
/// `/pkg/loggerflow_ui_bg.wasm`.
pub const BUNDLE_NAME: &str = "loggerflow_ui";

/// The script that loads the bundle and hydrates the islands of a page,
/// served as `/pkg/boot.js` (a file, not inline, so the pages' content
/// security policy can forbid inline scripts).
pub const BOOT_JS: &str = include_str!("boot.js");

#[cfg(feature = "ssr")]
static VERSION: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Makes every page load the bundle; `version` (a hash of the bundle) is
/// added to its URLs so browsers never run a stale one. The server calls
/// this once, when it has a bundle to serve.
#[cfg(feature = "ssr")]
pub fn enable(version: &str) {
    let _ = VERSION.set(version.to_owned());
}

/// Whether pages load the bundle.
#[cfg(feature = "ssr")]
pub fn enabled() -> bool {
    VERSION.get().is_some()
}

/// The `<script>` that boots the bundle, if [`enable`]d.
#[cfg(feature = "ssr")]
pub fn scripts() -> impl leptos::IntoView + use<> {
    use leptos::prelude::*;
    VERSION.get().map(|version| {
        view! {
            <script type="module" src=format!("/pkg/boot.js?v={version}") data-version=version.clone()></script>
        }
    })
}

/// Without `ssr` (the bundle itself) pages are never rendered.
#[cfg(not(feature = "ssr"))]
pub fn enabled() -> bool {
    false
}

/// Without `ssr` (the bundle itself) pages are never rendered.
#[cfg(not(feature = "ssr"))]
pub fn scripts() -> impl leptos::IntoView + use<> {}

/// The bundle's entry point, called by `boot.js` before it hydrates the
/// islands.
#[cfg(feature = "hydrate")]
#[leptos::wasm_bindgen::prelude::wasm_bindgen(wasm_bindgen = ::leptos::wasm_bindgen)]
pub fn hydrate() {
    leptos::mount::hydrate_islands();
}

/// Replaces the address bar's URL without a reload (after a switch that
/// changed what the page shows, so the address can be shared).
pub fn replace_url(url: &str) {
    #[cfg(feature = "hydrate")]
    if let Some(history) = web_sys::window().and_then(|w| w.history().ok()) {
        let _ = history.replace_state_with_url(&leptos::wasm_bindgen::JsValue::NULL, "", Some(url));
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = url;
}
