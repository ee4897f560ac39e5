//! The message boundary: two middlewares every response passes on its way out.
//!
//! * [`stamp`] (outermost) gives every response — errors, faults and 404s included — a unique
//!   `X-Request-Id` and a `Date` that honours the clock-skew fault (unless a fault set its own),
//!   and logs the exchange.
//! * [`faults_and_counts`] counts `/token` requests by grant type (before any fault, so faulted
//!   requests count too), applies the fault plan, and counts `/token` errors by OAuth code or
//!   HTTP status.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::config::GrantType;
use crate::faults::{Endpoint, Fired};
use crate::oauth::{ErrorTag, Params, content_type, read_body};
use crate::state::{AppState, ReceivedTokenRequest};

/// Adds `X-Request-Id` and `Date` to every response.
pub(crate) async fn stamp(State(st): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let id = st.next_request_id();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let mut resp = next.run(req).await;
    let date = httpdate::fmt_http_date(st.shown_now());
    let headers = resp.headers_mut();
    // A fault may set its own (`headers` in the spec); everything else gets ours.
    if let Ok(v) = HeaderValue::from_str(&id) {
        headers.entry("x-request-id").or_insert(v);
    }
    if let Ok(v) = HeaderValue::from_str(&date) {
        headers.entry(header::DATE).or_insert(v);
    }
    tracing::info!(request_id = %id, %method, %path, status = resp.status().as_u16(), "request");
    resp
}

/// The grant type of a buffered `/token` body, if it can be read.
fn grant_type_of(req_headers: &axum::http::HeaderMap, body: &[u8]) -> Option<GrantType> {
    let params = match content_type(req_headers).as_deref() {
        Some("application/json") => Params::from_json(body).ok()?,
        _ => Params::from_urlencoded(body),
    };
    GrantType::from_wire(params.get("grant_type").ok()??)
}

/// A `/token` request as [`AppState::receive`] keeps it (a body that does not parse: no
/// parameters).
fn received(req_headers: &axum::http::HeaderMap, body: &[u8]) -> ReceivedTokenRequest {
    let params = match content_type(req_headers).as_deref() {
        Some("application/json") => Params::from_json(body).ok(),
        _ => Some(Params::from_urlencoded(body)),
    };
    ReceivedTokenRequest {
        params: params.map(Params::into_pairs).unwrap_or_default(),
        authorization: req_headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    }
}

/// Applies the fault plan and keeps the token statistics.
pub(crate) async fn faults_and_counts(
    State(st): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Response {
    let endpoint = Endpoint::from_path(req.uri().path());
    let mut req = req;
    if endpoint == Some(Endpoint::Token) {
        let (parts, body) = req.into_parts();
        let bytes = match read_body(body).await {
            Ok(b) => b,
            Err(e) => {
                st.stats().token_requests.count(None);
                return count_token_error(&st, e.into_response());
            }
        };
        let grant = grant_type_of(&parts.headers, &bytes);
        st.stats().token_requests.count(grant);
        st.receive(received(&parts.headers, &bytes));
        req = Request::from_parts(parts, Body::from(bytes));
    }
    let fired = endpoint.and_then(|e| st.faults().decide(e));
    let resp = match fired {
        None => next.run(req).await,
        Some(fired) => {
            st.stats().faults_injected += 1;
            apply(&st, fired, req, next).await
        }
    };
    if endpoint == Some(Endpoint::Token) {
        count_token_error(&st, resp)
    } else {
        resp
    }
}

async fn apply(st: &AppState, fired: Fired, req: Request, next: Next) -> Response {
    if fired.spec.processed {
        let real = next.run(req).await;
        delay(st, fired.latency()).await;
        return fired.response().unwrap_or(real);
    }
    delay(st, fired.latency()).await;
    match fired.response() {
        Some(resp) => resp,
        None => next.run(req).await,
    }
}

/// Sleeps for an injected latency, cut short when the server shuts down.
async fn delay(st: &AppState, latency: Option<Duration>) {
    let Some(d) = latency else { return };
    let mut shutdown = st.shutdown.clone();
    if *shutdown.borrow() {
        return;
    }
    tokio::select! {
        () = tokio::time::sleep(d) => {}
        _ = shutdown.changed() => {}
    }
}

fn count_token_error(st: &AppState, resp: Response) -> Response {
    let key = match resp.extensions().get::<ErrorTag>() {
        Some(tag) => Some(tag.0.clone()),
        None if !resp.status().is_success() => Some(resp.status().as_u16().to_string()),
        None => None,
    };
    if let Some(key) = key {
        st.stats().token_error(key);
    }
    resp
}

/// The answer for paths no route serves: a JSON 404.
pub(crate) async fn not_found(req: Request) -> Response {
    let body = serde_json::json!({
        "error": "not_found",
        "error_description": format!("no such endpoint: {} {}", req.method(), req.uri().path()),
    });
    (axum::http::StatusCode::NOT_FOUND, axum::Json(body)).into_response()
}
