//! A server with a custom alarm kind (the model's `--custom-alarm
//! "your_file.CustomAlarm"`): write a type implementing `Alarm`, register
//! it, and run the usual command line.
//!
//! Run with: `cargo run -p loggerflow-server --example custom_alarm -- run --port 8000`,
//! then create one: `curl -XPOST 127.0.0.1:8000/api/v1/alarms -H 'content-type: application/json'
//! -d '{"kind": "jsonl", "name": "audit", "fields": {"path": "alarms.jsonl", "api_key": "s3cret"}}'`
//! (with `--alarm-dir DIR`: the file is written inside DIR, as the built-in
//! `file` alarm's).

use loggerflow_server::alarm::{Alarm, AlarmMessage, FieldSpec, Fields, Outbound, outbound};

/// Appends every alarm as a JSON line to a file, tagged with an API key
/// (a stand-in for a pager or an incident tool).
struct JsonLines {
    path: std::path::PathBuf,
    api_key: String,
}

#[async_trait::async_trait]
impl Alarm for JsonLines {
    fn kind() -> &'static str {
        "jsonl"
    }

    fn fields() -> Vec<FieldSpec> {
        vec![
            FieldSpec::required("path", "File"),
            FieldSpec::secret("api_key", "API key"),
        ]
    }

    fn from_fields(fields: &Fields, policy: &Outbound) -> Result<Self, String> {
        // the server's policy: only inside --alarm-dir, no `..`, no links
        let path = policy.alarm_file(fields.get("path").map_or("", String::as_str))?;
        Ok(Self {
            path,
            api_key: fields.get("api_key").cloned().unwrap_or_default(),
        })
    }

    async fn send(&self, message: &AlarmMessage) -> Result<(), String> {
        let mut line = serde_json::to_vec(&serde_json::json!({
            "key": self.api_key.chars().take(2).collect::<String>(),
            "alarm": message,
        }))
        .map_err(|e| e.to_string())?;
        line.push(b'\n');
        outbound::append(&self.path, &line).map_err(|e| format!("cannot write the file: {e}"))
    }
}

fn main() -> std::process::ExitCode {
    loggerflow_server::Server::builder()
        .alarm::<JsonLines>()
        .run()
}
