//! [`AppError`]: every refusal, as one JSON shape with a stable code (the
//! protocol's [`Refusal`]: `{"type": "error", "error", "message", …}`) on
//! HTTP and websocket alike, never a bare 500.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use loggerflow_layer::ReportId;
use loggerflow_layer::protocol::{Refusal, Reply};

use crate::store::StoreError;
use crate::store::writer::IngestError;

/// An error answered as `{"type": "error", "error": CODE, "message": TEXT}`
/// (a [`Refusal`]), with the report it is about, a wait or a limit when
/// there is one.
#[derive(Debug)]
pub struct AppError {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after: Option<u64>,
    id: Option<ReportId>,
    limit: Option<u64>,
}

impl AppError {
    /// An error with an explicit status and code.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: (status == StatusCode::SERVICE_UNAVAILABLE).then_some(5),
            id: None,
            limit: None,
        }
    }

    /// The same error, naming the report that caused it (a client drops it).
    #[must_use]
    pub fn about(mut self, id: ReportId) -> Self {
        self.id = Some(id);
        self
    }

    /// The same error, naming the size limit that was passed.
    #[must_use]
    pub fn limit(mut self, bytes: usize) -> Self {
        self.limit = u64::try_from(bytes).ok();
        self
    }

    /// The error as the protocol's refusal.
    pub fn refusal(&self) -> Refusal {
        let mut refusal = Refusal::new(self.code, self.message.clone());
        refusal.id = self.id;
        refusal.retry_after_s = self.retry_after;
        refusal.limit_bytes = self.limit;
        refusal
    }

    /// The same error, telling the client to wait `seconds` (`Retry-After`).
    #[must_use]
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// 400 with `code`.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The machine-readable code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl From<StoreError> for AppError {
    fn from(error: StoreError) -> Self {
        crate::telemetry::get().database_errors.inc();
        match error {
            StoreError::Unavailable(m) => {
                // the detail goes to the server's log, not to the client
                tracing::warn!(error = %m, "database unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "storage_unavailable",
                    "the database is unavailable, try again",
                )
            }
            StoreError::Other(m) => {
                // the detail goes to the server's log, not to the client
                tracing::error!(error = %m, "database error");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "storage_error",
                    "the server could not store or read this; see its log",
                )
            }
        }
    }
}

impl From<IngestError> for AppError {
    fn from(error: IngestError) -> Self {
        match error {
            IngestError::UnknownInstance(id) => Self::new(
                StatusCode::CONFLICT,
                "unknown_instance",
                format!("instance `{id}` never said hello: send a hello message first"),
            ),
            IngestError::TooManyNew(what, wait) => {
                let (code, noun) = match what {
                    crate::ingest::quota::New::Project => ("too_many_new_projects", "projects"),
                    crate::ingest::quota::New::Instance => ("too_many_new_instances", "instances"),
                };
                let seconds = wait.as_secs().max(1);
                Self::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    code,
                    format!(
                        "this client created as many new {noun} as it may per hour; \
                         existing ones still work; try again in {seconds} s"
                    ),
                )
                .retry_after(seconds)
            }
            IngestError::Store(e) => e.into(),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        crate::telemetry::refused(self.code);
        let body = Json(Reply::Error(self.refusal()));
        let mut response = (self.status, body).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// Gives axum's own refusals (a malformed path, query or JSON body, a body
/// too large, a wrong content type: plain text) the one refusal shape, with
/// axum's explanation as the message.
pub async fn json_refusals(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let plain = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain"));
    if !status.is_client_error() || !plain {
        return response;
    }
    let code = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "body_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "invalid_body",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        _ => "invalid_request",
    };
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("refused").to_owned()
    } else {
        crate::markup::cut(&text, 300)
    };
    let mut refused = AppError::new(status, code, message).into_response();
    // headers a refusal set (`Allow` of a 405) stay
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            refused.headers_mut().insert(name.clone(), value.clone());
        }
    }
    refused
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_errors_do_not_reach_the_client() {
        let error = AppError::from(StoreError::Unavailable(
            "connection to 10.0.0.7:5432 refused: password for user lf".into(),
        ));
        assert_eq!(error.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(!error.message().contains("10.0.0.7"));
        let response = error.into_response();
        assert_eq!(response.headers()[header::RETRY_AFTER], "5");
        let error = AppError::from(StoreError::Other("UNIQUE constraint secret_table".into()));
        assert!(!error.message().contains("secret_table"));
    }
}
