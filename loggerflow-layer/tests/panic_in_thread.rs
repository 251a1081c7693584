//! Panics in any thread become reports once the layer is registered, and the
//! previously installed hook still runs.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use loggerflow_layer::sink::FileSink;
use loggerflow_layer::{LoggerFlowLayer, ReportKind};
use tracing_subscriber::prelude::*;

mod common;

#[test]
fn a_panicking_thread_becomes_a_report_and_the_previous_hook_runs() {
    let previous_calls = Arc::new(AtomicUsize::new(0));
    let counter = previous_calls.clone();
    std::panic::set_hook(Box::new(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    }));

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("panics.log");
    let memory = common::MemorySink::default();
    let layer = LoggerFlowLayer::builder("Panics")
        .sink(FileSink::new(&path))
        .sink(memory.clone())
        .build();
    let handle = layer.handle();
    tracing_subscriber::registry().with(layer).init();

    let worker = std::thread::Builder::new()
        .name("worker-7".into())
        .spawn(|| {
            let items: Vec<u32> = Vec::new();
            let _ = items.first().copied().expect("the list is never empty");
        })
        .expect("spawn");
    assert!(worker.join().is_err(), "the thread panicked");
    assert!(handle.flush(common::WAIT));

    assert_eq!(
        previous_calls.load(Ordering::SeqCst),
        1,
        "the previous hook ran"
    );
    let reports = memory.taken();
    assert_eq!(reports.len(), 1);
    let report = reports[0].report();
    assert_eq!(report.kind, ReportKind::Panic);
    assert_eq!(report.thread, "worker-7");
    assert_eq!(report.message, "the list is never empty");
    assert!(
        report
            .file
            .as_deref()
            .is_some_and(|f| f.ends_with("panic_in_thread.rs"))
    );
    let yours = report.innermost_yours().expect("the closure is your frame");
    assert!(yours.function.contains("panic_in_thread"), "{yours:?}");
    assert!(
        !report
            .frames
            .iter()
            .any(|f| f.function.contains("rust_panic_with_hook")),
        "panic machinery is stripped"
    );
    let text = std::fs::read_to_string(&path).expect("file");
    assert!(text.contains("panic: the list is never empty"), "{text}");
}
