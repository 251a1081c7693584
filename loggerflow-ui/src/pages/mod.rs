//! The pages, one per file; each returns a whole HTML document.

mod alarms;
mod errors;
mod hidden;
mod login;
mod metrics;
mod projects;
mod releases;
mod report;
mod settings;

pub use alarms::alarms;
pub use errors::errors;
pub use hidden::hidden;
pub use login::login;
pub use metrics::metrics;
pub use projects::projects;
pub use releases::releases;
pub use report::report;
pub use settings::settings;

/// Percent-encodes a path segment (project names may hold anything).
pub fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
