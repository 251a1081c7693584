//! Alarms: the server tells you when an app goes down, comes back, stops, or
//! breaks in a new way.
//!
//! - [`Alarm`]: a channel kind (Telegram, Discord, Slack, e-mail, Microsoft
//!   Teams, ntfy, file, generic webhook, or
//!   yours), with the fields it needs; [`Registry`] holds the kinds.
//! - [`admin`]: adding, checking, connecting and deleting alarms, shared by
//!   the JSON API and the dashboard's forms.
//! - `store::alarm_events` (the outbox): state changes (an instance goes
//!   offline, a new error group…) insert alarm events in the same
//!   transaction as the change, one per subscribed connection: an event
//!   exists once however many server processes share the database.
//! - [`dispatch`]: a task claims pending events (one process wins each),
//!   rate-limits them per alarm and project, folds the excess into a digest,
//!   sends, and records the outcome (the alarm history).

pub mod admin;
pub mod channels;
pub mod dispatch;
pub mod links;
pub mod outbound;
pub mod thresholds;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

pub use links::Links;
pub use outbound::Outbound;

/// One field an alarm kind needs (the dashboard's form is built from these).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FieldSpec {
    /// Key in the stored fields.
    pub name: &'static str,
    /// Label for people.
    pub label: &'static str,
    /// A secret: stored, never sent back (shown masked).
    pub secret: bool,
    /// Must be given.
    pub required: bool,
    /// The values it may take (a menu in the form; the first is the
    /// default), or any text when empty.
    pub choices: &'static [&'static str],
    /// Text of several lines (a PEM certificate): a text area in the form.
    pub multiline: bool,
}

impl FieldSpec {
    /// A required, non-secret field.
    pub const fn required(name: &'static str, label: &'static str) -> Self {
        Self {
            name,
            label,
            secret: false,
            required: true,
            choices: &[],
            multiline: false,
        }
    }

    /// A required secret field.
    pub const fn secret(name: &'static str, label: &'static str) -> Self {
        Self {
            name,
            label,
            secret: true,
            required: true,
            choices: &[],
            multiline: false,
        }
    }

    /// An optional secret field.
    pub const fn optional_secret(name: &'static str, label: &'static str) -> Self {
        Self {
            name,
            label,
            secret: true,
            required: false,
            choices: &[],
            multiline: false,
        }
    }

    /// An optional field.
    pub const fn optional(name: &'static str, label: &'static str) -> Self {
        Self {
            name,
            label,
            secret: false,
            required: false,
            choices: &[],
            multiline: false,
        }
    }
}

impl FieldSpec {
    /// An optional field that takes one of `choices` (the first is the
    /// default when it is left empty).
    pub const fn choice(
        name: &'static str,
        label: &'static str,
        choices: &'static [&'static str],
    ) -> Self {
        Self {
            name,
            label,
            secret: false,
            required: false,
            choices,
            multiline: false,
        }
    }

    /// The same field, of several lines.
    #[must_use]
    pub const fn multiline(mut self) -> Self {
        self.multiline = true;
        self
    }
}

/// What a secret field shows in answers and pages.
pub const MASK: &str = "********";

/// The fields of a configured alarm.
pub type Fields = BTreeMap<String, String>;

/// What an alarm delivers.
#[derive(Debug, Clone, Serialize)]
pub struct AlarmMessage {
    /// The project.
    pub project: String,
    /// `offline`, `online`, `stopped`, `new_error`, `regression`, `every_nth`,
    /// `digest` or `check`.
    pub trigger: String,
    /// The text.
    pub message: String,
    /// When the event happened (RFC 3339).
    pub time: String,
    /// The dashboard page it is about: the report (`new_error`,
    /// `regression`, `every_nth`), the project, or the alarms page (`check`,
    /// `digest`). Only when the server knows its address (`--public-url`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// The report's trace (your frames, as the dashboard's clean view), at
    /// most [`MAX_TRACE_BYTES`], for the events about a report.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace: Option<String>,
}

/// The most of a trace an alarm message carries.
pub const MAX_TRACE_BYTES: usize = 16 * 1024;

/// A kind of alarm channel.
///
/// ```
/// use loggerflow_server::alarm::{Alarm, AlarmMessage, FieldSpec, Fields, Outbound};
///
/// struct Pager { service_key: String, http: reqwest::Client, url: reqwest::Url }
///
/// #[async_trait::async_trait]
/// impl Alarm for Pager {
///     fn kind() -> &'static str { "pager" }
///     fn fields() -> Vec<FieldSpec> { vec![FieldSpec::secret("service_key", "Service key")] }
///     fn from_fields(fields: &Fields, outbound: &Outbound) -> Result<Self, String> {
///         Ok(Self {
///             service_key: fields.get("service_key").cloned().unwrap_or_default(),
///             // the server's policy: public addresses only, no redirects
///             http: outbound.http().clone(),
///             url: outbound.check_url("https://pager.example.com/v1/events")?,
///         })
///     }
///     async fn send(&self, message: &AlarmMessage) -> Result<(), String> {
///         let response = self.http.post(self.url.clone())
///             .header("x-service-key", &self.service_key)
///             .json(message)
///             .send()
///             .await
///             .map_err(|e| e.without_url().to_string())?;
///         match response.status() {
///             s if s.is_success() => Ok(()),
///             s => Err(format!("HTTP {}", s.as_u16())),
///         }
///     }
/// }
/// ```
#[async_trait::async_trait]
pub trait Alarm: Send + Sync + 'static {
    /// The kind's name (`telegram`, `webhook`, …).
    fn kind() -> &'static str
    where
        Self: Sized;

    /// The fields it needs.
    fn fields() -> Vec<FieldSpec>
    where
        Self: Sized;

    /// Builds it from stored fields (already checked for the required ones).
    /// Reach the network through `outbound.http()` and check URLs with
    /// `outbound.check_url`, files with `outbound.alarm_file`: that is the
    /// operator's policy of what alarms may reach.
    fn from_fields(fields: &Fields, outbound: &Outbound) -> Result<Self, String>
    where
        Self: Sized;

    /// Delivers one message; the error is recorded in the history.
    async fn send(&self, message: &AlarmMessage) -> Result<(), String>;
}

type Build = fn(&Fields, &Outbound) -> Result<Box<dyn Alarm>, String>;

/// A registered kind.
#[derive(Clone)]
pub struct Kind {
    /// Its name.
    pub name: &'static str,
    /// Its fields.
    pub fields: Vec<FieldSpec>,
    build: Build,
}

impl Kind {
    /// Checks `fields` and builds the channel under the `outbound` policy.
    pub fn build(&self, fields: &Fields, outbound: &Outbound) -> Result<Box<dyn Alarm>, String> {
        for spec in self.fields.iter().filter(|f| f.required) {
            if fields.get(spec.name).is_none_or(|v| v.trim().is_empty()) {
                return Err(format!(
                    "`{}` needs the field `{}` ({})",
                    self.name, spec.name, spec.label
                ));
            }
        }
        if let Some(unknown) = fields
            .keys()
            .find(|k| !self.fields.iter().any(|f| f.name == k.as_str()))
        {
            return Err(format!("`{}` has no field `{unknown}`", self.name));
        }
        for spec in self.fields.iter().filter(|f| !f.choices.is_empty()) {
            if let Some(value) = fields.get(spec.name).map(|v| v.trim())
                && !value.is_empty()
                && !spec.choices.contains(&value)
            {
                return Err(format!(
                    "`{}` is one of {}",
                    spec.name,
                    spec.choices.join(", ")
                ));
            }
        }
        (self.build)(fields, outbound)
    }

    /// `fields` with secrets masked, for answers to the browser or API:
    /// nothing of a secret is shown, not even its length.
    pub fn masked(&self, fields: &Fields) -> Fields {
        fields
            .iter()
            .map(|(k, v)| {
                let secret = self.fields.iter().any(|f| f.name == k.as_str() && f.secret);
                let shown = if secret && !v.is_empty() {
                    MASK.to_owned()
                } else {
                    v.clone()
                };
                (k.clone(), shown)
            })
            .collect()
    }
}

/// The alarm kinds a server knows: the built-in ones and yours.
#[derive(Clone)]
pub struct Registry {
    kinds: Arc<Vec<Kind>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.kinds.iter().map(|k| k.name))
            .finish()
    }
}

impl Default for Registry {
    fn default() -> Self {
        Self {
            kinds: Arc::new(Vec::new()),
        }
        .with::<channels::Telegram>()
        .with::<channels::Discord>()
        .with::<channels::File>()
        .with::<channels::Webhook>()
        .with::<channels::Slack>()
        .with::<channels::Email>()
        .with::<channels::Teams>()
        .with::<channels::Ntfy>()
    }
}

fn build<A: Alarm>(fields: &Fields, outbound: &Outbound) -> Result<Box<dyn Alarm>, String> {
    A::from_fields(fields, outbound).map(|a| Box::new(a) as Box<dyn Alarm>)
}

impl Registry {
    /// Adds (or replaces) the kind `A`.
    #[must_use]
    pub fn with<A: Alarm>(self) -> Self {
        let mut kinds: Vec<Kind> = self
            .kinds
            .iter()
            .filter(|k| k.name != A::kind())
            .cloned()
            .collect();
        kinds.push(Kind {
            name: A::kind(),
            fields: A::fields(),
            build: build::<A>,
        });
        Self {
            kinds: Arc::new(kinds),
        }
    }

    /// The kind named `name`.
    pub fn get(&self, name: &str) -> Option<&Kind> {
        self.kinds.iter().find(|k| k.name == name)
    }

    /// Every kind.
    pub fn kinds(&self) -> &[Kind] {
        &self.kinds
    }
}

/// The triggers a connection can subscribe to.
pub const TRIGGERS: &[&str] = &[
    "offline",
    "online",
    "stopped",
    "new_error",
    "regression",
    "every_nth",
    "cpu_high",
    "memory_high",
];
