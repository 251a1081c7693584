//! The backlighter's output on a real panic in a child process, with colour
//! forced and with colour off, in MyLine and Clean modes.
//!
//! This test runs itself as the child (so the frames are real frames of a
//! real `main`), then snapshots what the child printed on stderr.

use std::process::Command;

use loggerflow_layer::{Backlight, Color, TracebackBacklighter};
use tracing_subscriber::prelude::*;

const MODE: &str = "LOGGERFLOW_TEST_BACKLIGHT";

fn main() {
    if let Ok(mode) = std::env::var(MODE) {
        child(&mode);
        return;
    }
    let mut passed = 0;
    for (mode, colour) in [
        ("myline", true),
        ("myline", false),
        ("clean", true),
        ("clean", false),
    ] {
        let name = format!("{mode}_{}", if colour { "colour" } else { "plain" });
        let stderr = run_child(mode, colour);
        insta::with_settings!({
            filters => vec![
                (r"/rustc/[0-9a-f]{40}/", "/rustc/[hash]/"),
                (r"(?m)^(\s+\d+: )?thread '[^']*' \(\d+\)", "$1thread [id]"),
            ],
            snapshot_path => "snapshots",
            prepend_module_to_snapshot => false,
        }, {
            insta::assert_snapshot!(name.as_str(), stderr);
        });
        passed += 1;
    }
    println!("backlight snapshots: {passed} passed, 0 failed");
}

fn run_child(mode: &str, colour: bool) -> String {
    let mut command = Command::new(std::env::current_exe().expect("current exe"));
    command
        .env(MODE, mode)
        .env_remove("NO_COLOR")
        .env_remove("FORCE_COLOR");
    if colour {
        command.env("FORCE_COLOR", "1");
    } else {
        command.env("NO_COLOR", "1");
    }
    let output = command.output().expect("run the child");
    assert!(!output.status.success(), "the child panicked");
    // escape codes shown visibly, so the snapshot file stays readable
    String::from_utf8_lossy(&output.stderr).replace('\u{1b}', "␛")
}

fn child(mode: &str) {
    let backlight = if mode == "clean" {
        Backlight::Clean
    } else {
        Backlight::MyLine
    };
    TracebackBacklighter::new()
        .backlight(backlight)
        .color(Color::Red)
        .with_backtrace(true)
        .install();
    tracing_subscriber::registry()
        .with(tracing_error::ErrorLayer::default())
        .init();
    let span = tracing::info_span!("import", file = "users.csv");
    let _entered = span.enter();
    let total = sum_rows(&["1", "2", "three"]);
    println!("{total}");
}

fn sum_rows(rows: &[&str]) -> u32 {
    rows.iter().map(|row| parse_row(row)).sum()
}

#[inline(never)]
fn parse_row(row: &str) -> u32 {
    row.parse().expect("every row is a number")
}
