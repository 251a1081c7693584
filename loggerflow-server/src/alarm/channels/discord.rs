//! `discord`: a channel's webhook.

use super::SecretHook;
use crate::alarm::{Alarm, AlarmMessage, FieldSpec, Fields, Outbound};
use crate::markup::{discord, fit};

/// Discord, through a webhook: the message as text, markdown escaped, no
/// mentions.
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
            serde_json::json!({ "content": content(message), "allowed_mentions": { "parse": [] } });
        self.0.post(&body).await
    }
}

/// The message's `content`: [`summary`] with Discord's markdown escaped
/// and the link on its own line, within Discord's 2,000 characters.
pub fn content(message: &AlarmMessage) -> String {
    super::with_link(message, 2000, |text, max| fit(text, max, discord))
}
