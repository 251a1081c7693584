//! An `error!` really lands in a file, with its fields, error chain and spans.

mod common;

use std::fmt;

use loggerflow_layer::sink::FileSink;
use loggerflow_layer::{LoggerFlowLayer, TraceMode};
use tracing_subscriber::prelude::*;

#[derive(Debug)]
struct QueryError {
    source: std::io::Error,
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("query failed")
    }
}

impl std::error::Error for QueryError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

#[test]
fn an_error_event_lands_in_the_file_with_fields_chain_and_spans() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("nested/dir/test.log");
    let layer = LoggerFlowLayer::builder("TestProj")
        .sink(FileSink::new(&path))
        .with_backtrace(true)
        .trace_mode(TraceMode::Full)
        .build();
    let handle = layer.handle();
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("load_user", user_id = 7);
        let _entered = span.enter();
        let error = QueryError {
            source: std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by peer"),
        };
        tracing::info!("not captured: below ERROR");
        tracing::warn!("not captured either");
        tracing::error!(
            error = &error as &dyn std::error::Error,
            attempt = 3,
            "failed to load user {}",
            7
        );
    });
    assert!(handle.flush(common::WAIT), "flush timed out");

    let text = std::fs::read_to_string(&path).expect("the report file exists");
    assert_eq!(text.matches("=== TestProj | ERROR |").count(), 1, "{text}");
    assert!(text.contains("QueryError: failed to load user 7"), "{text}");
    assert!(text.contains("  0: reset by peer"), "{text}");
    assert!(text.contains("attempt=3"), "{text}");
    assert!(text.contains("error=query failed"), "{text}");
    assert!(
        text.contains("capture_to_file::load_user with user_id=7"),
        "{text}"
    );
    assert!(
        text.contains("> ") && text.contains("capture_to_file::an_error_event_lands"),
        "your frame is marked in the stack: {text}"
    );
    assert!(!text.contains("not captured"), "{text}");
    let stats = handle.stats();
    assert_eq!(stats.captured, 1);
    assert_eq!(stats.sinks[0].delivered, 1);
}

#[test]
fn each_trace_mode_renders_from_the_same_frames() {
    let dir = tempfile::tempdir().expect("tempdir");
    for mode in [TraceMode::Full, TraceMode::Clean, TraceMode::Minimal] {
        let path = dir.path().join(format!("{mode:?}.log"));
        let layer = LoggerFlowLayer::builder("Modes")
            .sink(FileSink::new(&path))
            .with_backtrace(true)
            .trace_mode(mode)
            .build();
        let handle = layer.handle();
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
            tracing::error!("mode check");
        });
        assert!(handle.flush(common::WAIT));
        let text = std::fs::read_to_string(&path).expect("file");
        let body: Vec<&str> = text.lines().skip(1).filter(|l| !l.is_empty()).collect();
        match mode {
            TraceMode::Minimal => {
                assert_eq!(body.len(), 1, "{text}");
                assert!(
                    body[0].starts_with("loggerflow-layer/tests/capture_to_file.rs:")
                        || body[0].starts_with("tests/capture_to_file.rs:"),
                    "{text}"
                );
                assert!(body[0].ends_with(" - mode check"), "{text}");
            }
            TraceMode::Clean => {
                assert!(text.contains("frames hidden"), "{text}");
                assert!(!text.contains("std::rt::lang_start"), "{text}");
                assert!(text.contains("capture_to_file::each_trace_mode"), "{text}");
            }
            TraceMode::Full => {
                assert!(
                    text.contains("core::ops::function::FnOnce::call_once"),
                    "{text}"
                );
                assert!(text.contains("capture_to_file::each_trace_mode"), "{text}");
            }
            _ => unreachable!("the loop runs only the three modes above"),
        }
    }
}

#[test]
fn excludes_by_text_type_and_target() {
    let sink = common::MemorySink::default();
    let layer = LoggerFlowLayer::builder("Excludes")
        .sink(sink.clone())
        .exclude("502 Bad Gateway")
        .exclude_error_type("ParseIntError")
        .exclude_target("noisy_dep")
        .build();
    let handle = layer.handle();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        tracing::error!("upstream said 502 Bad Gateway");
        let parse = "x".parse::<u8>().unwrap_err();
        tracing::error!(error = &parse as &dyn std::error::Error, "bad number");
        tracing::error!(target: "noisy_dep::pool", "pool exhausted");
        tracing::error!(target: "noisy_dependency", "kept: only whole path segments match");
        tracing::error!("kept");
    });
    assert!(handle.flush(common::WAIT));
    let messages: Vec<String> = sink
        .taken()
        .iter()
        .map(|d| d.report().message.clone())
        .collect();
    assert_eq!(messages, ["kept: only whole path segments match", "kept"]);
    assert_eq!(
        handle.stats().excluded,
        2,
        "text and type excludes are counted"
    );
}

#[test]
fn manual_capture_from_sync_and_async_code_returns_the_report_id() {
    let sink = common::MemorySink::default();
    let layer = LoggerFlowLayer::builder("Manual")
        .sink(sink.clone())
        .build();
    let handle = layer.handle();
    let subscriber = tracing_subscriber::registry().with(layer);
    let _default = tracing::subscriber::set_default(subscriber);

    let parse = "x".parse::<i32>().unwrap_err();
    let from_sync = loggerflow_layer::capture_error(&parse).expect("a layer is installed");
    let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(std::io::Error::other("disk"));
    let from_dyn = handle.capture_error(boxed.as_ref()).expect("captured");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let (from_async, from_panic) = runtime.block_on(async {
        let join = tokio::spawn(async { panic!("task blew up") }).await;
        let panic_id = match join {
            Err(e) if e.is_panic() => loggerflow_layer::capture_panic(&*e.into_panic()),
            _ => None,
        };
        let id =
            loggerflow_layer::capture_message("checkout degraded", loggerflow_layer::Level::Warn);
        (id, panic_id)
    });
    assert!(handle.flush(common::WAIT));

    let reports: Vec<_> = sink
        .taken()
        .into_iter()
        .map(|d| d.report().clone())
        .collect();
    let find = |id| reports.iter().find(|r| r.id == id).expect("delivered");
    let r = find(from_sync);
    assert_eq!(
        r.error.as_ref().map(|e| e.type_name.as_str()),
        Some("ParseIntError")
    );
    assert!(
        r.file
            .as_deref()
            .is_some_and(|f| f.ends_with("capture_to_file.rs"))
    );
    let r = find(from_dyn);
    assert_eq!(r.message, "disk");
    assert_eq!(r.error.as_ref().map(|e| e.message.as_str()), Some("disk"));
    let r = find(from_async.expect("installed"));
    assert_eq!(r.level, loggerflow_layer::Level::Warn);
    let r = find(from_panic.expect("installed"));
    assert_eq!(r.kind, loggerflow_layer::ReportKind::Panic);
    assert_eq!(r.message, "task blew up");
}

#[test]
fn an_unwritable_path_gives_a_clear_error_and_the_app_goes_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let blocker = dir.path().join("a-file");
    std::fs::write(&blocker, "not a directory").expect("write");
    let layer = LoggerFlowLayer::builder("Unwritable")
        .sink(FileSink::new(blocker.join("x.log")))
        .build();
    let handle = layer.handle();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        tracing::error!("cannot be written");
    });
    assert!(
        !handle.flush(common::WAIT),
        "the report was lost: flush says so"
    );
    let stats = handle.stats();
    assert_eq!(stats.sinks[0].failed, 1);
    let error = stats.sinks[0].last_error.clone().unwrap_or_default();
    assert!(error.starts_with("cannot create directory"), "{error}");
    assert!(error.contains("a-file"), "{error}");
}
