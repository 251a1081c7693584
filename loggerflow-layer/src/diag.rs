//! LoggerFlow's own messages to stderr, which must never panic (`eprintln!`
//! panics when stderr is closed, e.g. `app 2>&1 | head`).

use std::fmt;
use std::io::Write as _;

/// Writes `loggerflow: {message}` to stderr, ignoring write errors.
pub(crate) fn warn(message: fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stderr().lock(), "loggerflow: {message}");
}
