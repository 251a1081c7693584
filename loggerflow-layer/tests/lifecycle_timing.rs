//! Timing of the lifecycle sinks under load (issue 13, "never lose, never
//! stall"): heartbeats keep their cadence while a burst of errors with
//! backtraces is resolved, and a thousand websocket apps do not come back to
//! a restarted server in one instant.
//!
//! Both tests measure wall-clock time, so they run one at a time.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use loggerflow_layer::lifecycle::{WebSocketLifecycle, WebhookLifecycle};
use loggerflow_layer::protocol::{Batch, Message, Refusal, Reply};
use loggerflow_layer::sink::{Sink, SinkContext};
use loggerflow_layer::{LoggerFlowLayer, ReportId, TraceMode};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tracing_subscriber::prelude::*;

/// The tests measure time: they must not share the two cores.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A runtime for a stand-in server, apart from the app's threads.
fn server_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime for the stand-in server")
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

// ---------------------------------------------------------------------------
// heartbeats through a burst of errors
// ---------------------------------------------------------------------------

/// How many `error!` events the burst holds.
const BURST: usize = 5_000;
const HEARTBEAT: Duration = Duration::from_secs(1);

/// What the webhook stand-in saw.
#[derive(Default)]
struct Ingest {
    /// When each batch carrying a heartbeat arrived.
    heartbeats: Vec<Instant>,
    /// Every report acknowledged.
    acked: HashSet<ReportId>,
    batches: usize,
}

type Shared = Arc<Mutex<Ingest>>;

fn ingest(shared: &Shared) -> MutexGuard<'_, Ingest> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `POST /loggerflow/v1/batch`: records heartbeats, acknowledges every report.
async fn batch(State(shared): State<Shared>, body: Bytes) -> Response {
    let arrived = Instant::now();
    let batch: Batch = match serde_json::from_slice(&body) {
        Ok(batch) => batch,
        Err(e) => {
            let refusal = Refusal::new("bad_request", e.to_string());
            return (StatusCode::BAD_REQUEST, axum::Json(Reply::Error(refusal))).into_response();
        }
    };
    let mut ids = Vec::new();
    let mut heartbeat = false;
    for message in &batch.messages {
        match message {
            Message::Heartbeat { .. } => heartbeat = true,
            Message::Report { report } => ids.push(report.id),
            Message::Hello(_) | Message::Goodbye {} => {}
        }
    }
    {
        let mut seen = ingest(&shared);
        seen.batches += 1;
        if heartbeat {
            seen.heartbeats.push(arrived);
        }
        seen.acked.extend(ids.iter().copied());
    }
    axum::Json(Reply::Ack { ids }).into_response()
}

/// 5,000 `error!` events, each with a backtrace to resolve, logged as fast as
/// the app can while the webhook lifecycle heartbeats every second: every
/// report arrives, and no two consecutive heartbeats are more than two
/// intervals apart (symbol resolution runs off the worker's runtime, so it
/// never holds the heartbeat up).
#[test]
fn heartbeats_keep_their_cadence_through_a_burst_of_errors_with_backtraces() {
    let _serial = serial();
    let runtime = server_runtime();
    let shared = Shared::default();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind the stand-in");
    let port = listener.local_addr().expect("its address").port();
    let app = axum::Router::new()
        .route("/loggerflow/v1/batch", axum::routing::post(batch))
        .with_state(Arc::clone(&shared));
    runtime.spawn(async move { axum::serve(listener, app).await });

    let seen = Arc::clone(&shared);
    let app = std::thread::spawn(move || {
        let sink = WebhookLifecycle::new(format!("http://127.0.0.1:{port}/loggerflow/"))
            .heartbeat(HEARTBEAT);
        let layer = LoggerFlowLayer::new("TimingHook")
            .sink(sink)
            .with_backtrace(true)
            .capture_panics(false)
            // the whole burst waits in the queue: none is dropped
            .queue_capacity(2 * BURST);
        let guard = layer.flush_guard();
        let started = Instant::now();
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
            for i in 0..BURST {
                tracing::error!(i, "order {i} failed");
            }
        });
        let logged = started.elapsed();
        let deadline = started + Duration::from_secs(120);
        while ingest(&seen).acked.len() < BURST && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let acknowledged = started.elapsed();
        let stats = guard.handle().stats();
        drop(guard); // goodbye
        (logged, acknowledged, stats)
    });
    let (logged, acknowledged, stats) = app.join().expect("the app thread");

    let seen = ingest(&shared);
    let gaps: Vec<Duration> = seen
        .heartbeats
        .windows(2)
        .map(|w| w[1].duration_since(w[0]))
        .collect();
    let largest = gaps.iter().max().copied().unwrap_or_default();
    eprintln!(
        "burst of {BURST} errors with backtraces: logged in {:.0} ms, all acknowledged after {:.1} s \
         ({:.0} reports/s resolved and delivered) in {} batches; {} heartbeats, largest gap {:.0} ms \
         (interval {} ms); stats {stats:?}",
        ms(logged),
        acknowledged.as_secs_f64(),
        seen.acked.len() as f64 / acknowledged.as_secs_f64(),
        seen.batches,
        seen.heartbeats.len(),
        ms(largest),
        HEARTBEAT.as_millis(),
    );
    assert_eq!(
        seen.acked.len(),
        BURST,
        "every report arrived (stats: {stats:?})"
    );
    assert!(
        seen.heartbeats.len() >= 3,
        "heartbeats went on during the burst: {}",
        seen.heartbeats.len()
    );
    assert!(
        largest <= 2 * HEARTBEAT,
        "no gap between heartbeats over two intervals: largest {largest:?}, gaps {gaps:?}"
    );
}

// ---------------------------------------------------------------------------
// a thousand websocket apps after a server restart
// ---------------------------------------------------------------------------

/// How many websocket apps connect.
const APPS: usize = 1_000;

/// What the websocket stand-in saw: each app's hellos (by instance id), with
/// when the connection that carried it was accepted.
#[derive(Default)]
struct Sockets {
    hellos: Vec<(String, Instant)>,
}

impl Sockets {
    /// The distinct instances that said hello on a connection accepted after `since`.
    fn instances_since(&self, since: Instant) -> HashMap<&str, Instant> {
        let mut first = HashMap::new();
        for (instance, at) in &self.hellos {
            if *at >= since {
                first
                    .entry(instance.as_str())
                    .and_modify(|t: &mut Instant| *t = (*t).min(*at))
                    .or_insert(*at);
            }
        }
        first
    }
}

/// The soft limit on open files of this process, from `/proc/self/limits`.
fn open_file_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line
        .trim_start_matches("Max open files")
        .split_whitespace()
        .next()?;
    if soft == "unlimited" {
        return Some(usize::MAX);
    }
    soft.parse().ok()
}

/// Accepts websockets for ever; each connection is closed (dropped, as a
/// server process that stops) when the generation passes the one it was
/// accepted in.
async fn websocket_stand_in(
    listener: tokio::net::TcpListener,
    sockets: Arc<Mutex<Sockets>>,
    generation: tokio::sync::watch::Receiver<u64>,
) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let accepted = Instant::now();
        let born = *generation.borrow();
        let mut restart = generation.clone();
        let sockets = Arc::clone(&sockets);
        tokio::spawn(async move {
            let Ok(mut socket) = tokio_tungstenite::accept_async(stream).await else {
                return;
            };
            loop {
                tokio::select! {
                    frame = socket.next() => match frame {
                        Some(Ok(WsMessage::Text(body))) => {
                            if let Ok(Message::Hello(hello)) = serde_json::from_str::<Message>(body.as_str()) {
                                sockets
                                    .lock()
                                    .unwrap_or_else(PoisonError::into_inner)
                                    .hellos
                                    .push((hello.instance, accepted));
                            }
                        }
                        Some(Ok(_)) => {}
                        Some(Err(_)) | None => return,
                    },
                    _ = restart.wait_for(|g| *g > born) => return,
                }
            }
        });
    }
}

/// A thousand apps on `WebSocketLifecycle` lose their sockets in the same
/// instant (a server restart): every one comes back within 5 s, and their
/// reconnects are spread over the jittered backoff window (0.5–1 s) instead
/// of arriving in lockstep: the first and last are at least 300 ms apart and
/// no 50 ms window holds more than a fifth of them.
#[test]
fn a_thousand_websocket_apps_reconnect_spread_over_the_backoff_window() {
    let _serial = serial();
    // each app holds two sockets here (its own and the stand-in's)
    let limit = open_file_limit().unwrap_or(usize::MAX);
    let apps = APPS.min(limit.saturating_sub(200) / 2);
    if apps < APPS {
        eprintln!("open-file soft limit {limit}: {apps} apps instead of {APPS}");
    }
    assert!(
        apps >= 100,
        "open-file limit {limit} is too low for this test"
    );

    let server = server_runtime();
    let sockets = Arc::new(Mutex::new(Sockets::default()));
    let (restart, generation) = tokio::sync::watch::channel(0u64);
    let listener = server
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind the stand-in");
    let port = listener.local_addr().expect("its address").port();
    server.spawn(websocket_stand_in(
        listener,
        Arc::clone(&sockets),
        generation,
    ));

    let clients = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime for the apps");
    let started = Instant::now();
    for _ in 0..apps {
        let sink = WebSocketLifecycle::new(format!("ws://127.0.0.1:{port}/loggerflow/"))
            .heartbeat(Duration::from_secs(60));
        let context = SinkContext {
            project: "Swarm".into(),
            trace_mode: TraceMode::Full,
            release: None,
        };
        clients.spawn(async move { sink.start(&context).await });
    }
    let connected = |since: Instant| {
        sockets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .instances_since(since)
            .len()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while connected(started) < apps && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(connected(started), apps, "every app connected once");
    eprintln!("{apps} apps connected in {:.0} ms", ms(started.elapsed()));
    // let the last hellos' heartbeats settle
    std::thread::sleep(Duration::from_millis(500));

    // the restart: every server-side socket closes at once
    let closed = Instant::now();
    restart.send_replace(1);
    let deadline = closed + Duration::from_secs(10);
    while connected(closed) < apps && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut offsets: Vec<Duration> = sockets
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .instances_since(closed)
        .values()
        .map(|at| at.duration_since(closed))
        .collect();
    offsets.sort();
    clients.shutdown_background();
    server.shutdown_background();

    assert_eq!(offsets.len(), apps, "every app reconnected within 10 s");
    let first = offsets[0];
    let median = offsets[offsets.len() / 2];
    let last = offsets[offsets.len() - 1];
    // the most reconnects in any 50 ms window (sliding)
    let window = Duration::from_millis(50);
    let mut busiest = 0;
    let mut end = 0;
    for (start, offset) in offsets.iter().enumerate() {
        while end < offsets.len() && offsets[end] < *offset + window {
            end += 1;
        }
        busiest = busiest.max(end - start);
    }
    let mut histogram: Vec<usize> = Vec::new();
    for offset in &offsets {
        let bin = usize::try_from(offset.as_millis() / 50).unwrap_or(usize::MAX);
        if histogram.len() <= bin {
            histogram.resize(bin + 1, 0);
        }
        histogram[bin] += 1;
    }
    let bars: Vec<String> = histogram
        .iter()
        .enumerate()
        .filter(|(_, n)| **n > 0)
        .map(|(bin, n)| format!("{}–{} ms: {n}", bin * 50, bin * 50 + 50))
        .collect();
    eprintln!(
        "{apps} reconnects after the close: first {:.0} ms, median {:.0} ms, last {:.0} ms, \
         span {:.0} ms; busiest 50 ms window {busiest} ({:.1} %)\n  {}",
        ms(first),
        ms(median),
        ms(last),
        ms(last - first),
        100.0 * busiest as f64 / apps as f64,
        bars.join("\n  "),
    );
    assert!(
        last <= Duration::from_secs(5),
        "every app reconnected within 5 s: last after {last:?}"
    );
    assert!(
        last - first >= Duration::from_millis(300),
        "reconnects are spread: first {first:?}, last {last:?}"
    );
    assert!(
        busiest * 5 <= apps,
        "no 50 ms window holds more than a fifth of the reconnects: {busiest} of {apps}"
    );
}
