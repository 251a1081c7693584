//! The native protocol v1: `POST {base}v1/batch` and websocket `{base}v1/ws`.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt as _;
use loggerflow_layer::protocol::{Batch, Message, PROTOCOL_VERSION, Reply};

use super::{Client, parse_json, read_body};
use crate::error::AppError;
use crate::names;
use crate::router::AppState;
use crate::store::writer::Op;

/// Refuses protocol versions this server does not speak, naming the ones it does.
fn check_protocol(version: Option<u64>) -> Result<(), AppError> {
    match version {
        Some(v) if v == u64::from(PROTOCOL_VERSION) => Ok(()),
        Some(v) => Err(AppError::bad_request(
            "unsupported_protocol",
            format!(
                "protocol {v} is not supported; this server speaks protocol {PROTOCOL_VERSION}"
            ),
        )),
        None => Err(AppError::bad_request(
            "unsupported_protocol",
            format!(
                "the body names no protocol version; this server speaks protocol {PROTOCOL_VERSION}"
            ),
        )),
    }
}

/// The ops of a batch's messages, or why the batch is refused.
fn to_ops(instance: &str, messages: Vec<Message>) -> Result<Vec<Op>, AppError> {
    messages
        .into_iter()
        .map(|message| {
            Ok(match message {
                Message::Hello(hello) => {
                    check_protocol(Some(u64::from(hello.protocol)))?;
                    names::project(&hello.project)?;
                    names::instance(&hello.instance)?;
                    if hello.instance != instance {
                        return Err(AppError::bad_request(
                            "invalid_message",
                            format!(
                                "the hello is for instance `{}` but the batch is from `{instance}`",
                                hello.instance
                            ),
                        ));
                    }
                    Op::Hello(hello)
                }
                Message::Heartbeat { metrics } => Op::Heartbeat {
                    instance: instance.to_owned(),
                    metrics,
                },
                Message::Report { mut report } => {
                    names::project(&report.project)?;
                    report.bound();
                    Op::Report {
                        instance: Some(instance.to_owned()),
                        report,
                    }
                }
                Message::Goodbye {} => Op::Goodbye {
                    instance: instance.to_owned(),
                },
            })
        })
        .collect()
}

/// Decodes a batch body into what to write, or the 4xx that refuses it.
pub fn decode_batch(bytes: &[u8]) -> Result<Vec<Op>, AppError> {
    // the version first, so a future protocol gets a clear answer, not a parse error
    let head: serde_json::Value = parse_json(bytes)?;
    check_protocol(head.get("protocol").and_then(serde_json::Value::as_u64))?;
    let batch: Batch = serde_json::from_value(head).map_err(|e| {
        AppError::bad_request("invalid_message", format!("cannot read the body: {e}"))
    })?;
    if batch.instance.is_empty() {
        return Err(AppError::bad_request(
            "invalid_message",
            "the batch names no instance",
        ));
    }
    names::instance(&batch.instance)?;
    to_ops(&batch.instance, batch.messages)
}

/// Decodes one websocket text frame.
pub fn decode_frame(text: &str) -> Result<Message, AppError> {
    parse_json(text.as_bytes())
}

/// `POST {base}v1/batch`: stores the batch's messages and acknowledges its
/// reports once they are committed.
pub async fn batch(
    State(state): State<AppState>,
    Client(client): Client,
    body: Body,
) -> Result<Json<Reply>, AppError> {
    let bytes = read_body(body, state.config.body_limit).await?;
    let ops = decode_batch(&bytes)?;
    let done = state.writer.submit_from(client, ops).await?;
    Ok(Json(Reply::Ack { ids: done.acked }))
}

/// `GET {base}v1/ws`: one instance's messages, one per text frame; the first
/// must be its hello. Reports are acknowledged by id once committed.
pub async fn websocket(
    State(state): State<AppState>,
    Client(client): Client,
    upgrade: WebSocketUpgrade,
) -> Response {
    upgrade
        .read_buffer_size(4096)
        .max_message_size(state.config.body_limit)
        .max_frame_size(state.config.body_limit)
        .on_upgrade(move |socket| serve_socket(state, client, socket))
        .into_response()
}

/// How long a socket may stay silent: until its hello, the header timeout;
/// then three heartbeat intervals, and at least the configured idle timeout.
pub(crate) fn silence_allowed(state: &AppState, heartbeat_s: Option<u32>) -> std::time::Duration {
    match heartbeat_s {
        None => state.config.header_timeout,
        Some(h) => std::time::Duration::from_secs(u64::from(h.clamp(1, 86_400)) * 3)
            .max(state.config.websocket_idle_timeout),
    }
}

fn error_frame(error: &AppError) -> WsMessage {
    let reply = Reply::Error {
        error: error.code().to_owned(),
        message: error.message().to_owned(),
    };
    WsMessage::Text(serde_json::to_string(&reply).unwrap_or_default().into())
}

/// How long an ack may wait for a client that does not read.
const SEND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Reports in one writer job at most, when frames queue up on a socket.
const MAX_FRAMES_PER_JOB: usize = 200;

async fn serve_socket(state: AppState, client: std::net::IpAddr, mut socket: WebSocket) {
    let mut instance: Option<String> = None;
    let mut heartbeat_s: Option<u32> = None;
    let mut said_goodbye = false;
    // a frame read ahead while gathering reports, to handle next
    let mut next: Option<WsMessage> = None;
    loop {
        let frame = match next.take() {
            Some(frame) => frame,
            None => {
                let silence = silence_allowed(&state, heartbeat_s);
                match tokio::time::timeout(silence, socket.recv()).await {
                    Ok(Some(Ok(frame))) => frame,
                    Ok(_) => break,
                    Err(_) => {
                        let error = AppError::new(
                            axum::http::StatusCode::REQUEST_TIMEOUT,
                            "idle_timeout",
                            format!("nothing was received for {} s", silence.as_secs()),
                        );
                        let _ =
                            tokio::time::timeout(SEND_TIMEOUT, socket.send(error_frame(&error)))
                                .await;
                        break;
                    }
                }
            }
        };
        let text = match frame {
            WsMessage::Text(text) => text,
            WsMessage::Close(_) => break,
            WsMessage::Binary(_) => {
                let error = AppError::bad_request("invalid_message", "frames are JSON text");
                let _ = socket.send(error_frame(&error)).await;
                continue;
            }
            _ => continue,
        };
        let message: Message = match decode_frame(text.as_str()) {
            Ok(message) => message,
            Err(error) => {
                let _ = socket.send(error_frame(&error)).await;
                continue;
            }
        };
        let ops = match (&instance, message) {
            (None, Message::Hello(hello)) => {
                let valid = check_protocol(Some(u64::from(hello.protocol)))
                    .and_then(|()| names::project(&hello.project))
                    .and_then(|()| names::instance(&hello.instance));
                if let Err(error) = valid {
                    let _ = socket.send(error_frame(&error)).await;
                    break;
                }
                instance = Some(hello.instance.clone());
                heartbeat_s = Some(hello.heartbeat_s);
                vec![Op::Hello(hello)]
            }
            (None, _) => {
                let error =
                    AppError::bad_request("hello_first", "the first message must be a hello");
                let _ = socket.send(error_frame(&error)).await;
                break;
            }
            (Some(id), message) => {
                said_goodbye |= matches!(message, Message::Goodbye {});
                let mut messages = vec![message];
                // reports that are already waiting go into the same job
                if matches!(messages[0], Message::Report { .. }) {
                    while messages.len() < MAX_FRAMES_PER_JOB {
                        let Some(Some(Ok(frame))) = socket.recv().now_or_never() else {
                            break;
                        };
                        match &frame {
                            WsMessage::Text(text) => match decode_frame(text.as_str()) {
                                Ok(report @ Message::Report { .. }) => messages.push(report),
                                _ => {
                                    next = Some(frame);
                                    break;
                                }
                            },
                            _ => {
                                next = Some(frame);
                                break;
                            }
                        }
                    }
                }
                match to_ops(id, messages) {
                    Ok(ops) => ops,
                    Err(error) => {
                        let _ = socket.send(error_frame(&error)).await;
                        continue;
                    }
                }
            }
        };
        let acks = matches!(ops.first(), Some(Op::Report { .. }));
        match state.writer.submit_from(client, ops).await {
            Ok(done) if acks => {
                let reply = Reply::Ack { ids: done.acked };
                let text = serde_json::to_string(&reply).unwrap_or_default();
                // a client that stops reading its acks is cut off, not
                // waited for while its socket holds buffers
                let sent =
                    tokio::time::timeout(SEND_TIMEOUT, socket.send(WsMessage::Text(text.into())));
                if !matches!(sent.await, Ok(Ok(()))) {
                    break;
                }
            }
            Ok(_) => {}
            Err(error) => {
                let error = AppError::from(error);
                if socket.send(error_frame(&error)).await.is_err() {
                    break;
                }
            }
        }
    }
    if let (Some(instance), false) = (instance, said_goodbye) {
        let _ = state
            .writer
            .submit(vec![Op::Disconnected { instance }])
            .await;
    }
}
