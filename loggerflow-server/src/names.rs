//! The names people and apps give: projects, alarms and instances.
//!
//! A name is shown on pages, put in URLs, written to alarm files and logs,
//! and sent to chats. So it is bounded and may hold no control character
//! (a newline would start a line of its own in a file) and no invisible
//! formatting character (a right-to-left override would make it read as
//! another name). Anything else, any script or emoji, is fine.

use axum::http::StatusCode;

use crate::error::AppError;

/// The longest project or alarm name, in characters.
pub const MAX_NAME_CHARS: usize = 128;

/// The longest instance id, in characters (a Python client's instance is
/// its project's name with a prefix).
pub const MAX_INSTANCE_CHARS: usize = 200;

/// Whether `c` is an invisible or formatting character: Unicode's format
/// characters (category Cf: zero-width ones, bidirectional overrides and
/// isolates, tags), variation selectors, fillers that render as nothing, and
/// line and paragraph separators.
pub fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}'
        | '\u{034F}'
        | '\u{0600}'..='\u{0605}'
        | '\u{061C}'
        | '\u{06DD}'
        | '\u{070F}'
        | '\u{0890}'..='\u{0891}'
        | '\u{08E2}'
        | '\u{115F}'..='\u{1160}'
        | '\u{17B4}'..='\u{17B5}'
        | '\u{180B}'..='\u{180F}'
        | '\u{200B}'..='\u{200F}'
        | '\u{2028}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}'
        | '\u{3164}'
        | '\u{FE00}'..='\u{FE0F}'
        | '\u{FEFF}'
        | '\u{FFA0}'
        | '\u{FFF9}'..='\u{FFFB}'
        | '\u{110BD}'
        | '\u{110CD}'
        | '\u{13430}'..='\u{1343F}'
        | '\u{1BCA0}'..='\u{1BCA3}'
        | '\u{1D173}'..='\u{1D17A}'
        | '\u{E0000}'..='\u{E0FFF}')
}

/// Checks a name of `what` (`project`, `alarm`, `instance`) against `max`
/// characters; the reason it is refused otherwise.
pub fn check(what: &str, name: &str, max: usize) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err(format!("the {what} name is empty"));
    }
    let chars = name.chars().count();
    if chars > max {
        return Err(format!(
            "the {what} name has {chars} characters; at most {max} are allowed"
        ));
    }
    // a path segment of only dots is read as `.` or `..` by every URL
    // parser: no page, no API path, no link could name it
    if name.chars().all(|c| c == '.') {
        return Err(format!(
            "the {what} name `{name}` is only dots, which no URL can hold"
        ));
    }
    if let Some(c) = name.chars().find(|c| c.is_control() || is_invisible(*c)) {
        return Err(format!(
            "the {what} name holds the control or invisible character U+{:04X}; names are printable text",
            u32::from(c)
        ));
    }
    Ok(())
}

/// [`check`] as the 400 `invalid_name` it answers.
pub fn valid(what: &str, name: &str, max: usize) -> Result<(), AppError> {
    check(what, name, max).map_err(|m| AppError::new(StatusCode::BAD_REQUEST, "invalid_name", m))
}

/// A project name, or 400 `invalid_name`.
pub fn project(name: &str) -> Result<(), AppError> {
    valid("project", name, MAX_NAME_CHARS)
}

/// An alarm name, or 400 `invalid_name`.
pub fn alarm(name: &str) -> Result<(), AppError> {
    valid("alarm", name, MAX_NAME_CHARS)
}

/// An instance id, or 400 `invalid_name`.
pub fn instance(id: &str) -> Result<(), AppError> {
    valid("instance", id, MAX_INSTANCE_CHARS)?;
    // the ids the server makes for Python clients (each Python websocket
    // connection is an instance the sweeper may forget once replaced)
    if id.starts_with("py-webhook:") || id.starts_with("py-websocket:") {
        return Err(AppError::bad_request(
            "invalid_instance",
            "instance ids starting with `py-webhook:` or `py-websocket:` are the server's own \
             (for Python clients): choose another",
        ));
    }
    Ok(())
}

/// `text` cut to at most `max` characters (for values that are shown but
/// need not be refused, such as a host name).
pub fn bounded(text: &str, max: usize) -> String {
    text.chars()
        .filter(|c| !c.is_control() && !is_invisible(*c))
        .take(max)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_names_of_any_script_pass() {
        for name in ["shop", "My Shop", "магазин", "店 🛒", "a-b_c.d:e/f", "👍🏽"] {
            assert!(check("project", name, MAX_NAME_CHARS).is_ok(), "{name}");
        }
    }

    #[test]
    fn names_of_only_dots_are_refused() {
        for name in [".", "..", "..."] {
            assert!(check("project", name, MAX_NAME_CHARS).is_err(), "{name}");
        }
        assert!(check("project", "..a", MAX_NAME_CHARS).is_ok());
    }

    #[test]
    fn the_python_clients_instance_ids_are_reserved() {
        for id in ["py-websocket:Shop:abc", "py-webhook:Shop"] {
            assert!(instance(id).is_err(), "{id}");
        }
        assert!(instance("py-worker-1").is_ok());
    }

    #[test]
    fn control_invisible_long_and_empty_names_are_refused() {
        for name in [
            "x\nANY LINE\n",
            "a\rb",
            "tab\there",
            "\u{1b}[31mred",
            "evil\u{202e}gpj.exe",
            "zero\u{200b}width",
            "tag\u{E0041}",
            "filler\u{3164}",
            "selector\u{FE0F}",
            "nul\0",
            "",
            "   ",
        ] {
            assert!(check("project", name, MAX_NAME_CHARS).is_err(), "{name:?}");
        }
        assert!(check("project", &"a".repeat(129), MAX_NAME_CHARS).is_err());
        assert!(check("project", &"é".repeat(128), MAX_NAME_CHARS).is_ok());
    }

    #[test]
    fn bounded_drops_control_characters() {
        assert_eq!(bounded("host\nname", 100), "hostname");
        assert_eq!(bounded("abcdef", 3), "abc");
    }
}
