//! What the pages show: plain data the server fills from its store.

use serde::{Deserialize, Serialize};

/// Who is looking, as every page needs it: the CSRF token its forms carry,
/// and the logged-in user (with a logout button) when the server has `--auth`.
#[derive(Debug, Clone, Default)]
pub struct Visitor {
    /// The logged-in user, if the server runs with `--auth`.
    pub user: Option<String>,
    /// The token every form of this browser carries.
    pub csrf: String,
    /// Whether the server needs a login.
    pub auth: bool,
}

/// One project on the projects page.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProjectRow {
    /// Name.
    pub name: String,
    /// `online`, `offline`, `stopped` or `unknown`.
    pub status: String,
    /// Since when the status holds (ms), if known.
    pub status_since_ms: Option<i64>,
    /// Reports stored.
    pub error_count: i64,
    /// Title of the newest error group.
    pub last_error: Option<String>,
    /// Heartbeat interval (s).
    pub heartbeat_s: Option<i32>,
    /// Newest heartbeat (ms).
    pub last_heartbeat_ms: Option<i64>,
    /// `webhook`, `websocket`, or both.
    pub implementation: String,
    /// Where else its apps send reports (backends or sinks), `, `-separated.
    pub backends: String,
    /// The people those backends mention, `, `-separated.
    pub authors: String,
    /// Host CPU %.
    pub cpu_percent: Option<f64>,
    /// Process memory (bytes).
    pub process_memory_bytes: Option<i64>,
    /// Host memory used (bytes).
    pub memory_used_bytes: Option<i64>,
    /// Host memory total (bytes).
    pub memory_total_bytes: Option<i64>,
    /// The releases its online apps run (`1.3.0`, `1.2.0 (staging)`), if
    /// they name any.
    #[serde(default)]
    pub release: Option<String>,
}

/// The projects (home) page; also the body of
/// `GET /api/v1/dashboard/projects`, which its live table fetches when the
/// server says something changed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProjectsPage {
    /// Every visible project.
    pub projects: Vec<ProjectRow>,
    /// Hidden projects (shown as a link to them).
    pub hidden: usize,
    /// Whether the process memory bar is shown (a setting).
    pub show_process_memory: bool,
    /// Now (ms), for "for 5 min" and "3 s ago".
    pub now_ms: i64,
    /// Where apps send to (`http://host:port/loggerflow/`), for the empty
    /// page's snippet; not in the live data.
    #[serde(skip)]
    pub ingest_url: String,
}

/// A hidden project.
#[derive(Debug, Clone, Default)]
pub struct HiddenRow {
    /// Name.
    pub name: String,
    /// Reports stored.
    pub error_count: i64,
    /// `online`, `offline`, `stopped` or `unknown`.
    pub status: String,
}

/// The page of hidden projects.
#[derive(Debug, Clone, Default)]
pub struct HiddenPage {
    /// The hidden projects.
    pub projects: Vec<HiddenRow>,
    /// A message after an action.
    pub notice: Option<String>,
}

/// The settings page.
#[derive(Debug, Clone, Default)]
pub struct SettingsPage {
    /// `full`, `clean` or `minimal`.
    pub trace_mode: String,
    /// Your frames backlit on report pages.
    pub backlight: bool,
    /// Process memory on the projects page.
    pub show_process_memory: bool,
    /// Days of metrics kept, if set here.
    pub retention_days: Option<u32>,
    /// Days of metrics kept by `--retention-days` (the default).
    pub default_retention_days: u64,
    /// Days of reports kept, if set here (0: forever).
    pub report_retention_days: Option<u32>,
    /// Days of reports kept by `--report-retention-days` (the default;
    /// 0: forever).
    pub default_report_retention_days: u64,
    /// Reports a project keeps at most (`--max-reports-per-project`; 0: no
    /// limit).
    pub max_reports_per_project: u64,
    /// A message after saving.
    pub notice: Option<String>,
}

/// One error group.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GroupRow {
    /// Group id.
    pub id: i64,
    /// Title.
    pub title: String,
    /// Reports it ever had.
    pub count: i64,
    /// Of those, deleted by report retention.
    pub pruned: i64,
    /// First seen (ms).
    pub first_seen_ms: i64,
    /// Last seen (ms).
    pub last_seen_ms: i64,
    /// `open`, `resolved`, `ignored`.
    pub state: String,
    /// Came back after being resolved.
    pub regressed: bool,
    /// Reports per hour over the last 24 h, oldest first.
    pub last_24h: Vec<u32>,
    /// The newest report's id.
    pub newest_report: Option<String>,
    /// The releases it was first and last seen in (`1.2.0 → 1.3.1`), when
    /// its reports named any.
    pub releases: Option<String>,
}

/// The errors page of a project.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorsPage {
    /// Project name.
    pub project: String,
    /// The groups shown.
    pub groups: Vec<GroupRow>,
    /// The state filter, if any.
    pub state: Option<String>,
    /// The text searched for.
    pub search: String,
    /// The cursor of the next (older) page, if there is one.
    pub next_cursor: Option<String>,
    /// Whether this is not the first page.
    pub paged: bool,
    /// Now (ms).
    pub now_ms: i64,
    /// The environments the project's reports came from.
    pub environments: Vec<String>,
    /// The environment shown (none: all).
    pub environment: Option<String>,
    /// The releases of that environment (or of all), newest first.
    pub versions: Vec<String>,
    /// The release shown (none: all).
    pub release: Option<String>,
}

/// One frame of a trace as shown.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FrameRow {
    /// Position in the full stack.
    pub index: usize,
    /// Function.
    pub function: String,
    /// `file:line`.
    pub location: Option<String>,
    /// The app's own code (backlit).
    pub yours: bool,
}

/// A trace line or a marker of hidden frames.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TraceLine {
    /// A frame.
    Frame(FrameRow),
    /// `⋮ N frames hidden ⋮`.
    Hidden(usize),
}

/// A trace in the three forms a report page switches between.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Traces {
    /// Every frame.
    pub full: Vec<TraceLine>,
    /// Your frames, with markers where others were hidden.
    pub clean: Vec<TraceLine>,
    /// One line.
    pub minimal: String,
}

/// The report page.
#[derive(Debug, Clone, Default)]
pub struct ReportPage {
    /// Project name.
    pub project: String,
    /// Report id.
    pub id: String,
    /// Title.
    pub title: String,
    /// The whole message.
    pub message: String,
    /// `full`, `clean` or `minimal`: the trace shown first.
    pub mode: String,
    /// The trace in its three forms (the page switches between them).
    pub traces: Traces,
    /// Level.
    pub level: String,
    /// `event` or `panic`.
    pub kind: String,
    /// When (RFC 3339).
    pub time: String,
    /// Thread, host, release.
    pub thread: String,
    /// Host.
    pub host: String,
    /// Release.
    pub release: Option<String>,
    /// Where it was raised.
    pub location: Option<String>,
    /// The error chain, outermost first.
    pub causes: Vec<String>,
    /// Fields, as `key = value`.
    pub fields: Vec<(String, String)>,
    /// Spans, innermost first, as one line each.
    pub spans: Vec<String>,
    /// The group, and the older / newer occurrence.
    pub group_id: i64,
    /// An older report of the group.
    pub older: Option<String>,
    /// A newer report of the group.
    pub newer: Option<String>,
    /// Whether your frames are backlit (a setting).
    pub backlight: bool,
}

/// One chart point (in the API's document: `ChartPoint`, apart from the
/// metrics endpoint's own `MetricPoint`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = ChartPoint))]
pub struct MetricPoint {
    /// Time (ms).
    pub ts_ms: i64,
    /// Host CPU %.
    pub cpu_percent: f64,
    /// Process CPU %.
    pub process_cpu_percent: f64,
    /// Process memory (bytes).
    pub process_memory_bytes: f64,
    /// Host memory used (bytes).
    pub memory_used_bytes: f64,
    /// Host memory total (bytes).
    pub memory_total_bytes: f64,
}

/// One connected app (instance) on the metrics page.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InstanceRow {
    /// Host and pid, or the instance id.
    pub name: String,
    /// `webhook` or `websocket`.
    pub transport: String,
    /// Client library and version.
    pub client_version: String,
    /// `online`, `offline` or `stopped`.
    pub status: String,
    /// Since when the status holds (ms).
    pub status_since_ms: i64,
    /// Last message (ms).
    pub last_seen_ms: i64,
}

/// The metrics page (also the body of
/// `GET /api/v1/dashboard/projects/{project}/metrics`, which its live charts
/// fetch when the project's apps sent readings or changed status).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MetricsPage {
    /// The project's connected apps, newest first.
    pub instances: Vec<InstanceRow>,
    /// Now (ms).
    pub now_ms: i64,
    /// A message after an action.
    pub notice: Option<String>,
    /// Project name.
    pub project: String,
    /// The window shown.
    pub window: String,
    /// Its length (ms).
    pub window_ms: i64,
    /// Every window offered.
    pub windows: Vec<String>,
    /// The points, oldest first.
    pub points: Vec<MetricPoint>,
}

/// One alarm on the alarms page.
#[derive(Debug, Clone, Default)]
pub struct AlarmRow {
    /// Name.
    pub name: String,
    /// Kind.
    pub kind: String,
    /// Its fields, secrets masked, as one line.
    pub fields: String,
    /// Connected projects and their triggers, as one line.
    pub projects: String,
}

/// One entry of the alarm history.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventRow {
    /// When (RFC 3339).
    pub time: String,
    /// Project.
    pub project: String,
    /// Alarm.
    pub alarm: String,
    /// Trigger.
    pub trigger: String,
    /// Message.
    pub message: String,
    /// `pending`, `sending`, `sent`, `failed`, `digested`, `summarized`.
    pub status: String,
    /// The delivery error, if it failed.
    pub error: Option<String>,
    /// The server whose expired claim on it another server took over (it
    /// died or hung while sending).
    pub taken_over_from: Option<String>,
}

/// A field of the "Add alarm" form.
#[derive(Debug, Clone, Default)]
pub struct FormField {
    /// Input name.
    pub name: String,
    /// Label.
    pub label: String,
    /// A password input.
    pub secret: bool,
    /// Must be filled.
    pub required: bool,
    /// The values it takes (a menu; the first is the default), or any text.
    pub choices: Vec<String>,
    /// Several lines (a text area).
    pub multiline: bool,
}

/// An alarm kind, for the "Add alarm" form.
#[derive(Debug, Clone, Default)]
pub struct KindForm {
    /// Kind name.
    pub kind: String,
    /// Its fields.
    pub fields: Vec<FormField>,
}

/// The alarms page.
#[derive(Debug, Clone, Default)]
pub struct AlarmsPage {
    /// The alarms.
    pub alarms: Vec<AlarmRow>,
    /// The newest history entries.
    pub events: Vec<EventRow>,
    /// Every kind, for the "Add alarm" form.
    pub kinds: Vec<KindForm>,
    /// The kind the form shows.
    pub kind: String,
    /// Project names, for connections.
    pub projects: Vec<String>,
    /// Every trigger.
    pub triggers: Vec<String>,
    /// A message after an action (`Check` result, an error).
    pub notice: Option<String>,
    /// The project the history is filtered to (`""`: all).
    pub history_project: String,
}

/// One release on a project's Releases page.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReleaseRow {
    /// `production`, `staging`…
    pub environment: String,
    /// The release (`""`: reports that named none).
    pub version: String,
    /// Its first report (ms).
    pub first_seen_ms: i64,
    /// Its latest report (ms).
    pub last_seen_ms: i64,
    /// Apps online that run it.
    pub apps: i64,
    /// Errors first seen (in its environment) in it.
    pub new_errors: i64,
    /// Errors that came back in it.
    pub regressions: i64,
    /// Errors resolved since it was first seen.
    pub resolved_since: i64,
}

/// A project's Releases page (also the body of
/// `GET /api/v1/dashboard/projects/{project}/releases`, which its live table
/// fetches when the project's errors or apps change).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReleasesPage {
    /// Project name.
    pub project: String,
    /// Its releases, most recently seen first.
    pub releases: Vec<ReleaseRow>,
    /// Now (ms).
    pub now_ms: i64,
}

/// A report's neighbours in its group (the report page's pager; also the
/// body of `GET /api/v1/dashboard/projects/{project}/reports/{id}/neighbours`,
/// which the pager fetches when the project's errors change).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Neighbours {
    /// The next older report of its group.
    pub older: Option<String>,
    /// The next newer report of its group.
    pub newer: Option<String>,
}

/// The alarm history as the alarms page shows it (the body of
/// `GET /api/v1/dashboard/alarm-events`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct History {
    /// Newest first, at most 200.
    pub events: Vec<EventRow>,
}
