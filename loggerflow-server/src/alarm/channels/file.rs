//! `file`: a line per alarm in a file of the alarm directory.

use super::{escape_line, field, summary};
use crate::alarm::outbound;
use crate::alarm::{Alarm, AlarmMessage, FieldSpec, Fields, Outbound};

/// A line per alarm appended to a file inside the alarm directory
/// (`--alarm-dir`), control characters escaped so that a line is one alarm.
pub struct File {
    path: String,
    outbound: Outbound,
}

#[async_trait::async_trait]
impl Alarm for File {
    fn kind() -> &'static str {
        "file"
    }

    fn fields() -> Vec<FieldSpec> {
        vec![FieldSpec::required(
            "path",
            "File name (inside the server's alarm directory)",
        )]
    }

    fn from_fields(fields: &Fields, outbound: &Outbound) -> Result<Self, String> {
        let path = field(fields, "path");
        outbound.alarm_file(&path)?;
        Ok(Self {
            path,
            outbound: outbound.clone(),
        })
    }

    async fn send(&self, message: &AlarmMessage) -> Result<(), String> {
        let path = self.path.clone();
        let outbound = self.outbound.clone();
        let mut line = format!(
            "{} {}",
            escape_line(&message.time),
            escape_line(&summary(message))
        );
        if let Some(link) = &message.link {
            line.push(' ');
            line.push_str(&escape_line(link));
        }
        line.push('\n');
        tokio::task::spawn_blocking(move || {
            // checked at every send: the directory may have changed since
            let file = outbound.alarm_file(&path)?;
            outbound::append(&file, line.as_bytes())
                .map_err(|e| format!("cannot write the alarm file `{path}`: {e}"))
        })
        .await
        .map_err(|e| e.to_string())?
    }
}
