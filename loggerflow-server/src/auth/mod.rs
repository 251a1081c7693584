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
//! `csrf` field, an API call a browser could have sent (it carries our
//! cookies, an `Origin` or a `Sec-Fetch-*` header) by an `X-CSRF-Token`
//! header, whatever authenticates it (a session, HTTP Basic the browser
//! remembers, or nothing without `--auth`). Scripts (none of those) need no
//! token; with `--auth` they need HTTP Basic. [`same_origin`] refuses, in
//! addition, anything a browser says came from another site.
//!
//! Credentials are guessed at most a handful of times a minute per client
//! ([`throttle`]); a session is valid only under the credentials it was
//! started with; cookies are `Secure` when the public URL is https; a 401
//! challenges with `WWW-Authenticate` only clients that are not browsers,
//! so an expired session never pops the browser's password box.
//!
//! What stays open after its request was let in (a tab's event stream)
//! ends with its session: at once on a logout through the same server,
//! otherwise at the next look-up of the open streams' sessions
//! ([`watch`]).

pub mod throttle;
pub mod watch;

use std::collections::HashMap;
use std::sync::Arc;

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

/// The login session a request was let in by (its key in the table), in the
/// request's extensions: what an answer that stays open checks again.
#[derive(Debug, Clone)]
pub struct SessionKey(pub Arc<str>);

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

/// The HTTP Basic credentials a request carries (`None` without any),
/// and whether they are `--auth`'s.
fn basic_attempt(headers: &HeaderMap, user: &str, password: &str) -> Option<bool> {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.get(..6)
                .filter(|scheme| scheme.eq_ignore_ascii_case("basic "))
                .map(|_| &v[6..])
        })?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(given.trim())
        .unwrap_or_default();
    let expected = format!("{user}:{password}");
    Some(constant_time_eq(&decoded, expected.as_bytes()))
}

/// Whether a browser sent this request (as opposed to a script): it
/// carries our cookies, an `Origin`, or `Sec-Fetch-*` metadata.
fn from_browser(headers: &HeaderMap, jar: &HashMap<&str, &str>) -> bool {
    jar.contains_key(SESSION_COOKIE)
        || jar.contains_key(CSRF_COOKIE)
        || headers.contains_key(header::ORIGIN)
        || headers.contains_key("sec-fetch-site")
        || headers.contains_key("sec-fetch-mode")
}

/// What binds a session to the credentials it was started with: a session
/// started under another `--auth` is not found.
fn credentials_tag(state: &AppState) -> String {
    match &state.config.auth {
        Some((user, password)) => sessions::credentials_tag(user, password),
        None => String::new(),
    }
}

/// A cookie's attributes: `Secure` when the public URL is https.
fn cookie_attributes(state: &AppState, same_site: &str) -> String {
    let secure = if state.config.https() { "; Secure" } else { "" };
    format!("Path=/; HttpOnly; SameSite={same_site}{secure}")
}

fn too_many_attempts(wait: std::time::Duration) -> AppError {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    AppError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_attempts",
        format!("too many wrong logins from this client: try again in {seconds} s"),
    )
    .retry_after(seconds.max(1))
}

/// Compares secrets in time that does not depend on where they differ
/// (`subtle`; only the lengths may show).
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq as _;
    bool::from(a.ct_eq(b))
}

/// 401; a script is challenged for HTTP Basic, a browser is not (its
/// password box would pop up over the dashboard).
fn unauthorized(challenge: bool) -> Response {
    let mut response = AppError::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "this server needs a login: HTTP Basic for scripts, /login for browsers",
    )
    .into_response();
    if challenge {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"loggerflow\""),
        );
    }
    response
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
    // a scraper's token opens `/metrics` and nothing else; with a token
    // set, `/metrics` is never open to anyone without it or the login
    if path == "/metrics"
        && let Some(token) = &state.config.metrics_token
    {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if given.is_some_and(|g| constant_time_eq(g.as_bytes(), token.as_bytes())) {
            return Ok(next.run(request).await);
        }
        if state.config.auth.is_none() {
            return Err(AppError::new(
                StatusCode::UNAUTHORIZED,
                "metrics_token_required",
                "`/metrics` needs `Authorization: Bearer TOKEN` with the server's --metrics-token",
            ));
        }
    }
    // `/metrics` answers a scraper as the API does (401, not a login page)
    let is_api = path.starts_with("/api/") || path == "/metrics" || path.starts_with("/badge/");
    let safe = matches!(*request.method(), Method::GET | Method::HEAD);
    let browser = from_browser(&headers, &jar);
    let mut new_cookie = None;
    // the CSRF token of a browser without a session: its lf_csrf cookie
    let mut cookie_token = || match jar.get(CSRF_COOKIE).filter(|t| is_token(t)) {
        Some(token) => (*token).to_owned(),
        None => {
            let token = sessions::random_token();
            new_cookie = Some(format!(
                "{CSRF_COOKIE}={token}; {}",
                cookie_attributes(&state, "Strict")
            ));
            token
        }
    };
    let mut session_key = None;
    let visitor = match &state.config.auth {
        Some((user, password)) => match basic_attempt(&headers, user, password) {
            Some(right) => {
                let client = crate::connections::request_client(
                    request.extensions(),
                    request.headers(),
                    state.config.trust_forwarded_for,
                );
                match state
                    .throttle
                    .attempt(client, right, std::time::Instant::now())
                {
                    throttle::Verdict::Blocked(wait) => return Err(too_many_attempts(wait)),
                    throttle::Verdict::Refused => return Ok(unauthorized(!browser)),
                    throttle::Verdict::Allowed => Visitor {
                        user: Some(user.clone()),
                        csrf: cookie_token(),
                        auth: true,
                    },
                }
            }
            None => {
                let session = match jar.get(SESSION_COOKIE).filter(|t| is_token(t)) {
                    Some(token) => {
                        sessions::find(&state.db, token, &credentials_tag(&state)).await?
                    }
                    None => None,
                };
                match session {
                    Some(s) => {
                        session_key = Some(SessionKey(Arc::from(s.key)));
                        Visitor {
                            user: Some(s.user),
                            csrf: s.csrf_token,
                            auth: true,
                        }
                    }
                    None if safe && !is_api => {
                        let target = request
                            .uri()
                            .path_and_query()
                            .map(|p| p.as_str())
                            .unwrap_or("/");
                        let url = format!("/login?next={}", loggerflow_ui::pages::segment(target));
                        return Ok(Redirect::to(&url).into_response());
                    }
                    None => return Ok(unauthorized(!browser)),
                }
            }
        },
        None => Visitor {
            user: None,
            csrf: cookie_token(),
            auth: false,
        },
    };
    let mut request = request;
    // forms always carry the token; API calls when a browser could have
    // sent them (a script cannot be a forged browser request)
    if !safe && (browser || !is_api) {
        let given = if is_api {
            headers
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
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
            request = Request::from_parts(parts, Body::from(bytes));
            fields
                .into_iter()
                .find(|(k, _)| k == "csrf")
                .map(|(_, v)| v)
                .unwrap_or_default()
        };
        // a token made for this very request (no cookie came) never matches
        let fresh = new_cookie.is_some() && !jar.contains_key(SESSION_COOKIE);
        if fresh
            || visitor.csrf.is_empty()
            || !constant_time_eq(given.as_bytes(), visitor.csrf.as_bytes())
        {
            return Err(csrf_refused());
        }
    }
    request.extensions_mut().insert(visitor);
    if let Some(key) = session_key {
        request.extensions_mut().insert(key);
    }
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

/// Where to go after logging in: a plain path of this server, never
/// another site. Only printable ASCII (percent-encoded otherwise), one
/// leading `/`, no `\` anywhere: browsers drop tabs and newlines and read
/// `\` as `/`, which would turn `/<TAB>/evil.example` into `//evil.example`.
fn local_target(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && n.bytes().all(|b| b.is_ascii_graphic() && b != b'\\') =>
        {
            n.to_owned()
        }
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

/// `POST /login`: starts a session and sets its cookie. Shares the
/// failure throttle with HTTP Basic.
pub async fn login(
    State(state): State<AppState>,
    crate::connections::Client(client): crate::connections::Client,
    Form(form): Form<LoginForm>,
) -> Result<Response, AppError> {
    let Some((user, password)) = &state.config.auth else {
        return Ok(Redirect::to("/").into_response());
    };
    let next = local_target(form.next.as_deref());
    let user_ok = constant_time_eq(form.user.as_bytes(), user.as_bytes());
    let password_ok = constant_time_eq(form.password.as_bytes(), password.as_bytes());
    match state
        .throttle
        .attempt(client, user_ok && password_ok, std::time::Instant::now())
    {
        throttle::Verdict::Allowed => {}
        throttle::Verdict::Refused => {
            let page = loggerflow_ui::pages::login(&next, Some("wrong user or password"));
            return Ok((StatusCode::UNAUTHORIZED, Html(page)).into_response());
        }
        throttle::Verdict::Blocked(wait) => {
            let message = too_many_attempts(wait);
            let page = loggerflow_ui::pages::login(&next, Some(message.message()));
            let mut response = (StatusCode::TOO_MANY_REQUESTS, Html(page)).into_response();
            if let Ok(value) = HeaderValue::from_str(&(wait.as_secs() + 1).to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            return Ok(response);
        }
    }
    let (token, _) = sessions::create(&state.db, user, &credentials_tag(&state)).await?;
    let cookie = format!(
        "{SESSION_COOKIE}={token}; {}; Max-Age={}",
        cookie_attributes(&state, "Lax"),
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
        && let Some(key) = sessions::delete(&state.db, token, &credentials_tag(&state)).await?
    {
        // its streams end now
        state.sessions.ended(&key);
    }
    let mut response = Redirect::to("/login").into_response();
    let cookie = format!(
        "{SESSION_COOKIE}=; {}; Max-Age=0",
        cookie_attributes(&state, "Lax")
    );
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
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
            // `Origin: null` (a sandboxed frame, a file) has no authority
            let from_host = from
                .parse::<axum::http::Uri>()
                .ok()
                .and_then(|uri| uri.authority().map(|a| a.as_str().to_ascii_lowercase()));
            if from_host.as_deref() != Some(host.to_ascii_lowercase().as_str()) {
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
        assert_eq!(local_target(Some("/%09/evil.example")), "/%09/evil.example");
        assert_eq!(local_target(Some("/\t/evil.example")), "/");
        assert_eq!(local_target(Some("/\r\nSet-Cookie: x=1")), "/");
        assert_eq!(local_target(Some("/a b")), "/");
        assert_eq!(local_target(Some("/é")), "/");
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
