//! Backlit rendering of errors and of reports captured by the layer.

mod common;

use std::fmt;

use loggerflow_layer::{Backlight, BacklitError, LoggerFlowLayer, TracebackBacklighter};
use tracing_subscriber::prelude::*;

#[derive(Debug)]
struct ConfigError(std::io::Error);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("cannot read the configuration")
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

fn failing() -> Result<(), ConfigError> {
    Err(ConfigError(std::io::Error::new(
        std::io::ErrorKind::NotFound,
        "app.toml: no such file",
    )))
}

#[test]
fn an_error_renders_with_its_chain_spans_and_lit_frames() {
    let subscriber = tracing_subscriber::registry().with(tracing_error::ErrorLayer::default());
    let text = tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("load_config", path = "app.toml");
        let _entered = span.enter();
        let error = failing().expect_err("fails");
        TracebackBacklighter::new()
            .colored(false)
            .with_backtrace(true)
            .render_error(&error)
    });
    assert!(
        text.starts_with("Error\nMessage:  cannot read the configuration\n"),
        "{text}"
    );
    assert!(
        text.contains("Caused by:\n  0: app.toml: no such file"),
        "{text}"
    );
    assert!(
        text.contains("backlight_render::load_config with path=\"app.toml\""),
        "{text}"
    );
    assert!(
        text.contains("> ") && text.contains("backlight_render::an_error_renders"),
        "{text}"
    );
    assert!(
        !text.contains('\u{1b}'),
        "no escape codes when colour is off"
    );
}

#[test]
fn without_a_backtrace_the_output_says_how_to_get_one() {
    let error = failing().expect_err("fails");
    let text = TracebackBacklighter::new()
        .colored(false)
        .with_backtrace(false)
        .render_error(&error);
    assert!(text.contains("Run with RUST_LIB_BACKTRACE=1"), "{text}");
}

#[test]
fn backlit_error_prints_through_debug_for_main() {
    fn run() -> Result<(), BacklitError> {
        failing()?;
        Ok(())
    }
    let error = run().expect_err("fails");
    assert_eq!(error.to_string(), "cannot read the configuration");
    let debug = format!("{error:?}");
    assert!(debug.contains("cannot read the configuration"), "{debug}");
    assert!(debug.contains("0: app.toml: no such file"), "{debug}");
}

#[test]
fn a_captured_report_renders_backlit_with_spans_from_the_layer() {
    let sink = common::MemorySink::default();
    let layer = LoggerFlowLayer::builder("Backlit")
        .sink(sink.clone())
        .with_backtrace(true)
        .build();
    let handle = layer.handle();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        let span = tracing::info_span!("checkout", order = 7);
        let _e = span.enter();
        tracing::error!("payment failed");
    });
    assert!(handle.flush(common::WAIT));
    let report = sink.taken()[0].report().clone();
    let clean = TracebackBacklighter::new()
        .backlight(Backlight::Clean)
        .colored(false)
        .render_report(&report);
    assert!(
        clean.starts_with("[Backlit] ERROR in backlight_render"),
        "{clean}"
    );
    assert!(
        clean.contains("backlight_render::checkout with order=7"),
        "{clean}"
    );
    assert!(clean.contains("frames hidden"), "{clean}");
    assert!(!clean.contains("core::ops::function"), "{clean}");
    let lit = TracebackBacklighter::new()
        .colored(true)
        .render_report(&report);
    assert!(
        lit.contains("\u{1b}[31;1m"),
        "your frames are bold red: {lit}"
    );
    assert!(
        lit.contains("\u{1b}[2m"),
        "dependency frames are dim: {lit}"
    );
}
