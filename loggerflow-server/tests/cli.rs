//! The `loggerflow` binary starts, answers its health check, and fails
//! cleanly on a taken port.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

fn loggerflow() -> Command {
    Command::new(env!("CARGO_BIN_EXE_loggerflow"))
}

#[test]
fn run_serves_the_health_check() {
    let dir = tempfile::tempdir().expect("tempdir");
    let database = format!("sqlite://{}?mode=rwc", dir.path().join("lf.db").display());
    let mut child = loggerflow()
        .args([
            "run",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--disable-log",
            "-d",
            &database,
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start loggerflow");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("banner");
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .expect("the banner names the address")
        .to_owned();

    let mut stream = TcpStream::connect(&addr).expect("connect");
    write!(
        stream,
        "GET /api/v1/health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response");
    let _ = child.kill();
    let _ = child.wait();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains(r#""status":"ok""#), "{response}");
}

#[test]
fn a_taken_port_is_a_one_line_error_and_a_failure_exit() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port().to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    let output = loggerflow()
        .current_dir(dir.path())
        .args(["run", "--port", &port, "--disable-log"])
        .output()
        .expect("run");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("loggerflow: cannot listen on 127.0.0.1:"),
        "{stderr}"
    );
}

#[test]
fn a_bad_database_url_is_a_one_line_error() {
    for url in ["mysql://x@y/z", "postgres://nobody@127.0.0.1:1/none"] {
        let output = loggerflow()
            .args(["run", "--port", "0", "--disable-log", "-d", url])
            .output()
            .expect("run");
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.starts_with("loggerflow: "), "{stderr}");
    }
}
