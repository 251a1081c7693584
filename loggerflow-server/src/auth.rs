//! Who may read and change the dashboard and API, and proof that a form was
//! sent by our own page (CSRF).
//!
//! - Without `--auth` anyone may read; browsers get a random CSRF token in
//!   an `lf_csrf` cookie (`SameSite=Strict`) and every form carries it.
//! - With `--auth USER:PASSWORD` pages need a login: `/login` starts a
//!   session (`lf_session` cookie, `HttpOnly`, `SameSite=Lax`, 7 days) whose
//!   CSRF token every form carries; scripts may send HTTP Basic instead.
//!
//! A state-changing request must prove it came from our page: a form by its
//! `csrf` field, an API call made with the browser's cookies by an
//! `X-CSRF-Token` header. API calls without cookies (scripts) need none; with
//! `--auth` they need HTTP Basic. [`same_origin`] refuses, in addition,
//! anything a browser says came from another site.

use std::collections::HashMap;

use axum::Form;
use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use base64::Engine as _;
use loggerflow_ui::model::Visitor;
use serde::Deserialize;

use crate::error::AppError;
use crate::router::AppState;
use crate::store::sessions;

/// The cookie of a login session.
pub const SESSION_COOKIE: &str = "lf_session";
/// The cookie of the CSRF token when the server runs without `--auth`.
pub const CSRF_COOKIE: &str = "lf_csrf";

/// The cookies of a request, by name.
fn cookies(headers: &HeaderMap) -> HashMap<&str, &str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .collect()
}

fn is_token(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Checks HTTP Basic credentials against `--auth`.
fn basic_matches(headers: &HeaderMap, user: &str, password: &str) -> bool {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|b| String::from_utf8(b).ok());
    let expected = format!("{user}:{password}");
    given.is_some_and(|g| constant_time_eq(g.as_bytes(), expected.as_bytes()))
}

/// Compares secrets in time that does not depend on where they differ.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn unauthorized() -> AppError {
    AppError::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "this server needs a login: HTTP Basic for scripts, /login for browsers",
    )
}

fn csrf_refused() -> AppError {
    AppError::new(
        StatusCode::FORBIDDEN,
        "csrf_token_mismatch",
        "this form or request does not carry this browser's CSRF token: reload the page and try again",
    )
}

/// Authenticates every dashboard and API request, puts a [`Visitor`] in its
/// extensions, and checks the CSRF token of state-changing ones.
pub async fn guard(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, AppError> {
    let headers = request.headers().clone();
    let jar = cookies(&headers);
    let path = request.uri().path().to_owned();
    let is_api = path.starts_with("/api/");
    let safe = matches!(*request.method(), Method::GET | Method::HEAD);
    let mut new_cookie = None;
    let (visitor, via_basic) = match &state.config.auth {
        Some((user, password)) => {
            if basic_matches(&headers, user, password) {
                (
                    Visitor {
                        user: Some(user.clone()),
                        csrf: String::new(),
                        auth: true,
                    },
                    true,
                )
            } else {
                let session = match jar.get(SESSION_COOKIE).filter(|t| is_token(t)) {
                    Some(token) => sessions::find(&state.db, token).await?,
                    None => None,
                };
                match session {
                    Some(s) => (
                        Visitor {
                            user: Some(s.user),
                            csrf: s.csrf_token,
                            auth: true,
                        },
                        false,
                    ),
                    None if safe && !is_api => {
                        let target = request
                            .uri()
                            .path_and_query()
                            .map(|p| p.as_str())
                            .unwrap_or("/");
                        let url = format!("/login?next={}", loggerflow_ui::pages::segment(target));
                        return Ok(Redirect::to(&url).into_response());
                    }
                    None => return Err(unauthorized()),
                }
            }
        }
        None => {
            let csrf = match jar.get(CSRF_COOKIE).filter(|t| is_token(t)) {
                Some(token) => (*token).to_owned(),
                None => {
                    let token = sessions::random_token();
                    new_cookie = Some(format!(
                        "{CSRF_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict"
                    ));
                    token
                }
            };
            (
                Visitor {
                    user: None,
                    csrf,
                    auth: false,
                },
                false,
            )
        }
    };
    let mut request = request;
    if !safe && !via_basic {
        let has_cookie = jar.contains_key(SESSION_COOKIE) || jar.contains_key(CSRF_COOKIE);
        if is_api {
            // a script without cookies cannot be a forged browser request
            if has_cookie {
                let given = headers
                    .get("x-csrf-token")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                if !constant_time_eq(given.as_bytes(), visitor.csrf.as_bytes()) {
                    return Err(csrf_refused());
                }
            }
        } else {
            let (parts, body) = request.into_parts();
            let bytes = axum::body::to_bytes(body, state.config.body_limit)
                .await
                .map_err(|_| {
                    AppError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "body_too_large",
                        "this form is larger than the server accepts",
                    )
                })?;
            let fields: Vec<(String, String)> =
                serde_urlencoded::from_bytes(&bytes).unwrap_or_default();
            let given = fields
                .iter()
                .find(|(k, _)| k == "csrf")
                .map(|(_, v)| v.as_str())
                .unwrap_or_default();
            if !has_cookie || !constant_time_eq(given.as_bytes(), visitor.csrf.as_bytes()) {
                return Err(csrf_refused());
            }
            request = Request::from_parts(parts, Body::from(bytes));
        }
    }
    request.extensions_mut().insert(visitor);
    let mut response = next.run(request).await;
    if let Some(cookie) = new_cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

/// Query of the login page.
#[derive(Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

/// Where to go after logging in: a path of this server, never another site.
fn local_target(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_owned(),
        _ => "/".to_owned(),
    }
}

/// `GET /login`: the login form (or straight home without `--auth`).
pub async fn login_page(
    State(state): State<AppState>,
    Query(query): Query<LoginQuery>,
) -> Response {
    if state.config.auth.is_none() {
        return Redirect::to("/").into_response();
    }
    Html(loggerflow_ui::pages::login(
        &local_target(query.next.as_deref()),
        None,
    ))
    .into_response()
}

/// The login form.
#[derive(Deserialize)]
pub struct LoginForm {
    user: String,
    password: String,
    next: Option<String>,
}

/// `POST /login`: starts a session and sets its cookie.
pub async fn login(
    State(state): State<AppState>,
    Form(form): Form<LoginForm>,
) -> Result<Response, AppError> {
    let Some((user, password)) = &state.config.auth else {
        return Ok(Redirect::to("/").into_response());
    };
    let next = local_target(form.next.as_deref());
    let user_ok = constant_time_eq(form.user.as_bytes(), user.as_bytes());
    let password_ok = constant_time_eq(form.password.as_bytes(), password.as_bytes());
    if !(user_ok && password_ok) {
        // slows down guessing from one client
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let page = loggerflow_ui::pages::login(&next, Some("wrong user or password"));
        return Ok((StatusCode::UNAUTHORIZED, Html(page)).into_response());
    }
    let (token, _) = sessions::create(&state.db, user).await?;
    let cookie = format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}",
        sessions::SESSION_TTL_MS / 1000
    );
    let mut response = Redirect::to(&next).into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    Ok(response)
}

/// `POST /logout`: ends the session and clears its cookie.
pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    if let Some(token) = cookies(&headers)
        .get(SESSION_COOKIE)
        .filter(|t| is_token(t))
    {
        sessions::delete(&state.db, token).await?;
    }
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        HeaderValue::from_static("lf_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"),
    );
    Ok(response)
}

/// Refuses state-changing requests sent by another site's page: a browser
/// names the page's origin in `Origin` (or `Referer`); when it does, it must
/// be this server. Scripts send neither.
pub async fn same_origin(
    headers: HeaderMap,
    request: Request,
    next: Next,
) -> Result<Response, AppError> {
    let safe = matches!(*request.method(), Method::GET | Method::HEAD);
    if !safe {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default();
        let from = headers
            .get(header::ORIGIN)
            .or_else(|| headers.get(header::REFERER))
            .and_then(|v| v.to_str().ok());
        if let Some(from) = from {
            let from_host = from
                .split("://")
                .nth(1)
                .and_then(|rest| rest.split('/').next())
                .unwrap_or_default();
            if from_host != host {
                return Err(AppError::new(
                    StatusCode::FORBIDDEN,
                    "cross_site_request",
                    "this request came from another site's page and was refused",
                ));
            }
        }
    }
    Ok(next.run(request).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_only_returns_to_this_server() {
        assert_eq!(local_target(Some("/projects/a?x=1")), "/projects/a?x=1");
        assert_eq!(local_target(Some("//evil.example/")), "/");
        assert_eq!(local_target(Some("https://evil.example/")), "/");
        assert_eq!(local_target(Some("/\\evil.example")), "/");
        assert_eq!(local_target(None), "/");
    }

    #[test]
    fn cookies_are_read_by_name() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("a=1; lf_csrf=xyz"));
        let jar = cookies(&headers);
        assert_eq!(jar.get("lf_csrf"), Some(&"xyz"));
        assert_eq!(jar.get("a"), Some(&"1"));
    }
}
