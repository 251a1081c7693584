//! What the backlighter highlights, in which colour, and whether colour is on.

use std::io::IsTerminal;

use owo_colors::{AnsiColors, Style};

/// Which frames the backlighter lights (the model's `backlight=`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Backlight {
    /// Every frame; yours bold and coloured, dependencies dim (`'myline'`).
    #[default]
    MyLine,
    /// Only your frames, with a `⋮ N frames hidden ⋮` marker where frames
    /// were dropped (`'clean'`).
    Clean,
    /// Every frame, nothing highlighted.
    None,
}

/// The colour of your frames (the model's `color=`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
#[non_exhaustive]
pub enum Color {
    #[default]
    Red,
    Green,
    Yellow,
    Blue,
    Magenta,
    Cyan,
    White,
}

impl Color {
    fn ansi(self) -> AnsiColors {
        match self {
            Color::Red => AnsiColors::Red,
            Color::Green => AnsiColors::Green,
            Color::Yellow => AnsiColors::Yellow,
            Color::Blue => AnsiColors::Blue,
            Color::Magenta => AnsiColors::Magenta,
            Color::Cyan => AnsiColors::Cyan,
            Color::White => AnsiColors::White,
        }
    }
}

/// The styles of one rendering; all plain when colour is off.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Palette {
    pub(crate) yours: Style,
    pub(crate) yours_location: Style,
    pub(crate) dependency: Style,
    pub(crate) heading: Style,
    pub(crate) message: Style,
    pub(crate) colored: bool,
}

impl Palette {
    pub(crate) fn new(backlight: Backlight, color: Color, colored: bool) -> Self {
        let plain = Style::new();
        if !colored {
            return Self {
                yours: plain,
                yours_location: plain,
                dependency: plain,
                heading: plain,
                message: plain,
                colored: false,
            };
        }
        let lit = backlight != Backlight::None;
        Self {
            yours: if lit {
                Style::new().bold().color(color.ansi())
            } else {
                plain
            },
            yours_location: if lit {
                Style::new().color(color.ansi())
            } else {
                plain
            },
            dependency: if lit { Style::new().dimmed() } else { plain },
            heading: Style::new().bold(),
            message: Style::new().bold().color(AnsiColors::Cyan),
            colored: true,
        }
    }
}

/// Whether stderr gets colour: `NO_COLOR` (set, not empty) turns it off,
/// `FORCE_COLOR` (set, not empty, not `0`) turns it on, otherwise only when
/// stderr is a terminal. `NO_COLOR` wins when both are set.
pub fn colour_wanted() -> bool {
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    if set("NO_COLOR") {
        return false;
    }
    if set("FORCE_COLOR") {
        return std::env::var_os("FORCE_COLOR").is_some_and(|v| v != "0");
    }
    std::io::stderr().is_terminal()
}

/// Whether a backtrace is wanted: `var` first (`RUST_BACKTRACE` for
/// panics, `RUST_LIB_BACKTRACE` for errors), then `RUST_BACKTRACE`.
pub(crate) fn backtrace_wanted(var: &str) -> bool {
    let value = std::env::var(var).or_else(|_| std::env::var("RUST_BACKTRACE"));
    matches!(value.as_deref(), Ok(v) if v != "0")
}
