//! The device authorization grant (RFC 8628): `/device_authorization`, the `/device`
//! verification page where a person enters the user code, and polling at the token endpoint
//! (`authorization_pending`, `slow_down`, `expired_token`, `access_denied`).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::config::{ClientConfig, GrantType};
use crate::endpoints::token::{Issued, issue};
use crate::endpoints::{client_request, requested_scope};
use crate::html;
use crate::oauth::{ErrorCode, OAuthError, Params, content_type, read_body};
use crate::sites::Site;
use crate::state::AppState;
use crate::store::DeviceStatus;

/// RFC 8628 §3.5: each `slow_down` adds this to the interval, for good.
const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);

/// `POST /device_authorization` (RFC 8628 §3.1–3.2).
pub(crate) async fn device_authorization(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let bytes = match read_body(body).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    match start(&st, &headers, &bytes) {
        Ok(resp) => resp,
        Err(e) => e.into_response(),
    }
}

fn start(st: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<Response, OAuthError> {
    let (params, client) = client_request(&st.config, headers, body).map_err(|(_, e)| e)?;
    if !client.allows(GrantType::DeviceCode) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            format!("client `{}` may not use the device grant", client.id),
        ));
    }
    let scope = requested_scope(&st.config, params.get("scope")?)?;
    let now = st.now();
    let cfg = &st.config;
    let (device_code, user_code) = st.store().insert_device(
        &client.id,
        scope,
        cfg.device_code_ttl,
        cfg.device_interval,
        cfg.auto_approve,
        now,
    );
    st.stats().device_authorizations += 1;
    let verification_uri = st.url("/device");
    let complete = crate::redirect::with_params(&verification_uri, &[("user_code", &user_code)])
        .unwrap_or_else(|| verification_uri.clone());
    let interval = cfg.device_interval.as_secs_f64().ceil() as u64;
    let body = json!({
        "device_code": device_code,
        "user_code": user_code,
        "verification_uri": verification_uri,
        "verification_uri_complete": complete,
        "expires_in": cfg.device_code_ttl.as_secs(),
        "interval": interval,
    });
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body.to_string(),
    )
        .into_response())
}

/// The token endpoint's device grant: one poll.
pub(crate) fn poll(
    st: &AppState,
    site: &Site,
    client: &ClientConfig,
    params: &Params,
) -> Result<Issued, OAuthError> {
    let device_code = params.require("device_code")?;
    let now = st.now();
    let mut store = st.store();
    let rec = store
        .devices
        .get_mut(device_code)
        .ok_or_else(|| OAuthError::invalid_grant("unknown device_code"))?;
    if rec.client_id != client.id {
        return Err(OAuthError::invalid_grant(
            "the device_code was issued to another client",
        ));
    }
    if now >= rec.expires_at {
        return Err(OAuthError::new(
            ErrorCode::ExpiredToken,
            "the device code expired; start the device login again",
        ));
    }
    let too_fast = rec
        .last_poll
        .is_some_and(|last| now.duration_since(last).unwrap_or(Duration::ZERO) < rec.interval);
    rec.last_poll = Some(now);
    if too_fast {
        rec.interval += SLOW_DOWN_STEP;
        return Err(OAuthError::new(
            ErrorCode::SlowDown,
            format!(
                "polled faster than the interval; wait {}s between polls from now on (RFC 8628 §3.5)",
                rec.interval.as_secs_f64().ceil()
            ),
        ));
    }
    match rec.status {
        DeviceStatus::Pending => Err(OAuthError::new(
            ErrorCode::AuthorizationPending,
            "the user has not yet approved the request",
        )),
        DeviceStatus::Denied => Err(OAuthError::new(
            ErrorCode::AccessDenied,
            "the user denied the request",
        )),
        DeviceStatus::Consumed => Err(OAuthError::invalid_grant(
            "the device code was already exchanged for tokens",
        )),
        DeviceStatus::Approved => {
            rec.status = DeviceStatus::Consumed;
            let scope = rec.scope.clone();
            let auth_time = rec.decided_at.unwrap_or(now);
            let family = store.new_family(&client.id, scope.clone(), None, auth_time);
            let refresh = client
                .allows(GrantType::RefreshToken)
                .then(|| store.issue_refresh(family, st.config.refresh_ttl, now));
            issue(st, site, &mut store, family, scope, refresh)
        }
    }
}

/// Why a user code could not be decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DeviceDecisionError {
    /// No device authorization has this user code.
    #[error("unknown user code")]
    Unknown,
    /// The device code expired.
    #[error("the code expired; start again on the device")]
    Expired,
    /// It was already approved or denied.
    #[error("this code was already used")]
    AlreadyDecided,
}

/// Approves or denies a pending device authorization; returns its client id.
pub(crate) fn decide(
    st: &AppState,
    user_code: &str,
    approve: bool,
) -> Result<String, DeviceDecisionError> {
    let now = st.now();
    let mut store = st.store();
    let rec = store
        .device_by_user_code(user_code)
        .ok_or(DeviceDecisionError::Unknown)?;
    if now >= rec.expires_at {
        return Err(DeviceDecisionError::Expired);
    }
    if rec.status != DeviceStatus::Pending {
        return Err(DeviceDecisionError::AlreadyDecided);
    }
    rec.status = if approve {
        DeviceStatus::Approved
    } else {
        DeviceStatus::Denied
    };
    rec.decided_at = Some(now);
    Ok(rec.client_id.clone())
}

/// `GET /device[?user_code=…]`: the verification page.
pub(crate) async fn page(State(st): State<Arc<AppState>>, RawQuery(query): RawQuery) -> Response {
    let params = Params::from_urlencoded(query.unwrap_or_default().as_bytes());
    let code = params.get("user_code").ok().flatten().unwrap_or("");
    html::device_form(&st.mounts.path("/device"), StatusCode::OK, code, None)
}

/// `POST /device`: the person's decision.
pub(crate) async fn submit(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let action = st.mounts.path("/device");
    let form =
        |status, code: &str, message: &str| html::device_form(&action, status, code, Some(message));
    let bytes = match read_body(body).await {
        Ok(b) => b,
        Err(e) => return form(StatusCode::BAD_REQUEST, "", &e.description),
    };
    if content_type(&headers).as_deref() != Some("application/x-www-form-urlencoded") {
        return form(StatusCode::BAD_REQUEST, "", "send the form");
    }
    let params = Params::from_urlencoded(&bytes);
    let code = params.get("user_code").ok().flatten().unwrap_or("");
    let approve = match params.get("action").ok().flatten() {
        Some("approve") => true,
        Some("deny") => false,
        _ => {
            return form(StatusCode::BAD_REQUEST, code, "choose Approve or Deny");
        }
    };
    match decide(&st, code, approve) {
        Ok(client_id) => html::device_done(approve, &client_id),
        Err(e) => form(StatusCode::BAD_REQUEST, code, &e.to_string()),
    }
}
