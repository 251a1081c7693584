//! The layer's level applies to it alone: other layers see exactly what they
//! saw without it, and errors are captured even when other layers hide them.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use loggerflow_layer::LoggerFlowLayer;
use tracing::level_filters::LevelFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::prelude::*;

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("poisoned"))?
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Buffer {
    type Writer = Buffer;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Buffer {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().map(|b| b.clone()).unwrap_or_default()).unwrap_or_default()
    }
}

fn emit() {
    let span = tracing::debug_span!("debug_span", n = 1);
    let _e = span.enter();
    tracing::trace!("a trace line");
    tracing::debug!("a debug line");
    tracing::info!(answer = 42, "an info line");
    tracing::warn!("a warning");
    tracing::error!("an error");
}

fn fmt_layer(
    buffer: &Buffer,
) -> impl tracing_subscriber::Layer<tracing_subscriber::Registry> + use<> {
    tracing_subscriber::fmt::layer()
        .without_time()
        .with_ansi(false)
        .with_writer(buffer.clone())
        .with_filter(LevelFilter::INFO)
}

#[test]
fn fmt_sees_exactly_what_it_saw_without_the_layer() {
    let alone = Buffer::default();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(fmt_layer(&alone)), emit);

    let together = Buffer::default();
    let sink = common::MemorySink::default();
    let layer = LoggerFlowLayer::builder("Isolation")
        .sink(sink.clone())
        .span_level(tracing::Level::TRACE)
        .build();
    let handle = layer.handle();
    let subscriber = tracing_subscriber::registry()
        .with(fmt_layer(&together))
        .with(layer);
    tracing::subscriber::with_default(subscriber, emit);
    assert!(handle.flush(common::WAIT));

    assert!(alone.text().contains("an info line"));
    assert!(!alone.text().contains("a debug line"));
    assert_eq!(alone.text(), together.text());
    let reports = sink.taken();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].report().message, "an error");
    assert_eq!(
        reports[0].report().spans[0].name,
        "debug_span",
        "spans below INFO are kept when asked"
    );
}

#[test]
fn errors_are_captured_even_when_other_layers_hide_them() {
    let buffer = Buffer::default();
    let sink = common::MemorySink::default();
    let layer = LoggerFlowLayer::builder("Hidden")
        .sink(sink.clone())
        .build();
    let handle = layer.handle();
    let quiet = tracing_subscriber::fmt::layer()
        .with_writer(buffer.clone())
        .with_filter(LevelFilter::OFF);
    tracing::subscriber::with_default(tracing_subscriber::registry().with(quiet).with(layer), emit);
    assert!(handle.flush(common::WAIT));
    assert_eq!(buffer.text(), "");
    assert_eq!(sink.taken().len(), 1);
}

#[test]
fn a_lower_level_captures_warnings_too() {
    let sink = common::MemorySink::default();
    let layer = LoggerFlowLayer::builder("Warn")
        .sink(sink.clone())
        .level(tracing::Level::WARN)
        .build();
    let handle = layer.handle();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), emit);
    assert!(handle.flush(common::WAIT));
    let levels: Vec<_> = sink.taken().iter().map(|d| d.report().level).collect();
    assert_eq!(
        levels,
        [
            loggerflow_layer::Level::Warn,
            loggerflow_layer::Level::Error
        ]
    );
}
