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
    /// When the last batch that brought a new report arrived.
    last_report: Option<Instant>,
    batches: usize,
}

type Shared = Arc<Mutex<Ingest>>;

fn ingest(shared: &Shared) -> MutexGuard<'_, Ingest> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How long the stand-in takes to store each report: the burst takes at
/// least `BURST` × this to drain (5 s), however fast the machine resolves
/// backtraces, so a heartbeat starved while a backlog drains is caught.
const STORE_EACH: Duration = Duration::from_millis(1);

/// `POST /loggerflow/v1/batch`: records heartbeats, acknowledges every report
/// (after [`STORE_EACH`] per report).
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
        let before = seen.acked.len();
        seen.acked.extend(ids.iter().copied());
        if seen.acked.len() > before {
            seen.last_report = Some(arrived);
        }
    }
    tokio::time::sleep(STORE_EACH * u32::try_from(ids.len()).unwrap_or(u32::MAX)).await;
    axum::Json(Reply::Ack { ids }).into_response()
}

/// 5,000 `error!` events, each with a backtrace to resolve, logged as fast as
/// the app can while the webhook lifecycle heartbeats every second, to a
/// server that takes 1 ms to store each report (so the backlog takes at
/// least 5 s to drain): every report arrives, and from the start of the
/// burst until its last report arrived the app never falls silent for the
/// three intervals after which the server marks it offline. A heartbeat
/// held back until the backlog drained would leave a gap of 5 s or more.
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
        let layer = LoggerFlowLayer::builder("TimingHook")
            .sink(sink)
            .with_backtrace(true)
            .capture_panics(false)
            // the whole burst waits in the queue: none is dropped
            .queue_capacity(2 * BURST)
            .build();
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
        (started, logged, acknowledged, stats)
    });
    let (started, logged, acknowledged, stats) = app.join().expect("the app thread");

    let seen = ingest(&shared);
    let gaps: Vec<Duration> = seen
        .heartbeats
        .windows(2)
        .map(|w| w[1].duration_since(w[0]))
        .collect();
    let largest = gaps.iter().max().copied().unwrap_or_default();
    // the heartbeats cover the burst: one soon after it began, one near the
    // arrival of its last report
    let first = seen
        .heartbeats
        .first()
        .map(|at| at.saturating_duration_since(started));
    let last_report = seen.last_report.unwrap_or(started);
    let tail = seen
        .heartbeats
        .last()
        .map(|at| last_report.saturating_duration_since(*at));
    eprintln!(
        "burst of {BURST} errors with backtraces: logged in {:.0} ms, all acknowledged after {:.1} s \
         ({:.0} reports/s resolved and delivered) in {} batches; {} heartbeats, largest gap {:.0} ms \
         (interval {} ms), the first {:.0} ms after the start, the last {:.0} ms before the last report; \
         stats {stats:?}",
        ms(logged),
        acknowledged.as_secs_f64(),
        seen.acked.len() as f64 / acknowledged.as_secs_f64(),
        seen.batches,
        seen.heartbeats.len(),
        ms(largest),
        HEARTBEAT.as_millis(),
        first.map_or(f64::NAN, ms),
        tail.map_or(f64::NAN, ms),
    );
    assert_eq!(
        seen.acked.len(),
        BURST,
        "every report arrived (stats: {stats:?})"
    );
    assert!(
        acknowledged >= 4 * HEARTBEAT,
        "the backlog took several heartbeat intervals to drain: {acknowledged:?}"
    );
    assert!(
        first.is_some_and(|first| first < 3 * HEARTBEAT),
        "a heartbeat went early in the burst: the first after {first:?}"
    );
    assert!(
        tail.is_some_and(|tail| tail < 3 * HEARTBEAT),
        "heartbeats went on to the end of the burst: the last {tail:?} before its last report"
    );
    assert!(
        largest < 3 * HEARTBEAT,
        "no gap between heartbeats as long as three intervals: largest {largest:?}, gaps {gaps:?}"
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

/// The websocket stand-in: a listener with a deep backlog, accepted on a
/// thread of its own (so an accept is timed when the app connects, not when
/// a busy runtime gets to it), each socket served on `runtime`. A socket is
/// closed (dropped, as by a server process that stops) once the generation
/// passes the one it was accepted in.
struct WebSocketStandIn {
    addr: std::net::SocketAddr,
    sockets: Arc<Mutex<Sockets>>,
    restart: tokio::sync::watch::Sender<u64>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    acceptor: Option<std::thread::JoinHandle<()>>,
}

impl WebSocketStandIn {
    fn start(runtime: &tokio::runtime::Runtime) -> Self {
        let listener = runtime
            .block_on(async {
                let socket = tokio::net::TcpSocket::new_v4()?;
                socket.bind(([127, 0, 0, 1], 0).into())?;
                // a thousand apps may knock at once: none is turned away
                socket.listen(4096)?.into_std()
            })
            .expect("bind the stand-in");
        listener
            .set_nonblocking(false)
            .expect("a blocking listener for the accept thread");
        let addr = listener.local_addr().expect("its address");
        let sockets = Arc::new(Mutex::new(Sockets::default()));
        let (restart, generation) = tokio::sync::watch::channel(0u64);
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let acceptor = {
            let sockets = Arc::clone(&sockets);
            let stop = Arc::clone(&stop);
            let runtime = runtime.handle().clone();
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    let accepted = Instant::now();
                    if stop.load(std::sync::atomic::Ordering::SeqCst) {
                        return;
                    }
                    let Ok(stream) = stream else { continue };
                    let born = *generation.borrow();
                    runtime.spawn(serve(
                        stream,
                        accepted,
                        born,
                        generation.clone(),
                        Arc::clone(&sockets),
                    ));
                }
            })
        };
        Self {
            addr,
            sockets,
            restart,
            stop,
            acceptor: Some(acceptor),
        }
    }

    /// The distinct apps that said hello on a connection accepted after `since`.
    fn connected_since(&self, since: Instant) -> HashMap<String, Instant> {
        self.sockets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .instances_since(since)
            .into_iter()
            .map(|(instance, at)| (instance.to_owned(), at))
            .collect()
    }

    /// Closes every socket at once; accepting goes on.
    fn restart(&self) -> Instant {
        let closed = Instant::now();
        self.restart.send_modify(|g| *g += 1);
        closed
    }
}

impl Drop for WebSocketStandIn {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        // wake the accept thread so it sees the flag
        let _ = std::net::TcpStream::connect(self.addr);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// Serves one websocket: records each hello with the connection's accept
/// time, answers nothing, and drops the socket at the next restart.
async fn serve(
    stream: std::net::TcpStream,
    accepted: Instant,
    born: u64,
    mut generation: tokio::sync::watch::Receiver<u64>,
    sockets: Arc<Mutex<Sockets>>,
) {
    let stream = match stream
        .set_nonblocking(true)
        .and_then(|()| tokio::net::TcpStream::from_std(stream))
    {
        Ok(stream) => stream,
        Err(_) => return,
    };
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
            _ = generation.wait_for(|g| *g > born) => return,
        }
    }
}

/// A thousand apps on `WebSocketLifecycle` lose their sockets in the same
/// instant (a server restart): every one comes back within 5 s, and their
/// reconnects are spread over the jittered backoff window (0.5–1 s) instead
/// of arriving in lockstep.
///
/// "Spread" is judged by quantiles of the accept times, which a stall of the
/// machine can only move later, never earlier: the median is at least
/// 675 ms (jitter: about 750 ms; every app waiting the bare 0.5 s: about
/// 590 ms here in a debug build, the time to take 1,000 reconnects in turn),
/// and the fastest tenth is in by 800 ms (jitter: about 550 ms; every app
/// waiting the longest: 1 s). The busiest 50 ms window is printed, not
/// asserted: a 100 ms stall of a loaded 2-core machine packs a fifth of the
/// reconnects into one window (seen in CI), lockstep only about a third.
/// Load can only make lockstep look spread here, never the reverse; the
/// spread of the waits themselves is pinned by the unit test
/// `lifecycle::tests::waits_are_jittered_over_the_window_and_double`.
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
    let stand_in = WebSocketStandIn::start(&server);
    let port = stand_in.addr.port();

    let clients = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime for the apps");
    let started = Instant::now();
    for _ in 0..apps {
        let sink = WebSocketLifecycle::new(format!("ws://127.0.0.1:{port}/loggerflow/"))
            .heartbeat(Duration::from_secs(60));
        let context = SinkContext::new("Swarm", TraceMode::Full);
        clients.spawn(async move { sink.start(&context).await });
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while stand_in.connected_since(started).len() < apps && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        stand_in.connected_since(started).len(),
        apps,
        "every app connected once"
    );
    eprintln!("{apps} apps connected in {:.0} ms", ms(started.elapsed()));
    // let the apps settle (their first heartbeats go at once)
    std::thread::sleep(Duration::from_millis(500));

    // the restart: every server-side socket closes at once
    let closed = stand_in.restart();
    let deadline = closed + Duration::from_secs(10);
    while stand_in.connected_since(closed).len() < apps && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut offsets: Vec<Duration> = stand_in
        .connected_since(closed)
        .values()
        .map(|at| at.duration_since(closed))
        .collect();
    offsets.sort();
    drop(stand_in);
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
        median >= Duration::from_millis(675),
        "half the apps waited out the jitter, not just the 0.5 s minimum: median {median:?}"
    );
    let tenth = offsets[offsets.len() / 10];
    assert!(
        tenth <= Duration::from_millis(800),
        "the fastest tenth did not all wait the longest: 10th percentile {tenth:?}"
    );
}
