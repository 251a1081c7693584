//! Every entity under its table's name.

pub use super::alarm::Entity as Alarms;
pub use super::alarm_connection::Entity as AlarmConnections;
pub use super::alarm_event::Entity as AlarmEvents;
pub use super::error_group::Entity as ErrorGroups;
pub use super::group_release::Entity as GroupReleases;
pub use super::instance::Entity as Instances;
pub use super::metric_rollup::Entity as MetricRollups;
pub use super::metric_sample::Entity as MetricSamples;
pub use super::project::Entity as Projects;
pub use super::release::Entity as Releases;
pub use super::report::Entity as Reports;
pub use super::server::Entity as Servers;
pub use super::session::Entity as Sessions;
pub use super::setting::Entity as Settings;
