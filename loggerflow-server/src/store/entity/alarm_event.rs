//! `alarm_events`: the alarm outbox, which is also the alarm history.

use sea_orm::entity::prelude::*;

/// One message for one alarm, from queued to sent (or failed, digested…).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "alarm_events")]
pub struct Model {
    /// Row id (the order events are sent in).
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The project.
    pub project_id: i64,
    /// The alarm (its row may be deleted since).
    pub alarm_id: i64,
    /// `new_error`, `offline`, `digest`…
    pub trigger: String,
    /// The text sent.
    #[sea_orm(column_type = "Text")]
    pub message: String,
    /// When it was queued.
    pub created_ms: i64,
    /// `pending`, `sending`, `sent`, `failed`, `digested` or `summarized`.
    pub status: String,
    /// The server that claimed it last.
    pub claimed_by: Option<String>,
    /// When it took its slot of the rate limit, then when it was sent.
    pub sent_ms: Option<i64>,
    /// Why the send failed.
    #[sea_orm(column_type = "Text", nullable)]
    pub error: Option<String>,
    /// When the claim was made or renewed (its lease runs from then).
    pub claimed_ms: Option<i64>,
    /// The server whose expired claim was taken over.
    pub taken_over_from: Option<String>,
    /// The report the event is about (`new_error`, `regression`,
    /// `every_nth`), as a UUID: its page is the message's link.
    pub report_id: Option<String>,
}

/// No relations are declared; queries join by id.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
