//! The native protocol v1: `POST {base}v1/batch` and websocket `{base}v1/ws`.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt as _;
use loggerflow_layer::protocol::{Batch, Message, PROTOCOL_VERSION, Reply};

use super::socket::{self, Next, error_frame};
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
                    Op::hello(hello)
                }
                Message::Heartbeat { metrics } => Op::Heartbeat {
                    instance: instance.to_owned(),
                    metrics,
                },
                Message::Report { mut report } => {
                    names::project(&report.project).map_err(|e| e.about(report.id))?;
                    report.bound();
                    let id = report.id;
                    Op::report(Some(instance.to_owned()), report)
                        .map_err(|e| AppError::from(e).about(id))?
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
    // the version first, so a future protocol gets a clear answer, not a
    // parse error; read without building the rest (a `Value` of the whole
    // body, then converted, cost more than the typed parse below)
    #[derive(serde::Deserialize)]
    struct Head {
        #[serde(default)]
        protocol: Option<serde_json::Value>,
    }
    let is_object = bytes
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'{');
    let protocol = match serde_json::from_slice::<Head>(bytes) {
        Ok(head) if is_object => head.protocol,
        // not an object (serde reads a struct from an array too), or not
        // JSON: the answers of the `Value` parse
        _ => parse_json::<serde_json::Value>(bytes)?
            .get("protocol")
            .cloned(),
    };
    check_protocol(protocol.as_ref().and_then(serde_json::Value::as_u64))?;
    let batch: Batch = match serde_json::from_slice(bytes) {
        Ok(batch) => batch,
        // what the typed parse refuses and a `Value` takes (a key given
        // twice: the last one wins, as JSON parsers commonly do) goes
        // through a `Value`, as before; the rest is refused the same way
        Err(_) => serde_json::from_value(parse_json::<serde_json::Value>(bytes)?).map_err(|e| {
            AppError::bad_request("invalid_message", format!("cannot read the body: {e}"))
        })?,
    };
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

/// Reports in one writer job at most, when frames queue up on a socket.
const MAX_FRAMES_PER_JOB: usize = 200;

async fn serve_socket(state: AppState, client: std::net::IpAddr, mut socket: WebSocket) {
    // this socket's generation: if the app reconnects, the new socket's
    // hello takes over and this one closing later changes nothing
    let _live = socket::Live::new(&state);
    let connection = loggerflow_layer::ReportId::new().to_string();
    let mut shutdown = state.shutdown.clone();
    let mut instance: Option<String> = None;
    let mut heartbeat_s: Option<u32> = None;
    let mut said_goodbye = false;
    let mut stopping = false;
    // a frame read ahead while gathering reports, to handle next
    let mut next: Option<WsMessage> = None;
    // only a valid message moves it: a socket cannot stay by sending noise
    let mut deadline = tokio::time::Instant::now() + socket::silence_allowed(&state, None);
    loop {
        let frame = match next.take() {
            Some(frame) => frame,
            None => match socket::next(&state, &mut socket, deadline, &mut shutdown).await {
                Next::Frame(frame) => frame,
                Next::Shutdown => {
                    stopping = true;
                    break;
                }
                Next::Closed | Next::Idle => break,
            },
        };
        let text = match frame {
            WsMessage::Text(text) => text,
            WsMessage::Close(_) => break,
            WsMessage::Binary(_) => {
                let error = AppError::bad_request("invalid_message", "frames are JSON text");
                if !socket::send(&mut socket, error_frame(&error)).await {
                    break;
                }
                continue;
            }
            _ => continue,
        };
        let message: Message = match decode_frame(text.as_str()) {
            Ok(message) => message,
            Err(error) => {
                if !socket::send(&mut socket, error_frame(&error)).await {
                    break;
                }
                continue;
            }
        };
        if instance.is_some() {
            deadline = tokio::time::Instant::now() + socket::silence_allowed(&state, heartbeat_s);
        }
        let ops = match (&instance, message) {
            (None, Message::Hello(hello)) => {
                let valid = check_protocol(Some(u64::from(hello.protocol)))
                    .and_then(|()| names::project(&hello.project))
                    .and_then(|()| names::instance(&hello.instance));
                if let Err(error) = valid {
                    socket::send(&mut socket, error_frame(&error)).await;
                    break;
                }
                instance = Some(hello.instance.clone());
                heartbeat_s = Some(hello.heartbeat_s);
                deadline =
                    tokio::time::Instant::now() + socket::silence_allowed(&state, heartbeat_s);
                let id = hello.instance.clone();
                vec![
                    Op::hello(hello),
                    Op::Connected {
                        instance: id,
                        connection: connection.clone(),
                    },
                ]
            }
            (None, _) => {
                let error =
                    AppError::bad_request("hello_first", "the first message must be a hello");
                socket::send(&mut socket, error_frame(&error)).await;
                break;
            }
            (Some(id), message) => {
                said_goodbye |= matches!(message, Message::Goodbye {});
                let again = matches!(message, Message::Hello(_));
                let mut messages = vec![message];
                // reports that are already waiting go into the same job, up
                // to the body limit in all
                let mut gathered = text.len();
                if matches!(messages[0], Message::Report { .. }) {
                    while messages.len() < MAX_FRAMES_PER_JOB && gathered < state.config.body_limit
                    {
                        let Some(Some(Ok(frame))) = socket.recv().now_or_never() else {
                            break;
                        };
                        match &frame {
                            WsMessage::Text(text) => match decode_frame(text.as_str()) {
                                Ok(report @ Message::Report { .. }) => {
                                    gathered += text.len();
                                    messages.push(report);
                                }
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
                // a report refused for good (a bad project name) is named in
                // its own error frame; the others go on
                let mut refused = Vec::new();
                messages.retain(|message| match message {
                    Message::Report { report } => match names::project(&report.project) {
                        Ok(()) => true,
                        Err(error) => {
                            refused.push(error.about(report.id));
                            false
                        }
                    },
                    _ => true,
                });
                let mut gone = false;
                for error in &refused {
                    gone |= !socket::send(&mut socket, error_frame(error)).await;
                }
                if gone {
                    break;
                }
                if messages.is_empty() {
                    continue;
                }
                match to_ops(id, messages) {
                    // a hello again (after `unknown_instance`): this socket
                    // is the instance's live one again
                    Ok(mut ops) if again => {
                        ops.push(Op::Connected {
                            instance: id.clone(),
                            connection: connection.clone(),
                        });
                        ops
                    }
                    Ok(ops) => ops,
                    Err(error) => {
                        if !socket::send(&mut socket, error_frame(&error)).await {
                            break;
                        }
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
                if !socket::send(&mut socket, WsMessage::Text(text.into())).await {
                    break;
                }
            }
            Ok(_) => {}
            Err(error) => {
                let error = AppError::from(error);
                if !socket::send(&mut socket, error_frame(&error)).await {
                    break;
                }
            }
        }
    }
    // a server that stops does not mark its apps offline: they reconnect
    if let (Some(instance), false, false) = (instance, said_goodbye, stopping) {
        let _ = state
            .writer
            .submit(vec![Op::Disconnected {
                instance,
                connection,
            }])
            .await;
    }
}
