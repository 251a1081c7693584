//! `webhook`: the message as JSON to any URL.

use super::{field, post};
use crate::alarm::{Alarm, AlarmMessage, FieldSpec, Fields, Outbound};

/// A POST of the message as JSON (`project`, `trigger`, `message`, `time`)
/// to any URL, with optional headers (`{"X-Key": "…"}` as JSON).
pub struct Webhook {
    url: reqwest::Url,
    headers: Vec<(reqwest::header::HeaderName, reqwest::header::HeaderValue)>,
    http: reqwest::Client,
}

#[async_trait::async_trait]
impl Alarm for Webhook {
    fn kind() -> &'static str {
        "webhook"
    }

    fn fields() -> Vec<FieldSpec> {
        vec![
            // URLs and headers often carry tokens: both are kept secret
            FieldSpec::secret("url", "URL"),
            FieldSpec::optional_secret("headers", "Headers (a JSON object)"),
        ]
    }

    fn from_fields(fields: &Fields, outbound: &Outbound) -> Result<Self, String> {
        let headers = match fields.get("headers").filter(|h| !h.trim().is_empty()) {
            Some(h) => serde_json::from_str::<std::collections::BTreeMap<String, String>>(h)
                .map_err(|_| "`headers` must be a JSON object of strings".to_owned())?
                .into_iter()
                .map(|(name, value)| {
                    let name = reqwest::header::HeaderName::from_bytes(name.as_bytes())
                        .map_err(|_| format!("`headers`: `{name}` is not a header name"))?;
                    let value = reqwest::header::HeaderValue::from_str(&value)
                        .map_err(|_| format!("`headers`: the value of `{name}` is not valid"))?;
                    Ok((name, value))
                })
                .collect::<Result<Vec<_>, String>>()?,
            None => Vec::new(),
        };
        let url = outbound
            .check_url(&field(fields, "url"))
            .map_err(|e| format!("`url`: {e}"))?;
        Ok(Self {
            url,
            headers,
            http: outbound.http().clone(),
        })
    }

    async fn send(&self, message: &AlarmMessage) -> Result<(), String> {
        let mut request = self.http.post(self.url.clone()).json(message);
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        post(request, "").await
    }
}
