//! Dashboard settings, kept in the `settings` table as key / value rows and
//! changed from the settings page.

use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, DatabaseConnection, EntityTrait};
use serde::{Deserialize, Serialize};

use super::StoreError;
use super::entity::setting;

/// What the settings page changes. A missing row reads as the default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// The trace a report page opens with: `full`, `clean` or `minimal`.
    pub trace_mode: String,
    /// Whether your own frames are backlit on report pages.
    pub backlight: bool,
    /// Whether the projects page shows process memory.
    pub show_process_memory: bool,
    /// Days of metric samples kept; `None` keeps what `--retention-days` says.
    pub retention_days: Option<u32>,
    /// Days of reports kept (0: forever); `None` keeps what
    /// `--report-retention-days` says.
    pub report_retention_days: Option<u32>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            trace_mode: "clean".into(),
            backlight: true,
            show_process_memory: true,
            retention_days: None,
            report_retention_days: None,
        }
    }
}

/// The largest metric retention the page accepts (a year).
pub const MAX_RETENTION_DAYS: u32 = 366;

/// The largest report retention the page accepts (ten years).
pub const MAX_REPORT_RETENTION_DAYS: u32 = 3660;

/// Reads the settings.
pub async fn load(db: &DatabaseConnection) -> Result<Settings, StoreError> {
    let rows = setting::Entity::find().all(db).await?;
    let mut settings = Settings::default();
    for row in rows {
        match row.key.as_str() {
            "trace_mode" if matches!(row.value.as_str(), "full" | "clean" | "minimal") => {
                settings.trace_mode = row.value;
            }
            "backlight" => settings.backlight = row.value == "true",
            "show_process_memory" => settings.show_process_memory = row.value == "true",
            "retention_days" => {
                settings.retention_days = row
                    .value
                    .parse()
                    .ok()
                    .filter(|d| (1..=MAX_RETENTION_DAYS).contains(d));
            }
            "report_retention_days" => {
                settings.report_retention_days = row
                    .value
                    .parse()
                    .ok()
                    .filter(|d| (0..=MAX_REPORT_RETENTION_DAYS).contains(d));
            }
            _ => {}
        }
    }
    Ok(settings)
}

/// Stores `settings` (every key, in one transaction).
pub async fn save(db: &DatabaseConnection, settings: &Settings) -> Result<(), StoreError> {
    let txn = super::begin_write(db).await?;
    let rows = [
        ("trace_mode", settings.trace_mode.clone()),
        ("backlight", settings.backlight.to_string()),
        (
            "show_process_memory",
            settings.show_process_memory.to_string(),
        ),
        (
            "retention_days",
            settings
                .retention_days
                .map(|d| d.to_string())
                .unwrap_or_default(),
        ),
        (
            "report_retention_days",
            settings
                .report_retention_days
                .map(|d| d.to_string())
                .unwrap_or_default(),
        ),
    ];
    for (key, value) in rows {
        setting::Entity::insert(setting::ActiveModel {
            key: Set(key.to_owned()),
            value: Set(value),
        })
        .on_conflict(
            OnConflict::column(setting::Column::Key)
                .update_column(setting::Column::Value)
                .to_owned(),
        )
        .exec_without_returning(&txn)
        .await?;
    }
    txn.commit().await?;
    Ok(())
}
