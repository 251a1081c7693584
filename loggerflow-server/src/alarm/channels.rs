//! The built-in alarm kinds.

use std::io::Write as _;
use std::time::Duration;

use super::{Alarm, AlarmMessage, FieldSpec, Fields};

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

fn field(fields: &Fields, name: &str) -> String {
    fields.get(name).cloned().unwrap_or_default()
}

async fn post(request: reqwest::RequestBuilder, secret: &str) -> Result<(), String> {
    let scrub = |s: String| {
        if secret.is_empty() {
            s
        } else {
            s.replace(secret, "***")
        }
    };
    let response = request
        .send()
        .await
        .map_err(|e| scrub(format!("request failed: {}", e.without_url())))?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let body: String = response
        .text()
        .await
        .unwrap_or_default()
        .chars()
        .take(200)
        .collect();
    Err(scrub(format!("HTTP {}: {body}", status.as_u16())))
}

fn text(message: &AlarmMessage) -> String {
    format!(
        "[{}] {}: {}",
        message.project, message.trigger, message.message
    )
}

/// Telegram, through a bot (`sendMessage`).
pub struct Telegram {
    token: String,
    chat_id: String,
    api_url: String,
}

#[async_trait::async_trait]
impl Alarm for Telegram {
    fn kind() -> &'static str {
        "telegram"
    }

    fn fields() -> Vec<FieldSpec> {
        vec![
            FieldSpec::secret("token", "Bot token"),
            FieldSpec::required("chat_id", "Chat id"),
            FieldSpec::optional("api_url", "Bot API URL (default https://api.telegram.org)"),
        ]
    }

    fn from_fields(fields: &Fields) -> Result<Self, String> {
        let api_url = fields
            .get("api_url")
            .filter(|u| !u.is_empty())
            .cloned()
            .unwrap_or_else(|| "https://api.telegram.org".into());
        Ok(Self {
            token: field(fields, "token"),
            chat_id: field(fields, "chat_id"),
            api_url: api_url.trim_end_matches('/').to_owned(),
        })
    }

    async fn send(&self, message: &AlarmMessage) -> Result<(), String> {
        let chat_id = match self.chat_id.parse::<i64>() {
            Ok(n) => serde_json::json!(n),
            Err(_) => serde_json::json!(self.chat_id),
        };
        let url = format!("{}/bot{}/sendMessage", self.api_url, self.token);
        let body = serde_json::json!({ "chat_id": chat_id, "text": text(message), "disable_web_page_preview": true });
        post(client().post(url).json(&body), &self.token).await
    }
}

/// Discord, through a webhook.
pub struct Discord {
    webhook_url: String,
}

#[async_trait::async_trait]
impl Alarm for Discord {
    fn kind() -> &'static str {
        "discord"
    }

    fn fields() -> Vec<FieldSpec> {
        vec![FieldSpec::secret("webhook_url", "Webhook URL")]
    }

    fn from_fields(fields: &Fields) -> Result<Self, String> {
        Ok(Self {
            webhook_url: field(fields, "webhook_url"),
        })
    }

    async fn send(&self, message: &AlarmMessage) -> Result<(), String> {
        let body =
            serde_json::json!({ "content": text(message), "allowed_mentions": { "parse": [] } });
        post(
            client().post(&self.webhook_url).json(&body),
            &self.webhook_url,
        )
        .await
    }
}

/// A line per alarm appended to a file.
pub struct File {
    path: String,
}

#[async_trait::async_trait]
impl Alarm for File {
    fn kind() -> &'static str {
        "file"
    }

    fn fields() -> Vec<FieldSpec> {
        vec![FieldSpec::required("path", "File path")]
    }

    fn from_fields(fields: &Fields) -> Result<Self, String> {
        Ok(Self {
            path: field(fields, "path"),
        })
    }

    async fn send(&self, message: &AlarmMessage) -> Result<(), String> {
        let path = self.path.clone();
        let line = format!("{} {}\n", message.time, text(message));
        tokio::task::spawn_blocking(move || {
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|e| format!("cannot open {path}: {e}"))?;
            file.write_all(line.as_bytes())
                .map_err(|e| format!("cannot write {path}: {e}"))
        })
        .await
        .map_err(|e| e.to_string())?
    }
}

/// A POST of the message as JSON (`project`, `trigger`, `message`, `time`)
/// to any URL, with optional headers (`{"X-Key": "…"}` as JSON).
pub struct Webhook {
    url: String,
    headers: Vec<(String, String)>,
}

#[async_trait::async_trait]
impl Alarm for Webhook {
    fn kind() -> &'static str {
        "webhook"
    }

    fn fields() -> Vec<FieldSpec> {
        vec![
            // URLs and headers often carry tokens: both are kept secret
            FieldSpec::secret("url", "URL"),
            FieldSpec::optional_secret("headers", "Headers (a JSON object)"),
        ]
    }

    fn from_fields(fields: &Fields) -> Result<Self, String> {
        let headers = match fields.get("headers").filter(|h| !h.trim().is_empty()) {
            Some(h) => serde_json::from_str::<std::collections::BTreeMap<String, String>>(h)
                .map_err(|e| format!("`headers` must be a JSON object of strings: {e}"))?
                .into_iter()
                .collect(),
            None => Vec::new(),
        };
        let url = field(fields, "url");
        if !url.starts_with("http://") && !url.starts_with("https://") {
            return Err(format!("`url` must be http:// or https://, not `{url}`"));
        }
        Ok(Self { url, headers })
    }

    async fn send(&self, message: &AlarmMessage) -> Result<(), String> {
        let mut request = client().post(&self.url).json(message);
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        post(request, "").await
    }
}
