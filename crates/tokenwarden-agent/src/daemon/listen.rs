//! The agent's optional TCP listeners: `--metrics ADDR` (Prometheus text at `/metrics`) and
//! `--http ADDR` (`GET /v1/profiles/{name}/token` for containers that cannot share the socket,
//! behind a bearer secret read from a 0600 file). Both listen on loopback only unless
//! `--allow-remote` is given.

use super::serve::token;
use super::state::Agent;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt as _;
use std::sync::Arc;
use std::time::Duration;
use tokenwarden::agent::protocol::Reply;
use tokenwarden::exit::ErrorDocument;
use tokenwarden::secret::ClientSecret;
use tokenwarden::{Error, ErrorKind, Result};

/// Refuses a non-loopback address unless `allow_remote`.
pub fn check_address(addr: &SocketAddr, allow_remote: bool, what: &str) -> Result<()> {
    if addr.ip().is_loopback() || allow_remote {
        return Ok(());
    }
    Err(Error::usage(format!(
        "{what} would listen on {addr}, which is not a loopback address"
    ))
    .with_hint(
        "listen on 127.0.0.1 (or [::1]), or pass --allow-remote if other machines must reach it",
    ))
}

/// Reads the bearer secret of the HTTP listener from `path`, which must be a file of this
/// user that no one else can read (0600).
pub fn read_secret_file(path: &std::path::Path) -> Result<ClientSecret> {
    let meta = std::fs::metadata(path).map_err(|e| {
        Error::usage(format!("cannot read the token file {}", path.display())).with_source(e)
    })?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(Error::usage(format!(
            "the token file {} can be read by other users (mode {:o})",
            path.display(),
            meta.permissions().mode() & 0o777
        ))
        .with_hint(format!("chmod 600 {}", path.display())));
    }
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::usage(format!("cannot read the token file {}", path.display())).with_source(e)
    })?;
    let secret = text.trim();
    if secret.len() < 16 {
        return Err(Error::usage(format!(
            "the token file {} holds less than 16 characters",
            path.display()
        ))
        .with_hint("put a long random secret in it, e.g. `openssl rand -hex 32 > FILE`"));
    }
    Ok(ClientSecret::new(secret))
}

/// Serves `/metrics` on `listener` until the agent stops.
pub async fn serve_metrics(agent: Arc<Agent>, listener: tokio::net::TcpListener) {
    let app = axum::Router::new()
        .route("/metrics", axum::routing::get(metrics))
        .with_state(agent.clone());
    let stop = agent.clone();
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(async move { stop.stopped().await })
        .await;
    if let Err(e) = served {
        tracing::warn!("the metrics listener failed: {e}");
    }
}

async fn metrics(State(agent): State<Arc<Agent>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        agent.metrics_text(),
    )
        .into_response()
}

/// What the token listener needs.
#[derive(Clone)]
struct HttpState {
    agent: Arc<Agent>,
    secret: Arc<ClientSecret>,
}

/// Serves `GET /v1/profiles/{name}/token` on `listener` until the agent stops; every request
/// must carry `Authorization: Bearer <secret>`.
pub async fn serve_tokens(
    agent: Arc<Agent>,
    listener: tokio::net::TcpListener,
    secret: ClientSecret,
) {
    let state = HttpState {
        agent: agent.clone(),
        secret: Arc::new(secret),
    };
    let app = axum::Router::new()
        .route("/v1/profiles/{name}/token", axum::routing::get(http_token))
        .with_state(state);
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(async move { agent.stopped().await })
        .await;
    if let Err(e) = served {
        tracing::warn!("the token listener failed: {e}");
    }
}

async fn http_token(
    State(st): State<HttpState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    if !bearer_matches(&headers, st.secret.expose()) {
        let err = Error::new(
            ErrorKind::Usage,
            "this request has no valid bearer secret for the agent's token listener",
        )
        .with_hint("send `Authorization: Bearer <the secret in the --http-token-file>`");
        return error_response(StatusCode::UNAUTHORIZED, &err);
    }
    match token(&st.agent, &name, Duration::ZERO).await {
        Reply::Token(t) => {
            let body = serde_json::json!({
                "access_token": t.access_token,
                "token_type": t.token_type,
                "expires_at": t.expires_at_ms.map(|ms| {
                    humantime::format_rfc3339_seconds(tokenwarden::agent::protocol::from_unix_ms(ms)).to_string()
                }),
                "version": t.version,
                "degraded": t.degraded,
            });
            (
                [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
                axum::Json(body),
            )
                .into_response()
        }
        Reply::Error(doc) => {
            let e = doc.into_error();
            let status = if e.kind() == ErrorKind::Config || e.kind() == ErrorKind::Usage {
                StatusCode::NOT_FOUND
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            error_response(status, &e)
        }
        _ => error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            &Error::new(ErrorKind::Other, "unexpected answer"),
        ),
    }
}

/// True when `headers` carry `Authorization: Bearer <secret>` (compared in constant time).
pub fn bearer_matches(headers: &HeaderMap, secret: &str) -> bool {
    headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .chain(headers.get_all(header::PROXY_AUTHORIZATION).iter())
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| {
            v.split_once(' ')
                .filter(|(s, _)| s.eq_ignore_ascii_case("bearer"))
                .map(|(_, c)| c.trim())
        })
        .any(|given| constant_time_eq(given.as_bytes(), secret.as_bytes()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `err` as the CLI's JSON error object, with `status` (and `Retry-After` when the error
/// says when to try again).
pub fn error_response(status: StatusCode, err: &Error) -> Response {
    let doc = ErrorDocument::new(err);
    let mut resp = (status, axum::Json(doc)).into_response();
    if let Some(at) = err.retry_at() {
        let secs = at
            .duration_since(std::time::SystemTime::now())
            .map_or(1, |d| d.as_secs().max(1));
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
    }
    resp
}
