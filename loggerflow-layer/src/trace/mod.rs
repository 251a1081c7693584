//! Stack traces: capturing and resolving frames, deciding which frames are
//! yours, and rendering a report as `full`, `clean` or `minimal` text.

pub mod classify;
pub(crate) mod frames;
pub mod render;

use serde::{Deserialize, Serialize};

/// How much of a report's stack a rendering shows.
///
/// The modes are computed from structured, classified frames (never by
/// filtering text), so the same [`Report`](crate::Report) can be shown in any
/// mode later: the dashboard offers all three.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TraceMode {
    /// Every frame, yours marked.
    #[default]
    Full,
    /// Only frames of your own crates (all frames when none are yours), with a
    /// marker where frames were hidden.
    Clean,
    /// One line: `file.rs:LINE - message` of your innermost frame.
    Minimal,
}

impl std::str::FromStr for TraceMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "full" => Ok(Self::Full),
            "clean" => Ok(Self::Clean),
            "minimal" => Ok(Self::Minimal),
            other => Err(format!(
                "unknown trace mode `{other}`: expected full, clean or minimal"
            )),
        }
    }
}
