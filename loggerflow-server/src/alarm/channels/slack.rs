//! `slack`: an incoming webhook, with a Block Kit message.

use serde_json::{Value, json};

use super::{SecretHook, headline};
use crate::alarm::{Alarm, AlarmMessage, FieldSpec, Fields, Outbound};
use crate::markup::{cut, slack as escape};

/// `text` escaped for Slack in at most `max` characters (cut before it is
/// escaped, so no entity is cut in half).
fn fit(text: &str, max: usize) -> String {
    let mut keep = max;
    loop {
        let escaped = escape(&cut(text, keep));
        let over = escaped.chars().count().saturating_sub(max);
        if over == 0 || keep <= 1 {
            return escaped;
        }
        keep = keep.saturating_sub(over).max(1);
    }
}

/// Slack, through an incoming webhook
/// (`https://hooks.slack.com/services/…`): a Block Kit message with the
/// title, the project, the trigger and a button to the page.
pub struct Slack(SecretHook);

#[async_trait::async_trait]
impl Alarm for Slack {
    fn kind() -> &'static str {
        "slack"
    }

    fn fields() -> Vec<FieldSpec> {
        vec![FieldSpec::secret(
            SecretHook::FIELD,
            "Incoming webhook URL (https://hooks.slack.com/services/…)",
        )]
    }

    fn from_fields(fields: &Fields, outbound: &Outbound) -> Result<Self, String> {
        SecretHook::from_fields(fields, outbound).map(Self)
    }

    async fn send(&self, message: &AlarmMessage) -> Result<(), String> {
        self.0.post(&payload(message)).await
    }
}

/// The Block Kit message. What comes from apps (the message, the project)
/// is escaped for Slack (`&`, `<`, `>`: no mention such as `<!channel>`, no
/// link of its own) and the message goes in `plain_text`, where `*bold*`
/// and the like stay as typed. Lengths stay within Slack's limits (a header
/// 150 characters, a text 3,000).
pub fn payload(message: &AlarmMessage) -> Value {
    let title = format!("{}: {}", headline(&message.trigger), message.project);
    let mut blocks = vec![
        json!({
            "type": "header",
            "text": { "type": "plain_text", "text": fit(&title, 150), "emoji": false }
        }),
        json!({
            "type": "section",
            "text": { "type": "plain_text", "text": fit(&message.message, 3000), "emoji": false }
        }),
        json!({
            "type": "section",
            "fields": [
                { "type": "mrkdwn", "text": format!("*Project*\n{}", fit(&message.project, 1000)), "verbatim": true },
                { "type": "mrkdwn", "text": format!("*Trigger*\n`{}`", escape(&message.trigger)), "verbatim": true },
            ]
        }),
        json!({
            "type": "context",
            "elements": [ { "type": "plain_text", "text": escape(&message.time), "emoji": false } ]
        }),
    ];
    if let Some(link) = &message.link {
        blocks.push(json!({
            "type": "actions",
            "elements": [{
                "type": "button",
                "text": { "type": "plain_text", "text": "Open in LoggerFlow" },
                "url": link,
            }]
        }));
    }
    json!({
        // the notification's text, where blocks are not shown
        "text": fit(&format!("[{}] {}: {}", message.project, message.trigger, message.message), 3000),
        "blocks": blocks,
    })
}
