//! Pieces the pages share, one per file.

pub mod chart;
pub mod format;
pub mod layout;
