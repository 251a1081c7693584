//! The examples run and their reports land where they say.

use std::process::Command;

fn run(bin: &str, args: &[&str], envs: &[(&str, &str)]) -> (String, std::process::Output) {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("example.log");
    let exe = match bin {
        "file_sink" => env!("CARGO_BIN_EXE_file_sink"),
        "excludes" => env!("CARGO_BIN_EXE_excludes"),
        "panic_thread" => env!("CARGO_BIN_EXE_panic_thread"),
        "tokio_task" => env!("CARGO_BIN_EXE_tokio_task"),
        "axum_service" => env!("CARGO_BIN_EXE_axum_service"),
        "custom_sink" => env!("CARGO_BIN_EXE_custom_sink"),
        "multiple_sinks" => env!("CARGO_BIN_EXE_multiple_sinks"),
        "backlighter" => env!("CARGO_BIN_EXE_backlighter"),
        "telegram" => env!("CARGO_BIN_EXE_telegram"),
        other => panic!("unknown example {other}"),
    };
    let output = Command::new(exe)
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE")
        .envs(envs.iter().copied())
        .env("LOGGERFLOW_EXAMPLE_LOG", &log)
        .current_dir(dir.path())
        .output()
        .expect("run the example");
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    (text, output)
}

#[test]
fn file_sink_in_each_mode() {
    let (clean, out) = run("file_sink", &["clean"], &[]);
    assert!(out.status.success());
    assert!(
        clean.contains("ParseIntError: cannot import a row"),
        "{clean}"
    );
    assert!(
        clean.contains("file_sink::import with file=\"users.csv\""),
        "{clean}"
    );
    let (minimal, _) = run("file_sink", &["minimal"], &[]);
    let body: Vec<&str> = minimal.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(body.len(), 2, "{minimal}");
    assert!(
        body[1].contains("file_sink.rs:33 - ParseIntError: cannot import a row"),
        "{minimal}"
    );
    let (_, bad) = run("file_sink", &["verbose"], &[]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown trace mode `verbose`"));
}

#[test]
fn excludes_leave_one_report() {
    let (text, out) = run("excludes", &[], &[]);
    assert!(out.status.success());
    assert_eq!(text.matches("=== Excludes").count(), 1, "{text}");
    assert!(text.contains("the one that is reported"));
    assert!(String::from_utf8_lossy(&out.stdout).contains("excluded: 2"));
}

#[test]
fn a_panicking_thread_is_reported() {
    let (text, _) = run("panic_thread", &[], &[]);
    assert!(text.contains("panic: rows are numbers"), "{text}");
    assert!(text.contains("Thread: importer"), "{text}");
    assert!(text.contains("panic_thread::import"), "{text}");
}

#[test]
fn a_failed_and_a_panicked_task_are_reported() {
    let (text, out) = run("tokio_task", &[], &[]);
    assert!(out.status.success());
    assert!(text.contains("the mail relay refused batch 1"), "{text}");
    assert_eq!(
        text.matches("panic: batch 2 has no recipients").count(),
        1,
        "the hook's report, not a second one from the supervisor: {text}"
    );
}

#[test]
fn axum_handler_errors_are_reported_with_their_id() {
    let (text, out) = run("axum_service", &[], &[("LOGGERFLOW_EXAMPLE_ONCE", "1")]);
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let id = stdout
        .split("\"report\":\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the response names the report");
    assert!(text.contains(id), "the file holds report {id}: {text}");
    assert!(
        text.contains("AppError: the user id is not a number"),
        "{text}"
    );
    assert!(text.contains("0: invalid digit found in string"), "{text}");
}

#[test]
fn the_backlighter_prints_only_your_frames_in_clean_mode() {
    let (_, out) = run(
        "backlighter",
        &["clean"],
        &[("NO_COLOR", "1"), ("RUST_BACKTRACE", "1")],
    );
    assert_eq!(out.status.code(), Some(101), "it panicked");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("The application panicked (crashed)."),
        "{stderr}"
    );
    assert!(stderr.contains("backlighter::parse_row"), "{stderr}");
    assert!(
        stderr.contains(r#"row.parse().expect("every row is a number")"#),
        "{stderr}"
    );
    assert!(stderr.contains("frames hidden"), "{stderr}");
    assert!(
        !stderr.contains("thread 'main' panicked"),
        "the default hook's message is replaced"
    );
    assert!(!stderr.contains('\u{1b}'), "NO_COLOR: no escape codes");
}

#[test]
fn multiple_sinks_writes_the_file_and_stderr() {
    let (text, out) = run("multiple_sinks", &[], &[]);
    assert!(out.status.success());
    assert!(
        text.contains("payment provider rejected the card"),
        "{text}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("[Multi] examples/src/bin/multiple_sinks.rs:"),
        "{stderr}"
    );
}

#[test]
fn the_telegram_example_says_which_variable_is_missing() {
    let (_, out) = run("telegram", &[], &[]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("set TELEGRAM_TOKEN"), "{stderr}");
}
