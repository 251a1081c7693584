//! What both websocket endpoints (native and Python) share: reading a frame
//! within the allowed silence, noticing the server's shutdown, sending
//! within a timeout, and the answer to a frame over the size limit.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message as WsMessage, WebSocket, close_code};
use loggerflow_layer::protocol::Reply;
use tokio::sync::watch;

use crate::error::AppError;
use crate::router::AppState;

/// Counts a websocket as live while it is held (the shutdown waits for the
/// live ones to end before it stops the writer).
pub(crate) struct Live(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl Live {
    pub(crate) fn new(state: &AppState) -> Self {
        state
            .live_sockets
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Self(std::sync::Arc::clone(&state.live_sockets))
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// How long a frame may wait for a client that does not read.
pub(crate) const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// What came from the socket.
pub(crate) enum Next {
    /// A frame.
    Frame(WsMessage),
    /// The client closed, or the connection broke.
    Closed,
    /// Nothing for this long: the socket was told why and is done.
    Idle,
    /// The server is stopping: the socket got a close frame (the client
    /// reconnects to the next server) and is done.
    Shutdown,
}

/// The longest a socket may stay silent after its hello, whatever heartbeat
/// interval it names (unless the idle timeout is set longer).
const MAX_SILENCE: Duration = Duration::from_secs(600);

/// How long a socket may go without a valid message: until its hello, the
/// header timeout (counted from the upgrade: frames that are not a hello do
/// not extend it); then three heartbeat intervals, at least the configured
/// idle timeout and at most ten minutes.
pub(crate) fn silence_allowed(state: &AppState, heartbeat_s: Option<u32>) -> Duration {
    let idle = state.config.websocket_idle_timeout;
    match heartbeat_s {
        None => state.config.header_timeout,
        Some(h) => Duration::from_secs(u64::from(h) * 3).clamp(idle, idle.max(MAX_SILENCE)),
    }
}

/// Sends `message` unless the client stopped reading; false when it did
/// (or the socket is gone).
pub(crate) async fn send(socket: &mut WebSocket, message: WsMessage) -> bool {
    matches!(
        tokio::time::timeout(SEND_TIMEOUT, socket.send(message)).await,
        Ok(Ok(()))
    )
}

/// An error as a frame: the protocol's refusal.
pub(crate) fn error_frame(error: &AppError) -> WsMessage {
    crate::telemetry::refused(error.code());
    let reply = Reply::Error(error.refusal());
    WsMessage::Text(serde_json::to_string(&reply).unwrap_or_default().into())
}

/// The next frame, before `deadline` (the caller moves it on each valid
/// message), unless the server stops first.
pub(crate) async fn next(
    state: &AppState,
    socket: &mut WebSocket,
    deadline: tokio::time::Instant,
    shutdown: &mut watch::Receiver<bool>,
) -> Next {
    if *shutdown.borrow() {
        return stop(socket).await;
    }
    tokio::select! {
        received = tokio::time::timeout_at(deadline, socket.recv()) => match received {
            Ok(Some(Ok(frame))) => Next::Frame(frame),
            Ok(Some(Err(error))) => {
                if is_too_large(error) {
                    let limit = state.config.body_limit;
                    let refused = AppError::new(
                        axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                        "body_too_large",
                        format!("a frame is larger than the {limit} bytes this server accepts"),
                    )
                    .limit(limit);
                    send(socket, error_frame(&refused)).await;
                    let _ = tokio::time::timeout(SEND_TIMEOUT, socket.send(WsMessage::Close(Some(CloseFrame {
                        code: close_code::SIZE,
                        reason: "frame too large".into(),
                    })))).await;
                }
                Next::Closed
            }
            Ok(None) => Next::Closed,
            Err(_) => {
                let error = AppError::new(
                    axum::http::StatusCode::REQUEST_TIMEOUT,
                    "idle_timeout",
                    "no hello or heartbeat came in time: say hello first, then heartbeat \
                     at the interval the hello names",
                );
                send(socket, error_frame(&error)).await;
                Next::Idle
            }
        },
        // it only ever turns true (or its sender goes): either is the stop
        _ = shutdown.changed() => stop(socket).await,
    }
}

async fn stop(socket: &mut WebSocket) -> Next {
    let close = WsMessage::Close(Some(CloseFrame {
        code: close_code::RESTART,
        reason: "the server is restarting".into(),
    }));
    let _ = tokio::time::timeout(Duration::from_secs(1), socket.send(close)).await;
    Next::Shutdown
}

/// Whether a read failed because a frame or message passed the size limit.
fn is_too_large(error: axum::Error) -> bool {
    error
        .into_inner()
        .downcast_ref::<tungstenite::Error>()
        .is_some_and(|e| matches!(e, tungstenite::Error::Capacity(_)))
}
