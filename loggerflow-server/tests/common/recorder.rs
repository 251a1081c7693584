//! A local HTTP server standing in for an alarm's target (Telegram, a
//! webhook): records each request's JSON body as it arrives; answers after
//! a delay, and can hang on the first request (a channel that hangs while
//! its server dies).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::Server;

/// One request as it arrived.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// Path and query.
    pub uri: String,
    pub headers: axum::http::HeaderMap,
    pub body: serde_json::Value,
}

/// The stand-in; it stops with the test's runtime.
pub struct Recorder {
    pub addr: SocketAddr,
    pub bodies: Arc<Mutex<Vec<serde_json::Value>>>,
    pub requests: Arc<Mutex<Vec<Request>>>,
}

impl Recorder {
    /// Answers `{"ok": true}` at once.
    pub async fn start() -> Self {
        Self::start_with(Duration::ZERO, false).await
    }

    /// Answers after `delay`; never answers the first request when
    /// `hold_first`.
    pub async fn start_with(delay: Duration, hold_first: bool) -> Self {
        let bodies: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
        let requests: Arc<Mutex<Vec<Request>>> = Arc::default();
        let seen = bodies.clone();
        let log = requests.clone();
        let app = axum::Router::new().fallback(
            move |method: axum::http::Method,
                  uri: axum::http::Uri,
                  headers: axum::http::HeaderMap,
                  body: axum::body::Bytes| {
                let (seen, log) = (seen.clone(), log.clone());
                async move {
                    let value = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
                    log.lock().expect("lock").push(Request {
                        method: method.to_string(),
                        uri: uri.to_string(),
                        headers,
                        body: value.clone(),
                    });
                    let first = {
                        let mut bodies = seen.lock().expect("lock");
                        bodies.push(value);
                        bodies.len() == 1
                    };
                    if first && hold_first {
                        std::future::pending::<()>().await;
                    }
                    tokio::time::sleep(delay).await;
                    axum::Json(serde_json::json!({ "ok": true }))
                }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            addr,
            bodies,
            requests,
        }
    }

    /// The text of each message so far (Telegram's `text`, a webhook's
    /// `message`).
    pub fn texts(&self) -> Vec<String> {
        self.bodies
            .lock()
            .expect("lock")
            .iter()
            .map(|b| {
                b["text"]
                    .as_str()
                    .or(b["message"].as_str())
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect()
    }

    /// The texts once there are `n`, or when `within` has passed.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<String> {
        let deadline = std::time::Instant::now() + within;
        while self.texts().len() < n && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.texts()
    }
}

/// A Telegram alarm `ops` pointed at `recorder` (created through `server`,
/// or there already) connected to `project` with `triggers`.
pub async fn telegram_alarm(
    server: &Server,
    recorder: &Recorder,
    project: &str,
    triggers: serde_json::Value,
    every_nth: i64,
) {
    let alarm = serde_json::json!({ "kind": "telegram", "name": "ops", "fields": {
        "token": "123:SECRET", "chat_id": "-100", "api_url": format!("http://{}", recorder.addr) } });
    let (status, reply) = server.post("/api/v1/alarms", &alarm.to_string()).await;
    assert!(status == 201 || reply["error"] == "alarm_exists", "{reply}");
    let connect =
        serde_json::json!({ "alarm": "ops", "triggers": triggers, "every_nth": every_nth });
    let (status, reply) = server
        .post(
            &format!("/api/v1/projects/{project}/alarms"),
            &connect.to_string(),
        )
        .await;
    assert_eq!(status, 200, "{reply}");
}
