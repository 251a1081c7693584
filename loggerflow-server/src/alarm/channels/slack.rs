//! `slack`: an incoming webhook, with a Block Kit message.

use serde_json::{Value, json};

use super::{SecretHook, headline};
use crate::alarm::{Alarm, AlarmMessage, FieldSpec, Fields, Outbound};
use crate::markup::slack as escape;

/// `text` escaped for Slack in at most `max` characters.
fn fit(text: &str, max: usize) -> String {
    crate::markup::fit(text, max, escape)
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
/// link of its own) and goes in `plain_text`, where `*bold*` and the like
/// stay as typed. Lengths stay within Slack's limits (a header
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
            // plain text: a project's name cannot bold or strike anything
            "fields": [
                { "type": "plain_text", "text": fit(&format!("Project: {}", message.project), 1000), "emoji": false },
                { "type": "plain_text", "text": fit(&format!("Trigger: {}", message.trigger), 1000), "emoji": false },
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
