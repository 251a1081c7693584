//! `teams`: a Microsoft Teams workflow webhook, with an Adaptive Card.

use serde_json::{Value, json};

use super::{SecretHook, headline};
use crate::alarm::{Alarm, AlarmMessage, FieldSpec, Fields, Outbound};
use crate::markup::{cut, cut_bytes};

/// Microsoft Teams, through a workflow's webhook ("Post to a channel when a
/// webhook request is received"): an Adaptive Card with the title, the
/// project, the trigger, the trace and a button to the page.
pub struct Teams(SecretHook);

#[async_trait::async_trait]
impl Alarm for Teams {
    fn kind() -> &'static str {
        "teams"
    }

    fn fields() -> Vec<FieldSpec> {
        vec![FieldSpec::secret(
            SecretHook::FIELD,
            "Workflow webhook URL (from Teams: Workflows, \"Post to a channel when a webhook request is received\")",
        )]
    }

    fn from_fields(fields: &Fields, outbound: &Outbound) -> Result<Self, String> {
        SecretHook::from_fields(fields, outbound).map(Self)
    }

    async fn send(&self, message: &AlarmMessage) -> Result<(), String> {
        self.0.post(&payload(message)).await
    }
}

/// What the card's body may weigh as JSON, below Teams' ~28 KB per message.
const MAX_CARD_BYTES: usize = 24 * 1024;

/// A `TextRun`: plain text, never read as markdown (an app's title cannot
/// make a link or a mention).
fn run(text: &str) -> Value {
    json!({ "type": "TextRun", "text": text })
}

/// The workflow's message: one Adaptive Card (1.4). Everything from apps is
/// in `TextRun`s, which Teams shows as typed; only the fixed labels are
/// `TextBlock`s. The trace is cut at 4 KB (a Teams message holds ~28 KB).
pub fn payload(message: &AlarmMessage) -> Value {
    let color = match message.trigger.as_str() {
        "online" | "check" => "Good",
        "stopped" | "digest" | "every_nth" => "Warning",
        _ => "Attention",
    };
    let mut body = vec![
        json!({
            "type": "TextBlock", "text": headline(&message.trigger),
            "weight": "Bolder", "size": "Medium", "color": color, "wrap": true
        }),
        json!({ "type": "RichTextBlock", "inlines": [ run(&cut(&message.message, 2000)) ] }),
        json!({ "type": "RichTextBlock", "inlines": [
            json!({ "type": "TextRun", "text": "Project: ", "weight": "Bolder" }),
            run(&cut(&message.project, 200)),
        ]}),
        json!({ "type": "RichTextBlock", "inlines": [
            json!({ "type": "TextRun", "text": "Trigger: ", "weight": "Bolder" }),
            run(&message.trigger),
            run(&format!(" · {}", message.time)),
        ]}),
    ];
    if let Some(trace) = &message.trace {
        let block = json!({ "type": "RichTextBlock", "inlines": [
            json!({ "type": "TextRun", "text": cut_bytes(trace, 4096), "fontType": "Monospace", "size": "Small" }),
        ]});
        // Teams refuses a message over ~28 KB: the trace goes first
        let size = |v: &Value| serde_json::to_vec(v).map_or(usize::MAX, |b| b.len());
        if size(&json!(body)) + size(&block) < MAX_CARD_BYTES {
            body.push(block);
        }
    }
    let mut card = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "msteams": { "width": "Full" },
        "body": body,
    });
    if let Some(link) = &message.link {
        card["actions"] = json!([
            { "type": "Action.OpenUrl", "title": "Open in LoggerFlow", "url": link }
        ]);
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": card,
        }]
    })
}
