//! `ntfy`: a push notification through an ntfy server (ntfy.sh or yours).

use serde_json::{Value, json};

use super::{field, headline, post};
use crate::alarm::{Alarm, AlarmMessage, FieldSpec, Fields, Outbound};
use crate::markup::{cut, cut_bytes};

/// ntfy: a JSON publish to the server's root (topic, title, message,
/// priority by trigger, tags, a click action to the page), with an access
/// token when the topic is protected.
pub struct Ntfy {
    server: reqwest::Url,
    topic: String,
    token: String,
    http: reqwest::Client,
}

#[async_trait::async_trait]
impl Alarm for Ntfy {
    fn kind() -> &'static str {
        "ntfy"
    }

    fn fields() -> Vec<FieldSpec> {
        vec![
            FieldSpec::optional("server", "Server URL (default https://ntfy.sh)"),
            FieldSpec::required("topic", "Topic"),
            FieldSpec::optional_secret("token", "Access token (tk_…), for a protected topic"),
        ]
    }

    fn from_fields(fields: &Fields, outbound: &Outbound) -> Result<Self, String> {
        let server = fields
            .get("server")
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .unwrap_or("https://ntfy.sh");
        let server = outbound
            .check_url(server)
            .map_err(|e| format!("`server`: {e}"))?;
        let topic = field(fields, "topic").trim().to_owned();
        // ntfy's own rule for topic names
        if topic.is_empty()
            || topic.len() > 64
            || !topic
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err("`topic`: 1 to 64 letters, digits, `-` or `_`".into());
        }
        let token = field(fields, "token").trim().to_owned();
        if reqwest::header::HeaderValue::from_str(&format!("Bearer {token}")).is_err() {
            return Err("`token` is not a valid access token".into());
        }
        Ok(Self {
            server,
            topic,
            token,
            http: outbound.http().clone(),
        })
    }

    async fn send(&self, message: &AlarmMessage) -> Result<(), String> {
        let mut request = self
            .http
            .post(self.server.clone())
            .json(&payload(&self.topic, message));
        if !self.token.is_empty() {
            request = request.bearer_auth(&self.token);
        }
        post(request, &self.token).await
    }
}

/// ntfy's priority (1 min … 5 max) and tags (emoji) for `trigger`: an app
/// down is urgent, one back up is low.
pub fn priority(trigger: &str) -> (u8, &'static str) {
    match trigger {
        "offline" => (5, "rotating_light"),
        "new_error" | "regression" => (4, "boom"),
        "cpu_high" | "memory_high" => (4, "warning"),
        "stopped" => (3, "stop_sign"),
        "every_nth" | "digest" => (3, "repeat"),
        "online" => (2, "white_check_mark"),
        _ => (3, "bell"),
    }
}

/// The JSON publish of `message` to `topic`. ntfy shows text as typed (no
/// markdown unless asked), so nothing is escaped; the message is cut to fit
/// ntfy's 4,096 bytes (beyond it the message becomes an attachment).
pub fn payload(topic: &str, message: &AlarmMessage) -> Value {
    let (priority, tag) = priority(&message.trigger);
    let mut body = json!({
        "topic": topic,
        "title": cut(&format!("{}: {}", headline(&message.trigger), message.project), 200),
        "message": cut_bytes(&message.message, 3500),
        "priority": priority,
        "tags": [tag, "loggerflow"],
    });
    if let Some(link) = &message.link {
        body["click"] = json!(link);
    }
    body
}
