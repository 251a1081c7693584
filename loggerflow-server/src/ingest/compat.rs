//! The endpoints of the Python `loggerflow` 0.0.6 clients, so existing
//! Python apps report here unchanged:
//!
//! - `POST {base}handshake` `{project_name, implementation, heartbeat, last_readings,
//!   connected_backends, authors, …}`
//! - `POST {base}heartbeat` `{project_name, last_readings}`
//! - `POST {base}project_error` `{project_name, traceback}`
//! - websocket `{base}`: the handshake as the first frame, then frames with
//!   `request_path` `heartbeat` or `project_error`.
//!
//! Those clients have no instance id: each project gets one instance per
//! transport (`py-webhook:NAME`, `py-websocket:NAME`). Their readings are
//! strings, memory in GiB; they are converted to numbers and bytes. Their
//! tracebacks are parsed into frames. Every POST answers 200
//! `{"status":200}` (the webhook client gives up for good on anything else
//! from the handshake).

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use loggerflow_layer::TraceMode;
use loggerflow_layer::protocol::{
    ErrorInfo, Frame, Hello, Metrics, PROTOCOL_VERSION, Report, Transport,
};
use serde_json::Value;

use super::socket::{self, Next};
use super::{Client, parse_json, read_body};
use crate::error::AppError;
use crate::router::AppState;
use crate::store::writer::{IngestError, Op};

const CLIENT: &str = "loggerflow-python/0.0.6";

fn ok() -> Json<Value> {
    Json(serde_json::json!({ "status": 200 }))
}

fn project_name(body: &Value) -> Result<String, AppError> {
    match body.get("project_name").and_then(Value::as_str) {
        Some(name) if !name.trim().is_empty() => {
            crate::names::project(name)?;
            Ok(name.to_owned())
        }
        _ => Err(AppError::bad_request(
            "invalid_message",
            "`project_name` is missing",
        )),
    }
}

fn instance_id(transport: Transport, project: &str) -> String {
    match transport {
        Transport::Webhook => format!("py-webhook:{project}"),
        Transport::Websocket => format!("py-websocket:{project}"),
        // the routes only make the two above
        _ => format!("py-webhook:{project}"),
    }
}

/// The Python client's readings: `{"cpu": "4.8", "used_memory": "0.65",
/// "total_memory": "23.54", "process_memory": "0.04"}` (GiB as strings).
pub fn readings(value: Option<&Value>) -> Metrics {
    let number = |key: &str| -> f64 {
        value
            .and_then(|v| v.get(key))
            .and_then(|v| match v {
                Value::String(s) => s.trim().parse::<f64>().ok(),
                Value::Number(n) => n.as_f64(),
                _ => None,
            })
            .filter(|v| v.is_finite() && *v >= 0.0)
            .unwrap_or(0.0)
    };
    let bytes = |key: &str| (number(key) * 1024.0 * 1024.0 * 1024.0).round() as u64;
    Metrics {
        cpu_percent: number("cpu").min(100.0) as f32,
        process_cpu_percent: 0.0,
        process_memory_bytes: bytes("process_memory"),
        memory_used_bytes: bytes("used_memory"),
        memory_total_bytes: bytes("total_memory"),
    }
}

/// A list the client sends as one string (`connected_backends`, `authors`:
/// `"TelegramBackend, FileBackend"`), as names.
fn names_in(body: &Value, key: &str) -> Vec<String> {
    body.get(key)
        .and_then(Value::as_str)
        .map(|list| {
            list.split(',')
                .map(str::trim)
                .filter(|name| !name.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn hello(body: &Value, transport: Transport) -> Result<Hello, AppError> {
    let project = project_name(body)?;
    let default_heartbeat = match transport {
        Transport::Webhook => 60,
        Transport::Websocket => 5,
        _ => 60,
    };
    let heartbeat = body
        .get("heartbeat")
        .and_then(Value::as_u64)
        .and_then(|h| u32::try_from(h).ok())
        .filter(|h| *h > 0)
        .unwrap_or(default_heartbeat);
    let trace_mode = body
        .get("traceback")
        .and_then(Value::as_str)
        .and_then(|m| m.parse().ok())
        .unwrap_or(TraceMode::Full);
    Ok(Hello {
        protocol: PROTOCOL_VERSION,
        instance: instance_id(transport, &project),
        project,
        host: String::new(),
        pid: 0,
        client_version: CLIENT.into(),
        heartbeat_s: heartbeat,
        trace_mode,
        transport,
        release: None,
        environment: None,
        backends: names_in(body, "connected_backends"),
    })
}

/// A Python traceback as a report: the last line is the error, the
/// `File "…", line N, in f` lines are the frames (innermost first; frames
/// outside `site-packages` and the standard library are yours).
pub fn traceback_report(project: &str, traceback: &str) -> Report {
    let last = traceback
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
        .to_owned();
    let (type_name, message) = match last.split_once(": ") {
        Some((t, m)) if !t.contains(' ') => (t.to_owned(), m.to_owned()),
        _ => (last.trim_end_matches(':').to_owned(), String::new()),
    };
    let mut frames = Vec::new();
    for line in traceback.lines() {
        let Some(rest) = line.trim_start().strip_prefix("File \"") else {
            continue;
        };
        let Some((file, rest)) = rest.split_once("\", line ") else {
            continue;
        };
        let (line_no, function) = match rest.split_once(", in ") {
            Some((n, f)) => (n.trim().parse::<u32>().ok(), f.trim().to_owned()),
            None => (rest.trim().parse::<u32>().ok(), String::from("<module>")),
        };
        let dependency = file.contains("site-packages")
            || file.contains("dist-packages")
            || file.contains("/lib/python")
            || file.starts_with('<');
        frames.push(Frame {
            function,
            file: Some(file.to_owned()),
            line: line_no,
            yours: !dependency,
        });
    }
    frames.reverse();
    let innermost = frames.iter().find(|f| f.yours).or(frames.first()).cloned();
    let mut fields = std::collections::BTreeMap::new();
    fields.insert("traceback".to_owned(), Value::String(traceback.to_owned()));
    let title = if message.is_empty() {
        type_name.clone()
    } else {
        message.clone()
    };
    let mut report = Report::new(project, title);
    report.target = "python".into();
    report.file = innermost.as_ref().and_then(|f| f.file.clone());
    report.line = innermost.as_ref().and_then(|f| f.line);
    report.fields = fields;
    report.error = Some(ErrorInfo {
        type_name,
        message,
        sources: Vec::new(),
    });
    report.frames = frames;
    report.bound();
    report
}

/// Writes `ops`; when the instance is unknown (the Python webhook client
/// never says hello again after a server restart, and heartbeats may come
/// first), introduces it with defaults and writes again, as the live one of
/// `connection` when it comes over a websocket.
async fn submit_known(
    state: &AppState,
    client: std::net::IpAddr,
    ops: Vec<Op>,
    fallback: Hello,
    connection: Option<&str>,
) -> Result<(), AppError> {
    match state.writer.submit_from(client, ops).await {
        Err(IngestError::UnknownInstance(_)) => {
            let mut retry = vec![
                Op::hello(fallback.clone()),
                Op::Heartbeat {
                    instance: fallback.instance.clone(),
                    metrics: Metrics::default(),
                },
            ];
            // on a websocket, this socket is the instance's connection (its
            // server is known, so it can be paired if that server dies)
            if let Some(connection) = connection {
                retry.push(Op::Connected {
                    instance: fallback.instance.clone(),
                    connection: connection.to_owned(),
                });
            }
            state.writer.submit_from(client, retry).await?;
            Ok(())
        }
        other => other.map(|_| ()).map_err(AppError::from),
    }
}

/// Decodes a handshake body: the hello and first readings of its instance.
pub fn decode_handshake(bytes: &[u8]) -> Result<Vec<Op>, AppError> {
    let body: Value = parse_json(bytes)?;
    let transport = match body.get("implementation").and_then(Value::as_str) {
        Some("websocket") => Transport::Websocket,
        _ => Transport::Webhook,
    };
    let hello = hello(&body, transport)?;
    let instance = hello.instance.clone();
    let metrics = readings(body.get("last_readings"));
    let authors = names_in(&body, "authors");
    Ok(vec![
        Op::Hello { hello, authors },
        Op::Heartbeat { instance, metrics },
    ])
}

/// Decodes a heartbeat body: the heartbeat, and the hello that introduces
/// its instance if the server does not know it.
pub fn decode_heartbeat(bytes: &[u8]) -> Result<(Vec<Op>, Hello), AppError> {
    let body: Value = parse_json(bytes)?;
    let fallback = hello(&body, Transport::Webhook)?;
    let metrics = readings(body.get("last_readings"));
    let ops = vec![Op::Heartbeat {
        instance: fallback.instance.clone(),
        metrics,
    }];
    Ok((ops, fallback))
}

/// Decodes a `project_error` body: a report parsed from the traceback.
pub fn decode_project_error(bytes: &[u8]) -> Result<Vec<Op>, AppError> {
    let body: Value = parse_json(bytes)?;
    let project = project_name(&body)?;
    let traceback = body
        .get("traceback")
        .and_then(Value::as_str)
        .ok_or_else(|| AppError::bad_request("invalid_message", "`traceback` is missing"))?;
    let report = traceback_report(&project, traceback);
    let instance = instance_id(Transport::Webhook, &project);
    Ok(vec![Op::report(Some(instance), Box::new(report))?])
}

/// `POST {base}handshake`.
pub async fn handshake(
    State(state): State<AppState>,
    Client(client): Client,
    body: Body,
) -> Result<Json<Value>, AppError> {
    let bytes = read_body(body, state.config.body_limit).await?;
    state
        .writer
        .submit_from(client, decode_handshake(&bytes)?)
        .await?;
    Ok(ok())
}

/// `POST {base}heartbeat`.
pub async fn heartbeat(
    State(state): State<AppState>,
    Client(client): Client,
    body: Body,
) -> Result<Json<Value>, AppError> {
    let bytes = read_body(body, state.config.body_limit).await?;
    let (ops, fallback) = decode_heartbeat(&bytes)?;
    submit_known(&state, client, ops, fallback, None).await?;
    Ok(ok())
}

/// `POST {base}project_error`.
pub async fn project_error(
    State(state): State<AppState>,
    Client(client): Client,
    body: Body,
) -> Result<Json<Value>, AppError> {
    let bytes = read_body(body, state.config.body_limit).await?;
    state
        .writer
        .submit_from(client, decode_project_error(&bytes)?)
        .await?;
    Ok(ok())
}

/// `GET {base}` upgraded: the Python websocket client.
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

/// The hello of a Python websocket connection: each connection is an
/// instance of its own (`py-websocket:PROJECT:TAG`), so one process exiting
/// does not mark the project's other processes offline.
fn socket_hello(body: &Value, tag: &str) -> Result<Hello, AppError> {
    let mut hello = hello(body, Transport::Websocket)?;
    hello.instance = format!("py-websocket:{}:{tag}", hello.project);
    Ok(hello)
}

async fn serve_socket(state: AppState, client: std::net::IpAddr, mut socket: WebSocket) {
    let _live = socket::Live::new(&state);
    let connection = loggerflow_layer::ReportId::new().to_string();
    let tag = connection[connection.len() - 12..].to_owned();
    let mut shutdown = state.shutdown.clone();
    let mut instance: Option<(String, Hello)> = None;
    let mut stopping = false;
    // silent past its allowance (no handshake in time, or no heartbeat for
    // three intervals): the socket is closed; only a valid frame moves it
    let mut deadline = tokio::time::Instant::now() + socket::silence_allowed(&state, None);
    loop {
        let frame = match socket::next(&state, &mut socket, deadline, &mut shutdown).await {
            Next::Frame(frame) => frame,
            Next::Shutdown => {
                stopping = true;
                break;
            }
            Next::Closed | Next::Idle => break,
        };
        let WsMessage::Text(text) = frame else {
            if matches!(frame, WsMessage::Close(_)) {
                break;
            }
            continue;
        };
        let Ok(body) = serde_json::from_str::<Value>(text.as_str()) else {
            continue;
        };
        let path = body.get("request_path").and_then(Value::as_str);
        let valid = matches!(path, Some("project_error" | "heartbeat"))
            || (instance.is_none() && body.get("project_name").is_some());
        let result = match (path, &instance) {
            (Some("project_error"), _) => {
                let Ok(project) = project_name(&body) else {
                    continue;
                };
                let traceback = body
                    .get("traceback")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let report = traceback_report(&project, traceback);
                let id = match &instance {
                    Some((id, hello)) if hello.project == project => id.clone(),
                    _ => format!("py-websocket:{project}:{tag}"),
                };
                match Op::report(Some(id), Box::new(report)) {
                    Ok(op) => state
                        .writer
                        .submit_from(client, vec![op])
                        .await
                        .map(|_| ())
                        .map_err(AppError::from),
                    Err(error) => Err(error.into()),
                }
            }
            (Some("heartbeat"), _) => {
                let Ok(fallback) = socket_hello(&body, &tag) else {
                    continue;
                };
                let fallback = instance
                    .as_ref()
                    .map(|(_, h)| h.clone())
                    .unwrap_or(fallback);
                let metrics = readings(body.get("last_readings"));
                let ops = vec![Op::Heartbeat {
                    instance: fallback.instance.clone(),
                    metrics,
                }];
                submit_known(&state, client, ops, fallback, Some(&connection)).await
            }
            // the first frame without a path is the handshake; others are ignored
            (None, None) if body.get("project_name").is_some() => match socket_hello(&body, &tag) {
                Ok(hello) => {
                    let id = hello.instance.clone();
                    instance = Some((id.clone(), hello.clone()));
                    let metrics = readings(body.get("last_readings"));
                    state
                        .writer
                        .submit_from(
                            client,
                            vec![
                                Op::Hello {
                                    hello,
                                    authors: names_in(&body, "authors"),
                                },
                                Op::Heartbeat {
                                    instance: id.clone(),
                                    metrics,
                                },
                                Op::Connected {
                                    instance: id,
                                    connection: connection.clone(),
                                },
                            ],
                        )
                        .await
                        .map(|_| ())
                        .map_err(AppError::from)
                }
                Err(e) => Err(e),
            },
            _ => Ok(()),
        };
        if valid && result.is_ok() {
            let heartbeat_s = instance.as_ref().map(|(_, hello)| hello.heartbeat_s);
            if heartbeat_s.is_some() {
                deadline =
                    tokio::time::Instant::now() + socket::silence_allowed(&state, heartbeat_s);
            }
        }
        if let Err(error) = result {
            tracing::warn!(
                code = error.code(),
                message = error.message(),
                "python websocket frame refused"
            );
        }
    }
    if let Some((id, _)) = instance {
        // the server is stopping: this connection's instance has no future
        // (the process comes back as a new one), so it goes without an alarm
        let op = if stopping {
            Op::Forget {
                instance: id,
                connection,
            }
        } else {
            Op::Disconnected {
                instance: id,
                connection,
            }
        };
        let _ = state.writer.submit(vec![op]).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_readings_become_numbers_and_bytes() {
        let m = readings(Some(&serde_json::json!({
            "cpu": "4.8", "used_memory": "0.65", "total_memory": "23.54", "process_memory": "0.04"
        })));
        assert!((m.cpu_percent - 4.8).abs() < 1e-6);
        assert_eq!(
            m.memory_total_bytes,
            (23.54f64 * 1024.0 * 1024.0 * 1024.0).round() as u64
        );
        assert_eq!(
            m.process_memory_bytes,
            (0.04f64 * 1024.0 * 1024.0 * 1024.0).round() as u64
        );
        let bad = readings(Some(
            &serde_json::json!({ "cpu": "n/a", "used_memory": -1 }),
        ));
        assert_eq!((bad.cpu_percent, bad.memory_used_bytes), (0.0, 0));
    }

    #[test]
    fn python_tracebacks_become_frames() {
        let tb = "Traceback (most recent call last):\n  File \"/app/main.py\", line 11, in <module>\n    run()\n  File \"/app/main.py\", line 7, in run\n    1 / 0\n    ~~^~~\n  File \"/usr/lib/python3.11/site-packages/x.py\", line 3, in helper\n    pass\nZeroDivisionError: division by zero";
        let r = traceback_report("Py", tb);
        assert_eq!(r.message, "division by zero");
        assert_eq!(
            r.error.as_ref().map(|e| e.type_name.as_str()),
            Some("ZeroDivisionError")
        );
        assert_eq!(r.frames.len(), 3);
        assert_eq!(r.frames[0].function, "helper");
        assert!(!r.frames[0].yours);
        assert_eq!(
            r.innermost_yours().map(|f| (f.function.as_str(), f.line)),
            Some(("run", Some(7)))
        );
        assert_eq!(r.file.as_deref(), Some("/app/main.py"));
        assert_eq!(r.fields["traceback"], Value::String(tb.into()));
    }
}
