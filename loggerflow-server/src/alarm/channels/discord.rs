//! `discord`: a channel's webhook.

use super::{SecretHook, text};
use crate::alarm::{Alarm, AlarmMessage, FieldSpec, Fields, Outbound};

/// Discord, through a webhook.
pub struct Discord(SecretHook);

#[async_trait::async_trait]
impl Alarm for Discord {
    fn kind() -> &'static str {
        "discord"
    }

    fn fields() -> Vec<FieldSpec> {
        vec![FieldSpec::secret(SecretHook::FIELD, "Webhook URL")]
    }

    fn from_fields(fields: &Fields, outbound: &Outbound) -> Result<Self, String> {
        SecretHook::from_fields(fields, outbound).map(Self)
    }

    async fn send(&self, message: &AlarmMessage) -> Result<(), String> {
        let body =
            serde_json::json!({ "content": text(message), "allowed_mentions": { "parse": [] } });
        self.0.post(&body).await
    }
}
