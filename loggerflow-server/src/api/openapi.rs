//! The JSON API's OpenAPI 3.1 document, served at `GET /api/v1/openapi.json`.
//!
//! `utoipa` makes it from the handlers' `#[utoipa::path]` attributes and the
//! types they answer with (the same types that serialize the answers), and
//! [`Refusals`] adds what every route behind the login may answer besides:
//! the login's, the CSRF check's, the Host check's, the deadline's and the
//! database's refusals, and the refusals of a malformed parameter or body
//! (axum's, given the one JSON shape by `error::json_refusals`).

use std::sync::OnceLock;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, Ref, RefOr, ResponseBuilder};
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};

use crate::error::AppError;

/// Every refusal of the API and of ingest, as `AppError` answers it: the
/// protocol's `Refusal` (`loggerflow_layer::protocol`).
#[derive(ToSchema)]
pub struct ApiError {
    /// Always `error`.
    #[schema(rename = "type", inline)]
    pub kind: RefusalType,
    /// A stable code (`not_found`, `unauthorized`, `invalid_state`, …).
    pub error: String,
    /// What is wrong, for people.
    pub message: String,
    /// The report refused, when one report is the cause.
    pub id: Option<String>,
    /// Seconds to wait before trying again (429, 503; also `Retry-After`).
    pub retry_after_s: Option<u64>,
    /// The largest body the server accepts, with `body_too_large`.
    pub limit_bytes: Option<u64>,
}

/// The `type` of a refusal.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum RefusalType {
    /// A refusal.
    Error,
}

/// The `{project}` of a path.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct Project {
    /// The project's name (percent-encoded).
    pub project: String,
}

/// The `{group}` of a path.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct Group {
    /// The error group's id (`id` in `GET …/errors`).
    pub group: i64,
}

/// The `{name}` of an alarm's path.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct AlarmName {
    /// The alarm's name (percent-encoded).
    pub name: String,
}

/// The document: every route of the JSON API, and `GET /metrics`.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "LoggerFlow",
        description = "The JSON API of a LoggerFlow server: projects, their errors, reports and \
            metrics, alarms and their history, the server's health and metrics.\n\n\
            Without `--auth` anyone who can connect may call it. With `--auth USER:PASSWORD` \
            every route but `/api/v1/health` needs HTTP Basic (scripts) or the `lf_session` \
            cookie of a `/login` (browsers; their POST and DELETE also carry the session's \
            CSRF token in `X-CSRF-Token`); without them it answers 401."
    ),
    paths(
        super::health,
        openapi_json,
        super::projects,
        crate::web::projects::live,
        crate::web::errors::live,
        crate::web::report::neighbours,
        crate::web::releases::live,
        crate::web::metrics::live,
        crate::web::alarms::history,
        super::events::stream,
        super::errors,
        super::set_state,
        super::reports,
        super::metrics,
        super::alarms::connect,
        super::alarms::kinds,
        super::alarms::list,
        super::alarms::create,
        super::alarms::delete,
        super::alarms::check,
        super::alarms::events,
        super::alarms::clear,
        super::prometheus,
    ),
    components(schemas(ApiError)),
    modifiers(&Refusals),
    security(("basic" = []), ("session" = [])),
    tags(
        (name = "server", description = "Health, metrics and this document"),
        (name = "projects", description = "Projects, their error groups, reports and metrics"),
        (name = "alarms", description = "Alarms, their connections to projects, their history"),
        (name = "dashboard", description = "What the dashboard's live pages fetch, and the \
            stream of events that tells them when"),
    )
)]
pub struct ApiDoc;

/// `GET /api/v1/openapi.json`: this API's OpenAPI document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "server", operation_id = "openapi",
    summary = "This API's OpenAPI 3.1 document",
    responses((status = 200, description = "The document", body = Object)))]
pub async fn openapi_json() -> Result<Response, AppError> {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    let text = match DOCUMENT.get() {
        Some(text) => text,
        None => {
            let text = ApiDoc::openapi().to_json().map_err(|e| {
                AppError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "openapi_error",
                    e.to_string(),
                )
            })?;
            DOCUMENT.get_or_init(|| text)
        }
    };
    Ok(([(header::CONTENT_TYPE, "application/json")], text.as_str()).into_response())
}

/// What a route may answer besides its own answers: refusals that come
/// from the layers in front of every handler (`router.rs`).
struct Refusals;

/// Shared responses: (name, description), each a JSON refusal.
const SHARED: &[(&str, &str)] = &[
    (
        "BadRequest",
        "`host_not_allowed` (the request names a host the server does not answer to), or \
         `invalid_request` (a malformed path or query parameter)",
    ),
    (
        "Unauthorized",
        "`unauthorized`: the server runs with `--auth` and the request carries no valid \
         HTTP Basic credentials or session cookie (scripts are challenged with \
         `WWW-Authenticate: Basic`)",
    ),
    (
        "Forbidden",
        "`csrf_token_mismatch` (a browser's request without its CSRF token in \
         `X-CSRF-Token`) or `cross_site_request` (another site's page sent it)",
    ),
    ("NoSuchProject", "`not_found`: no project of that name"),
    (
        "RequestTimeout",
        "`request_timeout`: the request took longer than `--request-timeout`",
    ),
    (
        "TooManyAttempts",
        "`too_many_attempts`: too many wrong logins from this client; wait `Retry-After` \
         seconds",
    ),
    (
        "StorageError",
        "`storage_error`: the database failed (the detail is in the server's log)",
    ),
    (
        "StorageUnavailable",
        "`storage_unavailable`: the database does not answer; try again after \
         `Retry-After` seconds",
    ),
    (
        "BodyTooLarge",
        "`body_too_large`: the body is larger than the server accepts",
    ),
    (
        "NotJson",
        "`unsupported_media_type`: the body is not sent as `application/json`",
    ),
    (
        "InvalidBody",
        "`invalid_body`: the body is JSON but not of the documented shape",
    ),
];

/// A JSON [`ApiError`] response.
fn shared_response(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            Content::new(Some(Ref::from_schema_name("ApiError"))),
        )
        .build()
}

impl Modify for Refusals {
    fn modify(&self, document: &mut utoipa::openapi::OpenApi) {
        let components = document.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some("`--auth USER:PASSWORD`, for scripts"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::auth::SESSION_COOKIE,
                "the session `/login` starts, for browsers (POST and DELETE also carry its \
                 CSRF token in `X-CSRF-Token`)",
            ))),
        );
        for (name, description) in SHARED {
            components
                .responses
                .insert((*name).to_owned(), RefOr::T(shared_response(description)));
        }
        for (path, item) in document.paths.paths.iter_mut() {
            let of_project = path.contains("{project}");
            let operations = [
                (false, &mut item.get),
                (true, &mut item.post),
                (true, &mut item.put),
                (true, &mut item.patch),
                (true, &mut item.delete),
            ];
            for (changes, operation) in operations {
                if let Some(operation) = operation {
                    add_refusals(operation, changes, of_project);
                }
            }
        }
    }
}

/// Adds the shared refusals an operation may answer: every one the
/// deadline's; one behind the login (no `security` of its own) the login's,
/// the Host check's and the database's; one that changes state the CSRF
/// check's; one with a body axum's refusals of it; one of a `{project}` an
/// unknown project's, unless it says what its 404 is.
fn add_refusals(operation: &mut utoipa::openapi::path::Operation, changes: bool, of_project: bool) {
    let guarded = operation.security.is_none();
    let has_body = operation.request_body.is_some();
    let responses = &mut operation.responses.responses;
    let mut add = |code: &str, name: &str| {
        responses
            .entry(code.to_owned())
            .or_insert_with(|| Ref::from_response_name(name).into());
    };
    add("408", "RequestTimeout");
    if guarded {
        add("400", "BadRequest");
        add("401", "Unauthorized");
        add("429", "TooManyAttempts");
        add("500", "StorageError");
        add("503", "StorageUnavailable");
    }
    if guarded && changes {
        add("403", "Forbidden");
    }
    if of_project {
        add("404", "NoSuchProject");
    }
    if has_body {
        add("413", "BodyTooLarge");
        add("415", "NotJson");
        add("422", "InvalidBody");
    }
    // a route's own 400: the Host check's and axum's refusals too
    if let Some(RefOr::T(own)) = responses.get_mut("400") {
        own.description
            .push_str("; or `host_not_allowed`, or `invalid_request` (a malformed parameter)");
    }
}
