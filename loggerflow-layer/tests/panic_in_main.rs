//! A panicking `main` still delivers its report: this test runs itself as a
//! child process whose main thread panics, then reads the child's file.

use std::process::Command;
use std::time::Duration;

use loggerflow_layer::LoggerFlowLayer;
use loggerflow_layer::sink::FileSink;
use tracing_subscriber::prelude::*;

const CHILD: &str = "LOGGERFLOW_TEST_CHILD_FILE";

fn main() {
    if let Ok(path) = std::env::var(CHILD) {
        child(&path);
    }
    parent();
    println!("test panic_in_main ... ok");
}

fn child(path: &str) {
    let layer = LoggerFlowLayer::builder("PanicMain")
        .sink(FileSink::new(path))
        .panic_flush_timeout(Duration::from_secs(10))
        .build();
    // no flush guard on purpose: only the panic hook's flush can deliver
    tracing_subscriber::registry().with(layer).init();
    let config = std::env::var("LOGGERFLOW_TEST_UNSET_CONFIG").ok();
    let _ = config.expect("config file is missing");
}

fn parent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("main.log");
    let exe = std::env::current_exe().expect("current exe");
    let output = Command::new(exe)
        .env(CHILD, &path)
        .output()
        .expect("run the child");
    assert!(!output.status.success(), "the child panicked");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("config file is missing"),
        "the default hook still printed: {stderr}"
    );
    let text = std::fs::read_to_string(&path).expect("the child wrote its report");
    assert!(text.contains("=== PanicMain | ERROR |"), "{text}");
    assert!(text.contains("panic: config file is missing"), "{text}");
    assert!(text.contains("Thread: main"), "{text}");
    assert!(text.contains("panic_in_main::child"), "{text}");
    if std::env::var_os("LOGGERFLOW_SHOW").is_some() {
        println!("{text}");
    }
}
