//! The webhook lifecycle acts on what a server (or a proxy in front of it)
//! refuses, so that no report blocks the ones after it and none is resent
//! for ever: a batch refused as a whole is sent one report at a time and the
//! culprit dropped (counted); a proxy's non-JSON 413 likewise; an older
//! server's refusal without `type` is still understood (`unknown_instance`
//! makes the app say hello again).

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use loggerflow_layer::LoggerFlowLayer;
use loggerflow_layer::lifecycle::WebhookLifecycle;
use loggerflow_layer::protocol::{Batch, Message, Reply};
use tracing_subscriber::prelude::*;

/// A server that stores reports but refuses some things the way real
/// servers and proxies do.
#[derive(Default)]
struct Picky {
    /// Instances that said hello (cleared to "forget" them).
    known: HashSet<String>,
    /// Messages of the stored reports.
    stored: Vec<String>,
    /// Hellos received.
    hellos: usize,
}

type Shared = Arc<Mutex<Picky>>;

/// Bodies over this get a proxy's 413 (HTML, not JSON).
const PROXY_LIMIT: usize = 20_000;

async fn batch(State(shared): State<Shared>, body: Bytes) -> Response {
    if body.len() > PROXY_LIMIT {
        return (
            StatusCode::PAYLOAD_TOO_LARGE,
            [("content-type", "text/html")],
            "<html><body>413 Request Entity Too Large</body></html>",
        )
            .into_response();
    }
    let Ok(batch) = serde_json::from_slice::<Batch>(&body) else {
        return (StatusCode::BAD_REQUEST, "not a batch").into_response();
    };
    let mut picky = shared.lock().unwrap_or_else(PoisonError::into_inner);
    let hello = batch
        .messages
        .iter()
        .any(|m| matches!(m, Message::Hello(_)));
    if hello {
        picky.hellos += 1;
        picky.known.insert(batch.instance.clone());
    }
    if !picky.known.contains(&batch.instance) {
        // an older server's refusal: no `type`
        let old = serde_json::json!({"error": "unknown_instance", "message": "say hello"});
        return (StatusCode::CONFLICT, axum::Json(old)).into_response();
    }
    let reports: Vec<_> = batch
        .messages
        .iter()
        .filter_map(|m| match m {
            Message::Report { report } => Some(report),
            _ => None,
        })
        .collect();
    if reports.iter().any(|r| r.message == "poison") {
        // refused as a whole, without naming the report
        let refusal = serde_json::json!({"type": "error", "error": "invalid_message",
            "message": "cannot read the body"});
        return (StatusCode::BAD_REQUEST, axum::Json(refusal)).into_response();
    }
    let ids = reports.iter().map(|r| r.id).collect();
    picky
        .stored
        .extend(reports.iter().map(|r| r.message.clone()));
    axum::Json(Reply::Ack { ids }).into_response()
}

#[test]
fn refused_reports_are_isolated_and_dropped_the_rest_delivered() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let shared: Shared = Arc::default();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let app = axum::Router::new()
        .route("/loggerflow/v1/batch", axum::routing::post(batch))
        .with_state(Arc::clone(&shared));
    runtime.spawn(async move { axum::serve(listener, app).await });

    let sink = WebhookLifecycle::new(format!("http://127.0.0.1:{port}/loggerflow/"))
        .heartbeat(Duration::from_secs(1));
    let counters = sink.clone();
    let layer = LoggerFlowLayer::builder("Picky")
        .sink(sink)
        .capture_panics(false)
        .build();
    let guard = layer.flush_guard();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let log = |messages: &[String]| {
        tracing::dispatcher::with_default(&dispatch, || {
            for message in messages {
                tracing::error!("{message}");
            }
        });
    };
    let normal = |from: usize| {
        (from..from + 5)
            .map(|i| format!("normal {i}"))
            .collect::<Vec<_>>()
    };
    log(&normal(0));
    log(&["poison".to_owned()]);
    log(&normal(5));
    // once the app is known and its first ten reports are in (however
    // slowly the machine got there), the server forgets it (its database
    // was replaced)
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let picky = shared.lock().unwrap_or_else(PoisonError::into_inner);
        if (picky.hellos >= 1 && picky.stored.len() >= 10) || Instant::now() > deadline {
            break;
        }
        drop(picky);
        std::thread::sleep(Duration::from_millis(20));
    }
    shared
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .known
        .clear();
    log(&["x".repeat(30_000)]);
    log(&normal(10));

    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let stored = shared
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .stored
            .len();
        if (stored >= 15 && counters.pending() == 0) || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let picky = shared.lock().unwrap_or_else(PoisonError::into_inner);
    let mut stored = picky.stored.clone();
    stored.sort();
    let mut expected: Vec<String> = (0..15).map(|i| format!("normal {i}")).collect();
    expected.sort();
    assert_eq!(stored, expected, "every normal report, once");
    assert_eq!(
        counters.overflowed(),
        2,
        "the poison and the too-large one, dropped and counted"
    );
    assert_eq!(counters.pending(), 0);
    assert!(picky.hellos >= 2, "hello again after being forgotten");
    drop(picky);
    drop(guard);
}
