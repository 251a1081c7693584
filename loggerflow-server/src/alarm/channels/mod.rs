//! The built-in alarm kinds, one module each, and what they share.
//!
//! Every HTTP kind reaches the network through [`Outbound::http`] and
//! checks its URL with [`Outbound::check_url`]; `email` connects only to an
//! address [`Outbound::resolve`] allows; the `file` kind writes only inside
//! [`Outbound::alarm_dir`].
//!
//! [`Outbound::http`]: crate::alarm::Outbound::http
//! [`Outbound::check_url`]: crate::alarm::Outbound::check_url
//! [`Outbound::resolve`]: crate::alarm::Outbound::resolve
//! [`Outbound::alarm_dir`]: crate::alarm::Outbound::alarm_dir

mod discord;
mod email;
mod file;
mod ntfy;
mod slack;
mod teams;
mod telegram;
mod webhook;

pub use discord::Discord;
pub use email::Email;
pub use file::File;
pub use ntfy::Ntfy;
pub use slack::Slack;
pub use teams::Teams;
pub use telegram::Telegram;
pub use webhook::Webhook;

use super::{AlarmMessage, Fields};

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

/// A secret webhook URL (the whole URL is the credential) that takes a JSON
/// POST: what Discord, Slack and Teams share.
struct SecretHook {
    url: reqwest::Url,
    http: reqwest::Client,
}

impl SecretHook {
    /// The field it is configured with.
    const FIELD: &'static str = "webhook_url";

    /// From the `webhook_url` field, checked under the outbound policy.
    fn from_fields(fields: &Fields, outbound: &crate::alarm::Outbound) -> Result<Self, String> {
        let url = outbound
            .check_url(&field(fields, Self::FIELD))
            .map_err(|e| format!("`{}`: {e}", Self::FIELD))?;
        Ok(Self {
            url,
            http: outbound.http().clone(),
        })
    }

    /// POSTs `body` as JSON; the URL never appears in the error.
    async fn post(&self, body: &serde_json::Value) -> Result<(), String> {
        post(
            self.http.post(self.url.clone()).json(body),
            self.url.as_str(),
        )
        .await
    }
}

/// The message in one line: `[project] trigger: message`.
fn summary(message: &AlarmMessage) -> String {
    format!(
        "[{}] {}: {}",
        message.project, message.trigger, message.message
    )
}

/// The message as one text of at most 4,096 characters (Telegram's
/// limit): [`summary`], and the link on a line of its own when there is one.
fn text(message: &AlarmMessage) -> String {
    with_link(message, 4096, crate::markup::cut)
}

/// [`summary`] made to fit by `fit(text, max)`, then the link on its own
/// line, in at most `max` characters; a link that would leave the summary
/// less than 200 characters is left out.
fn with_link(message: &AlarmMessage, max: usize, fit: impl Fn(&str, usize) -> String) -> String {
    let link = message
        .link
        .as_deref()
        .filter(|link| link.chars().count() + 200 < max);
    let room = link.map_or(max, |link| max - link.chars().count() - 1);
    let mut text = fit(&summary(message), room);
    if let Some(link) = link {
        text.push('\n');
        text.push_str(link);
    }
    text
}

/// What happened, for people: the title of a message of `trigger`.
fn headline(trigger: &str) -> &'static str {
    match trigger {
        "offline" => "App offline",
        "online" => "App back online",
        "stopped" => "App stopped",
        "new_error" => "New error",
        "regression" => "Regression",
        "every_nth" => "Error repeating",
        "cpu_high" => "CPU high",
        "memory_high" => "Memory high",
        "digest" => "Alarms held back",
        "check" => "Alarm check",
        _ => "Alarm",
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

    /// A message about a report whose title is hostile, as each kind gets it.
    fn sample() -> AlarmMessage {
        AlarmMessage {
            project: "Shop <b>&".into(),
            trigger: "new_error".into(),
            message: "new error: <!channel> *bold* <http://evil.example|x> & </pre><script>alert(1)</script>".into(),
            time: "2026-11-30T09:15:00Z".into(),
            link: Some("https://lf.example.com/projects/Shop%20%3Cb%3E&/reports/0193a8c4-7d1e-7000-8000-000000000001".into()),
            trace: Some("<!channel> *bold* <http://evil.example|x> & </pre><script>alert(1)</script>\n   0: shop::pay::charge\n        at src/pay.rs:10".into()),
        }
    }

    #[test]
    fn each_kind_sends_this_for_a_new_error() {
        let message = sample();
        insta::assert_json_snapshot!("slack", slack::payload(&message));
        insta::assert_json_snapshot!("teams", teams::payload(&message));
        insta::assert_json_snapshot!("ntfy", ntfy::payload("ops-alerts", &message));
        insta::assert_snapshot!(
            "email",
            format!(
                "Subject: {}\n\n--- text/plain ---\n{}\n--- text/html ---\n{}\n",
                email::subject(&message),
                email::text_part(&message),
                email::html_part(&message)
            )
        );
        insta::assert_snapshot!("telegram", text(&message));
        insta::assert_snapshot!("discord", discord::content(&message));
    }

    #[test]
    fn every_message_fits_its_platform() {
        // a project name that percent-encodes long, a title of characters
        // that escaping lengthens, a trace of quotes
        let project = "店".repeat(128);
        let message = AlarmMessage {
            project: project.clone(),
            trigger: "new_error".into(),
            message: format!("new error: {}", "&<\"".repeat(20_000)),
            time: "2026-11-30T09:15:00Z".into(),
            link: crate::alarm::Links::new(Some(
                url::Url::parse("https://lf.example.com").expect("url"),
            ))
            .report(&project, &uuid::Uuid::nil()),
            trace: Some("\"\\".repeat(8000)),
        };
        let size = |v: serde_json::Value| serde_json::to_vec(&v).expect("json").len();
        assert!(size(teams::payload(&message)) < 28_000);
        let slack = slack::payload(&message);
        for block in slack["blocks"].as_array().expect("blocks") {
            let text = block["text"]["text"].as_str().unwrap_or_default();
            assert!(text.chars().count() <= 3000);
        }
        assert!(
            slack["blocks"][1]["text"]["text"]
                .as_str()
                .expect("text")
                .len()
                > 2000
        );
        let discord = discord::content(&message);
        assert!(
            discord.chars().count() <= 2000,
            "{}",
            discord.chars().count()
        );
        assert!(discord.ends_with("/reports/00000000-0000-0000-0000-000000000000"));
        assert!(text(&message).chars().count() <= 4096);
        let ntfy = ntfy::payload("t", &message);
        assert!(ntfy["message"].as_str().expect("message").len() <= 3503);
    }

    #[test]
    fn the_readme_shows_the_messages_as_they_are_sent() {
        let readme = include_str!("../../../../README.md");
        let snapshots = [
            include_str!("snapshots/loggerflow_server__alarm__channels__tests__slack.snap"),
            include_str!("snapshots/loggerflow_server__alarm__channels__tests__teams.snap"),
            include_str!("snapshots/loggerflow_server__alarm__channels__tests__ntfy.snap"),
            include_str!("snapshots/loggerflow_server__alarm__channels__tests__email.snap"),
            include_str!("snapshots/loggerflow_server__alarm__channels__tests__telegram.snap"),
            include_str!("snapshots/loggerflow_server__alarm__channels__tests__discord.snap"),
        ];
        for snapshot in snapshots {
            // insta's header, then the value
            let value = snapshot.splitn(3, "---\n").nth(2).unwrap_or_default();
            let block = format!("\n{}\n```", value.trim_end());
            assert!(
                readme.contains(&block),
                "README.md (Alarms) should show, as sent:{block}"
            );
        }
    }

    #[test]
    fn a_line_stays_one_line() {
        assert_eq!(
            escape_line("x\nANY LINE\r\n\u{1b}[31m\u{202e}"),
            "x\\nANY LINE\\r\\n\\u{1b}[31m\\u{202e}"
        );
        assert_eq!(escape_line("plain — ünïcode"), "plain — ünïcode");
    }
}
