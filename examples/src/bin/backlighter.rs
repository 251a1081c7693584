//! The TracebackBacklighter in development: a panic, or an error returned
//! from `main`, printed with your own frames lit.
//!
//! Run with: `RUST_BACKTRACE=1 cargo run -p loggerflow-examples --bin backlighter -- clean`
//! (`myline`, `clean` or `none`; add `error` to return an error from main
//! instead of panicking).

use loggerflow_layer::{Backlight, BacklitError, Color, TracebackBacklighter};
use tracing_subscriber::prelude::*;

fn main() -> Result<(), BacklitError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let backlight = match args.first().map(String::as_str) {
        Some("clean") => Backlight::Clean,
        Some("none") => Backlight::None,
        _ => Backlight::MyLine,
    };
    TracebackBacklighter::new()
        .backlight(backlight)
        .color(Color::Red)
        .install();
    // span traces come from tracing-error's layer
    tracing_subscriber::registry()
        .with(tracing_error::ErrorLayer::default())
        .init();

    let span = tracing::info_span!("import", file = "users.csv");
    let _entered = span.enter();
    if args.iter().any(|a| a == "error") {
        let age: u32 = read_age("forty-two")?;
        println!("{age}");
    } else {
        let total: u32 = ["1", "2", "three"].iter().map(|row| parse_row(row)).sum();
        println!("{total}");
    }
    Ok(())
}

fn read_age(text: &str) -> Result<u32, std::num::ParseIntError> {
    text.parse()
}

fn parse_row(row: &str) -> u32 {
    row.parse().expect("every row is a number")
}
