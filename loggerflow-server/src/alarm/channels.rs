//! The built-in alarm kinds.

//!
//! Every kind reaches the network through [`Outbound::http`] and checks its
//! URL with [`Outbound::check_url`]; the `file` kind writes only inside
//! [`Outbound::alarm_dir`].

use super::outbound::{self, Outbound};
use super::{Alarm, AlarmMessage, FieldSpec, Fields};

fn field(fields: &Fields, name: &str) -> String {
    fields.get(name).cloned().unwrap_or_default()
}

/// Sends `request`; on failure, the status (never the answer's body, which
/// could be anything the target returns) or the cause of the failure.
async fn post(request: reqwest::RequestBuilder, secret: &str) -> Result<(), String> {
    let scrub = |s: String| {
        if secret.is_empty() {
            s
        } else {
            s.replace(secret, super::MASK)
        }
    };
    let response = request.send().await.map_err(|e| {
        // the resolver's refusal is the most useful part of the chain
        let e = e.without_url();
        let mut cause = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(inner) = source {
            cause = inner.to_string();
            source = inner.source();
        }
        scrub(format!("request failed: {cause}"))
    })?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    if status.is_redirection() {
        return Err(format!(
            "HTTP {}: redirects are not followed; give the final URL",
            status.as_u16()
        ));
    }
    Err(format!("HTTP {}", status.as_u16()))
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
    http: reqwest::Client,
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

    fn from_fields(fields: &Fields, outbound: &Outbound) -> Result<Self, String> {
        let api_url = fields
            .get("api_url")
            .filter(|u| !u.is_empty())
            .cloned()
            .unwrap_or_else(|| "https://api.telegram.org".into());
        outbound
            .check_url(&api_url)
            .map_err(|e| format!("`api_url`: {e}"))?;
        let token = field(fields, "token");
        if !token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-:".contains(&b))
        {
            return Err("`token` is not a Telegram bot token".into());
        }
        Ok(Self {
            token,
            chat_id: field(fields, "chat_id"),
            api_url: api_url.trim().trim_end_matches('/').to_owned(),
            http: outbound.http().clone(),
        })
    }

    async fn send(&self, message: &AlarmMessage) -> Result<(), String> {
        let chat_id = match self.chat_id.parse::<i64>() {
            Ok(n) => serde_json::json!(n),
            Err(_) => serde_json::json!(self.chat_id),
        };
        let url = format!("{}/bot{}/sendMessage", self.api_url, self.token);
        let body = serde_json::json!({ "chat_id": chat_id, "text": text(message), "disable_web_page_preview": true });
        post(self.http.post(url).json(&body), &self.token).await
    }
}

/// Discord, through a webhook.
pub struct Discord {
    webhook_url: reqwest::Url,
    http: reqwest::Client,
}

#[async_trait::async_trait]
impl Alarm for Discord {
    fn kind() -> &'static str {
        "discord"
    }

    fn fields() -> Vec<FieldSpec> {
        vec![FieldSpec::secret("webhook_url", "Webhook URL")]
    }

    fn from_fields(fields: &Fields, outbound: &Outbound) -> Result<Self, String> {
        let webhook_url = outbound
            .check_url(&field(fields, "webhook_url"))
            .map_err(|e| format!("`webhook_url`: {e}"))?;
        Ok(Self {
            webhook_url,
            http: outbound.http().clone(),
        })
    }

    async fn send(&self, message: &AlarmMessage) -> Result<(), String> {
        let body =
            serde_json::json!({ "content": text(message), "allowed_mentions": { "parse": [] } });
        post(
            self.http.post(self.webhook_url.clone()).json(&body),
            self.webhook_url.as_str(),
        )
        .await
    }
}

/// A line per alarm appended to a file inside the alarm directory
/// (`--alarm-dir`), control characters escaped so that a line is one alarm.
pub struct File {
    path: String,
    outbound: Outbound,
}

#[async_trait::async_trait]
impl Alarm for File {
    fn kind() -> &'static str {
        "file"
    }

    fn fields() -> Vec<FieldSpec> {
        vec![FieldSpec::required(
            "path",
            "File name (inside the server's alarm directory)",
        )]
    }

    fn from_fields(fields: &Fields, outbound: &Outbound) -> Result<Self, String> {
        let path = field(fields, "path");
        outbound.alarm_file(&path)?;
        Ok(Self {
            path,
            outbound: outbound.clone(),
        })
    }

    async fn send(&self, message: &AlarmMessage) -> Result<(), String> {
        let path = self.path.clone();
        let outbound = self.outbound.clone();
        let line = format!(
            "{} {}\n",
            escape_line(&message.time),
            escape_line(&text(message))
        );
        tokio::task::spawn_blocking(move || {
            // checked at every send: the directory may have changed since
            let file = outbound.alarm_file(&path)?;
            outbound::append(&file, line.as_bytes())
                .map_err(|e| format!("cannot write the alarm file `{path}`: {e}"))
        })
        .await
        .map_err(|e| e.to_string())?
    }
}

/// A POST of the message as JSON (`project`, `trigger`, `message`, `time`)
/// to any URL, with optional headers (`{"X-Key": "…"}` as JSON).
pub struct Webhook {
    url: reqwest::Url,
    headers: Vec<(reqwest::header::HeaderName, reqwest::header::HeaderValue)>,
    http: reqwest::Client,
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

    fn from_fields(fields: &Fields, outbound: &Outbound) -> Result<Self, String> {
        let headers = match fields.get("headers").filter(|h| !h.trim().is_empty()) {
            Some(h) => serde_json::from_str::<std::collections::BTreeMap<String, String>>(h)
                .map_err(|_| "`headers` must be a JSON object of strings".to_owned())?
                .into_iter()
                .map(|(name, value)| {
                    let name = reqwest::header::HeaderName::from_bytes(name.as_bytes())
                        .map_err(|_| format!("`headers`: `{name}` is not a header name"))?;
                    let value = reqwest::header::HeaderValue::from_str(&value)
                        .map_err(|_| format!("`headers`: the value of `{name}` is not valid"))?;
                    Ok((name, value))
                })
                .collect::<Result<Vec<_>, String>>()?,
            None => Vec::new(),
        };
        let url = outbound
            .check_url(&field(fields, "url"))
            .map_err(|e| format!("`url`: {e}"))?;
        Ok(Self {
            url,
            headers,
            http: outbound.http().clone(),
        })
    }

    async fn send(&self, message: &AlarmMessage) -> Result<(), String> {
        let mut request = self.http.post(self.url.clone()).json(message);
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        post(request, "").await
    }
}

/// `text` as one line: control characters (a newline above all) escaped.
pub fn escape_line(text: &str) -> String {
    let mut line = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() || crate::names::is_invisible(c) {
            line.extend(c.escape_default());
        } else {
            line.push(c);
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_stays_one_line() {
        assert_eq!(
            escape_line("x\nANY LINE\r\n\u{1b}[31m\u{202e}"),
            "x\\nANY LINE\\r\\n\\u{1b}[31m\\u{202e}"
        );
        assert_eq!(escape_line("plain — ünïcode"), "plain — ünïcode");
    }
}
