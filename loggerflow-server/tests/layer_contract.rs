//! The layer's promises against a real `loggerflow` process: `flush()`
//! returns once the server acknowledged (an app that flushes and exits at
//! once loses nothing), says so when it could not, a layer with two guards
//! stays online until the last one goes, and both lifecycle sinks speak TLS
//! (`https://`, `wss://`) to a server behind a TLS terminator.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Backend, Db, Server, project};
use loggerflow_layer::lifecycle::{WebSocketLifecycle, WebhookLifecycle};
use loggerflow_layer::{Handle, LoggerFlowLayer};
use tracing_subscriber::prelude::*;

/// Starts an app: a layer named `name` with the lifecycle sink `kind`
/// ("webhook" or "websocket") to `base` (`http(s)://host:port`), trusting
/// `roots` when given, as the process's global subscriber.
fn start_app(kind: &str, base: &str, roots: Option<&Path>, name: &str) -> Handle {
    let url = format!("{base}/loggerflow/");
    let builder = LoggerFlowLayer::builder(name)
        .capture_panics(false)
        .queue_capacity(4096);
    let builder = if kind == "websocket" {
        let mut sink = WebSocketLifecycle::new(url.replacen("http", "ws", 1))
            .heartbeat(Duration::from_secs(1));
        if let Some(roots) = roots {
            sink = sink.root_certificates(roots);
        }
        builder.sink(sink)
    } else {
        let mut sink = WebhookLifecycle::new(url).heartbeat(Duration::from_secs(1));
        if let Some(roots) = roots {
            sink = sink.root_certificates(roots);
        }
        builder.sink(sink)
    };
    let layer: LoggerFlowLayer = builder.build();
    let handle = layer.handle();
    // the layer lives as long as the process
    let _ = tracing_subscriber::registry().with(layer).try_init();
    handle
}

/// Run as a child process (see `run_app`): captures `LF_COUNT` errors,
/// flushes, prints what the flush said and exits at once, with no guard
/// and no goodbye.
#[test]
fn child_app() {
    let (Ok(kind), Ok(base), Ok(name), Ok(count)) = (
        std::env::var("LF_KIND"),
        std::env::var("LF_BASE"),
        std::env::var("LF_NAME"),
        std::env::var("LF_COUNT"),
    ) else {
        return; // not a child: nothing to do
    };
    let roots = std::env::var("LF_ROOTS").ok();
    let count: usize = count.parse().unwrap_or(0);
    let flush_s: u64 = std::env::var("LF_FLUSH_S")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let handle = start_app(&kind, &base, roots.as_deref().map(Path::new), &name);
    for i in 0..count {
        tracing::error!(i, "order {i} failed");
    }
    let started = Instant::now();
    let flushed = handle.flush(Duration::from_secs(flush_s));
    let stats = handle.stats();
    println!(
        "flushed={flushed} delivered={} captured={} took_ms={}",
        stats.sinks[0].delivered,
        stats.captured,
        started.elapsed().as_millis()
    );
    std::process::exit(0);
}

/// What the child app printed.
struct Flushed {
    flushed: bool,
    delivered: u64,
    captured: u64,
}

fn run_app(kind: &str, base: &str, name: &str, count: usize, env: &[(&str, &str)]) -> Flushed {
    let output = Command::new(std::env::current_exe().expect("the test binary"))
        .args(["child_app", "--exact", "--nocapture", "--test-threads=1"])
        .env("LF_KIND", kind)
        .env("LF_BASE", base)
        .env("LF_NAME", name)
        .env("LF_COUNT", count.to_string())
        .envs(env.iter().copied())
        .output()
        .expect("run the child app");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        // after libtest's "test child_app ... " on the same line
        .find_map(|l| l.find("flushed=").map(|at| &l[at..]))
        .unwrap_or_else(|| {
            panic!(
                "the child printed no result: {stdout}\n{}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
    let field = |key: &str| -> String {
        line.split(' ')
            .find_map(|kv| kv.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
            .unwrap_or_default()
            .to_owned()
    };
    Flushed {
        flushed: field("flushed") == "true",
        delivered: field("delivered").parse().unwrap_or(0),
        captured: field("captured").parse().unwrap_or(0),
    }
}

async fn error_count(server: &Server, name: &str) -> i64 {
    let projects = server.get("/api/v1/projects").await;
    project(&projects, name)
        .and_then(|p| p["error_count"].as_i64())
        .unwrap_or(0)
}

/// 1,000 reports, `flush()`, `exit` at once: every one is stored by the
/// time the flush returned, for both sinks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_that_flushes_and_exits_loses_nothing() {
    let db = Db::new(Backend::Sqlite).await;
    let server = Server::start(&db.url, &[]);
    for kind in ["webhook", "websocket"] {
        let name = format!("FlushExit_{kind}");
        let result = run_app(kind, &server.base, &name, 1000, &[]);
        assert_eq!(result.captured, 1000, "{kind}");
        assert!(result.flushed, "{kind}: the flush said something was lost");
        assert_eq!(result.delivered, 1000, "{kind}: delivered counts acks");
        // acknowledged means committed: no waiting here
        assert_eq!(error_count(&server, &name).await, 1000, "{kind}");
    }
}

/// The release and environment the deployment names
/// (`LOGGERFLOW_RELEASE`, `LOGGERFLOW_ENVIRONMENT`) go from `error!` to the
/// server: in the hello (the app's row), in every report, and to the
/// filters of the API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_release_and_environment_of_a_deployment_reach_the_api() {
    let db = Db::new(Backend::Sqlite).await;
    let server = Server::start(&db.url, &[]);
    for kind in ["webhook", "websocket"] {
        let name = format!("Deployed_{kind}");
        let env = [
            ("LOGGERFLOW_RELEASE", "2.4.1"),
            ("LOGGERFLOW_ENVIRONMENT", "canary"),
        ];
        let result = run_app(kind, &server.base, &name, 3, &env);
        assert!(result.flushed, "{kind}");
        let reports = server
            .get(&format!(
                "/api/v1/projects/{name}/reports?environment=canary&release=2.4.1"
            ))
            .await;
        let listed = reports["reports"].as_array().cloned().unwrap_or_default();
        assert_eq!(listed.len(), 3, "{kind}: {reports}");
        assert_eq!(listed[0]["release"], "2.4.1");
        assert_eq!(listed[0]["environment"], "canary");
        assert_eq!(listed[0]["report"]["environment"], "canary");
        let errors = server
            .get(&format!(
                "/api/v1/projects/{name}/errors?environment=canary"
            ))
            .await;
        assert_eq!(
            errors["groups"][0]["first_release"],
            serde_json::json!({ "environment": "canary", "release": "2.4.1" }),
            "{kind}: {errors}"
        );
        let projects = server.get("/api/v1/projects").await;
        let instance = &project(&projects, &name).expect("the project")["instances"][0];
        assert_eq!(instance["release"], "2.4.1", "{kind}: {projects}");
        assert_eq!(instance["environment"], "canary", "{kind}: {projects}");
    }
}

/// With the server down, `flush()` says not everything made it, within
/// its timeout.
#[test]
fn a_flush_with_the_server_down_says_so_within_its_timeout() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    for kind in ["webhook", "websocket"] {
        let layer: LoggerFlowLayer = LoggerFlowLayer::builder(format!("Down_{kind}"))
            .sink_boxed(kind, &format!("http://127.0.0.1:{closed}"))
            .capture_panics(false)
            .build();
        let handle = layer.handle();
        for i in 0..10 {
            assert!(
                handle
                    .capture_message(format!("error {i}"), tracing::Level::ERROR)
                    .is_some()
            );
        }
        let started = Instant::now();
        let flushed = handle.flush(Duration::from_secs(2));
        let took = started.elapsed();
        assert!(!flushed, "{kind}: nothing was acknowledged");
        assert!(
            took >= Duration::from_millis(1900) && took < Duration::from_secs(4),
            "{kind}: took {took:?} for a 2 s timeout"
        );
        assert_eq!(handle.stats().sinks[0].delivered, 0, "{kind}");
    }
}

/// Adds the lifecycle sink `kind` to a builder (tests only).
trait SinkBoxed {
    fn sink_boxed(self, kind: &str, base: &str) -> Self;
}

impl SinkBoxed for loggerflow_layer::LoggerFlowBuilder {
    fn sink_boxed(self, kind: &str, base: &str) -> Self {
        let url = format!("{base}/loggerflow/");
        if kind == "websocket" {
            self.sink(WebSocketLifecycle::new(url.replacen("http", "ws", 1)))
        } else {
            self.sink(WebhookLifecycle::new(url))
        }
    }
}

/// Two guards, the first dropped: the app stays online and delivering; the
/// last guard says goodbye.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_of_two_guards_does_not_end_the_app() {
    let db = Db::new(Backend::Sqlite).await;
    let server = Server::start(&db.url, &[]);
    let name = "TwoGuards";
    let layer: LoggerFlowLayer = LoggerFlowLayer::builder(name)
        .sink(
            WebhookLifecycle::new(format!("{}/loggerflow/", server.base))
                .heartbeat(Duration::from_secs(1)),
        )
        .capture_panics(false)
        .build();
    let handle = layer.handle();
    let first = layer.flush_guard();
    let second = layer.flush_guard();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    tracing::dispatcher::with_default(&dispatch, || tracing::error!("before"));
    tokio::task::spawn_blocking(move || drop(first))
        .await
        .expect("drop");
    // three heartbeats later: still online (a goodbye would say stopped)
    tokio::time::sleep(Duration::from_secs(3)).await;
    let projects = server.get("/api/v1/projects").await;
    let status = project(&projects, name).map(|p| p["status"].clone());
    assert_eq!(status, Some("online".into()), "{projects}");
    tracing::dispatcher::with_default(&dispatch, || tracing::error!("after"));
    assert!(handle.flush_async(Duration::from_secs(10)).await);
    assert_eq!(error_count(&server, name).await, 2, "still delivering");
    tokio::task::spawn_blocking(move || drop(second))
        .await
        .expect("drop");
    let projects = server
        .wait_for("/api/v1/projects", Duration::from_secs(5), |v| {
            project(v, name).is_some_and(|p| p["status"] == "stopped")
        })
        .await;
    let status = project(&projects, name).map(|p| p["status"].clone());
    assert_eq!(
        status,
        Some("stopped".into()),
        "the last guard says goodbye"
    );
}

/// A TLS terminator on 127.0.0.1 for "localhost" (a test CA's certificate)
/// in front of `backend`; its address and the CA certificate (PEM).
async fn tls_terminator(backend: SocketAddr) -> (SocketAddr, String) {
    use tokio_rustls::TlsAcceptor;

    let (config, ca_pem) = common::tls::test_ca(&[b"http/1.1"]);
    let acceptor = TlsAcceptor::from(config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut plain) = tokio::net::TcpStream::connect(backend).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    (addr, ca_pem)
}

/// Both lifecycle sinks over TLS: trusted through `root_certificates` and
/// through `SSL_CERT_FILE`; an untrusted server gets nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_lifecycle_sinks_speak_tls() {
    let db = Db::new(Backend::Sqlite).await;
    let server = Server::start(&db.url, &[]);
    let backend: SocketAddr = server
        .base
        .trim_start_matches("http://")
        .parse()
        .expect("server address");
    let (tls, ca_pem) = tls_terminator(backend).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &ca_pem).expect("write the CA");
    let base = format!("https://localhost:{}", tls.port());
    let ca_path = ca.to_string_lossy().into_owned();
    // (name, the child's environment, whether it is trusted)
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, bool);
    let cases: [Case<'_>; 3] = [
        // a PEM file given to the builder
        ("Tls", vec![("LF_ROOTS", &ca_path)], true),
        // the CA through SSL_CERT_FILE, as rustls-native-certs reads it
        ("TlsEnv", vec![("SSL_CERT_FILE", &ca_path)], true),
        // not trusted (and no fallback to webpki's roots when SSL_CERT_FILE
        // is set): nothing goes, and the flush says so
        (
            "TlsUntrusted",
            vec![
                ("SSL_CERT_FILE", "/nonexistent/ca.pem"),
                ("LF_FLUSH_S", "2"),
            ],
            false,
        ),
    ];
    for kind in ["webhook", "websocket"] {
        for (prefix, env, trusted) in &cases {
            let name = format!("{prefix}_{kind}");
            let env: Vec<(String, String)> = env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            let result = tokio::task::spawn_blocking({
                let (base, name) = (base.clone(), name.clone());
                move || {
                    let env: Vec<(&str, &str)> =
                        env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                    run_app(kind, &base, &name, 3, &env)
                }
            })
            .await
            .expect("child");
            let expected = if *trusted { 3 } else { 0 };
            assert_eq!(
                (result.flushed, result.delivered),
                (*trusted, expected),
                "{name}"
            );
            assert_eq!(error_count(&server, &name).await, expected as i64, "{name}");
        }
    }
}
