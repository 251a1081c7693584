//! A real `loggerflow` process on a free port, over a real SQLite file or a
//! fresh database on the PostgreSQL at 127.0.0.1:5432.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use sea_orm::ConnectionTrait;

pub mod proxy;
pub mod recorder;
pub mod smtp;
pub mod tls;

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub const BACKENDS: [Backend; 2] = [Backend::Sqlite, Backend::Postgres];

const PG_ADMIN: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A database for one test: a temp SQLite file, or a fresh PostgreSQL database.
pub struct Db {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    pg_name: Option<String>,
}

impl Db {
    pub async fn new(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("tempdir");
                let url = format!("sqlite://{}?mode=rwc", dir.path().join("lf.db").display());
                Self {
                    url,
                    _dir: Some(dir),
                    pg_name: None,
                }
            }
            Backend::Postgres => {
                let name = format!("lf_test_{}", uuid_like());
                let admin = sea_orm::Database::connect(PG_ADMIN)
                    .await
                    .expect("PostgreSQL on 127.0.0.1:5432 (scripts/test starts it)");
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("create database");
                admin.close().await.ok();
                let url = format!("postgres://postgres@127.0.0.1:5432/{name}");
                Self {
                    url,
                    _dir: None,
                    pg_name: Some(name),
                }
            }
        }
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        if let Some(name) = self.pg_name.take() {
            // best effort, in a runtime of its own (Drop is sync)
            let _ = std::thread::spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    rt.block_on(async {
                        if let Ok(admin) = sea_orm::Database::connect(PG_ADMIN).await {
                            let _ = admin
                                .execute_unprepared(&format!(
                                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                                ))
                                .await;
                        }
                    });
                }
            })
            .join();
        }
    }
}

fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{}_{}", std::process::id(), nanos % 1_000_000_000_000)
}

/// A running `loggerflow run`.
pub struct Server {
    pub child: Child,
    pub base: String,
    pub database: String,
    pub extra: Vec<String>,
}

impl Server {
    pub fn start(database: &str, extra: &[&str]) -> Self {
        Self::start_on(database, extra, 0)
    }

    pub fn start_on_port(database: &str, extra: &[&str], port: u16) -> Self {
        Self::start_on(database, extra, port)
    }

    /// Starts another binary that speaks the same command line (a custom server).
    pub fn start_binary(binary: &std::path::Path, database: &str, extra: &[&str]) -> Self {
        Self::spawn(Command::new(binary), database, extra, 0)
    }

    fn start_on(database: &str, extra: &[&str], port: u16) -> Self {
        Self::spawn(
            Command::new(env!("CARGO_BIN_EXE_loggerflow")),
            database,
            extra,
            port,
        )
    }

    fn spawn(mut command: Command, database: &str, extra: &[&str], port: u16) -> Self {
        let mut child = command
            .args([
                "run",
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--disable-log",
                "-d",
                database,
            ])
            .args(extra)
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
            .unwrap_or_else(|| panic!("no banner: {line:?}"))
            .to_owned();
        Self {
            child,
            base: format!("http://{addr}"),
            database: database.to_owned(),
            extra: extra.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    pub fn port(&self) -> u16 {
        self.base
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_default()
    }

    /// SIGKILL, then a new process on the same port and database.
    pub fn kill_and_restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let extra: Vec<&str> = self.extra.iter().map(String::as_str).collect();
        let port = self.port();
        // the port may linger a moment
        for _ in 0..50 {
            if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        *self = Self::start_on(&self.database.clone(), &extra, port);
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> serde_json::Value {
        let response = reqwest::get(self.url(path)).await.expect("GET");
        assert!(
            response.status().is_success(),
            "GET {path}: {}",
            response.status()
        );
        response.json().await.expect("JSON")
    }

    pub async fn post(&self, path: &str, body: &str) -> (u16, serde_json::Value) {
        let response = reqwest::Client::new()
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .expect("POST");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
        )
    }

    /// Polls `check` on `GET path` until it holds or `within` passes.
    pub async fn wait_for(
        &self,
        path: &str,
        within: Duration,
        check: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = std::time::Instant::now() + within;
        loop {
            let value = self.get(path).await;
            if check(&value) || std::time::Instant::now() > deadline {
                return value;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The project `name` in a `GET /api/v1/projects` answer.
pub fn project<'a>(projects: &'a serde_json::Value, name: &str) -> Option<&'a serde_json::Value> {
    projects["projects"]
        .as_array()?
        .iter()
        .find(|p| p["name"] == name)
}

/// A native batch body.
pub fn batch(instance: &str, messages: serde_json::Value) -> String {
    serde_json::json!({ "protocol": 1, "instance": instance, "messages": messages }).to_string()
}

pub fn hello(
    project: &str,
    instance: &str,
    heartbeat_s: u32,
    transport: &str,
) -> serde_json::Value {
    serde_json::json!({
        "type": "hello", "protocol": 1, "project": project, "instance": instance, "host": "test-host",
        "pid": 42, "client_version": "test/1", "heartbeat_s": heartbeat_s, "trace_mode": "full",
        "transport": transport
    })
}

pub fn heartbeat(cpu: f32) -> serde_json::Value {
    serde_json::json!({ "type": "heartbeat", "metrics": {
        "cpu_percent": cpu, "process_cpu_percent": 1.5, "process_memory_bytes": 10_000_000u64,
        "memory_used_bytes": 2_000_000_000u64, "memory_total_bytes": 8_000_000_000u64 } })
}

/// A report message; `n` varies the message's number (the same group).
pub fn report(project: &str, id: &str, n: u32) -> serde_json::Value {
    serde_json::json!({ "type": "report", "report": {
        "id": id, "project": project, "timestamp": chrono::Utc::now().to_rfc3339(), "level": "ERROR",
        "kind": "event", "message": format!("payment {n} failed"), "target": "shop::pay",
        "module": "shop::pay", "file": "src/pay.rs", "line": 10, "thread": "main", "host": "h",
        "frames": [{"function": "shop::pay::charge", "file": "src/pay.rs", "line": 10, "yours": true}]
    } })
}

/// The ids of every stored report (16 bytes in the database), as text.
pub async fn stored_ids(db: &sea_orm::DatabaseConnection) -> std::collections::HashSet<String> {
    db.query_all_raw(sea_orm::Statement::from_string(
        db.get_database_backend(),
        "SELECT id FROM reports",
    ))
    .await
    .expect("read reports")
    .iter()
    .map(|r| {
        r.try_get_by_index::<uuid::Uuid>(0)
            .expect("an id")
            .to_string()
    })
    .collect()
}

pub fn new_id() -> String {
    loggerflow_layer::ReportId::new().to_string()
}

/// A browser without a browser: keeps the dashboard's cookie and sends
/// every form with this browser's CSRF token, as the pages' forms do.
#[allow(dead_code)]
pub struct FormClient {
    pub client: reqwest::Client,
    pub base: String,
    pub cookie: String,
    pub csrf: String,
}

/// The value of the first `name="csrf"` input of a page.
#[allow(dead_code)]
pub fn csrf_of(html: &str) -> String {
    html.split(r#"name="csrf" value=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default()
        .to_owned()
}

#[allow(dead_code)]
impl FormClient {
    fn client() -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client")
    }

    fn cookie_of(response: &reqwest::Response, name: &str) -> Option<String> {
        response
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .and_then(|v| v.split(';').next())
            .map(str::to_owned)
    }

    /// Opens the projects page of a server without `--auth`.
    pub async fn new(server: &Server) -> Self {
        let client = Self::client();
        let response = client.get(server.url("/")).send().await.expect("GET /");
        let cookie = Self::cookie_of(&response, "lf_csrf").expect("a CSRF cookie");
        let html = response.text().await.expect("body");
        let mut me = Self {
            client,
            base: server.base.clone(),
            cookie,
            csrf: csrf_of(&html),
        };
        if me.csrf.is_empty() {
            // the empty projects page has no form: any page with one does
            let (_, html) = me.get("/settings").await;
            me.csrf = csrf_of(&html);
        }
        me
    }

    /// Logs in through `/login` (a server with `--auth`).
    pub async fn login(server: &Server, user: &str, password: &str) -> Self {
        let client = Self::client();
        let response = client
            .post(server.url("/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("user={user}&password={password}&next=%2Fsettings"))
            .send()
            .await
            .expect("POST /login");
        assert_eq!(response.status().as_u16(), 303, "logged in");
        let cookie = Self::cookie_of(&response, "lf_session").expect("a session cookie");
        let mut me = Self {
            client,
            base: server.base.clone(),
            cookie,
            csrf: String::new(),
        };
        let (_, html) = me.get("/settings").await;
        me.csrf = csrf_of(&html);
        me
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .send()
            .await
            .expect("GET");
        let status = response.status().as_u16();
        (status, response.text().await.unwrap_or_default())
    }

    /// Posts a form (`a=1&b=2`) with the CSRF token added.
    pub async fn post(&self, path: &str, form: &str) -> reqwest::Response {
        let body = if form.is_empty() {
            format!("csrf={}", self.csrf)
        } else {
            format!("{form}&csrf={}", self.csrf)
        };
        self.client
            .post(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("POST")
    }

    /// Where a redirect answer points.
    pub fn location(response: &reqwest::Response) -> String {
        response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }
}
