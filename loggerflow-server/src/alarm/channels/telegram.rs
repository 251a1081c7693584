//! `telegram`: a bot's `sendMessage`.

use super::{field, post, text};
use crate::alarm::{Alarm, AlarmMessage, FieldSpec, Fields, Outbound};

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
