//! `doctor --live`: `live_token` fetches a token the way every command does (`get_token` with no
//! minimum lifetime, so a token that does not need renewing is not renewed), and
//! `live_resource` calls the profile's `resource` with it (a 401 is retried once with a fresh
//! token, as `tokenwarden request` does).

use super::Check;
use crate::config::Profile;
use crate::warden::Warden;
use std::time::{Duration, Instant};

/// Runs the live checks.
pub async fn run(warden: &Warden, p: &Profile, checks: &mut Vec<Check>) {
    let session = match warden.session(&p.name) {
        Ok(s) => s,
        Err(e) => {
            checks.push(Check::from_error("live_token", &e));
            return;
        }
    };
    let before = stored_version(warden, p);
    let token = match session.get_token(Duration::ZERO).await {
        Ok(t) => t,
        Err(e) => {
            checks.push(Check::from_error("live_token", &e));
            return;
        }
    };
    let now = warden.clock().now();
    let left = token
        .expires_at()
        .map(|at| {
            format!(
                "valid for {}",
                crate::human::duration(Duration::from_secs(
                    at.duration_since(now).unwrap_or_default().as_secs()
                ))
            )
        })
        .unwrap_or_else(|| "without expiry".into());
    let how = if before == Some(token.version().get()) {
        "the stored token, no renewal needed"
    } else {
        "renewed, because it was expired or about to expire"
    };
    checks.push(match token.degraded() {
        Some(w) => Check::warn(
            "live_token",
            format!("got a token ({left}) while the provider fails: {w}"),
            "nothing to do now; renew once the provider recovers (it is retried automatically)",
        ),
        None => Check::ok("live_token", format!("got a token: {how}; {left}")),
    });
    let Some(resource) = p.resource.clone() else {
        checks.push(Check::warn(
            "live_resource",
            "the profile has no `resource` to call",
            "set resource = \"https://api.example.com/...\" in the profile to have the API tried",
        ));
        return;
    };
    let url = match reqwest::Url::parse(&resource) {
        Ok(u) => u,
        Err(e) => {
            checks.push(Check::fail(
                "live_resource",
                format!("resource `{resource}` is not a valid URL: {e}"),
                "fix resource in the profile",
            ));
            return;
        }
    };
    let prepared = warden.http_client(p).and_then(|http| {
        let headers = crate::http::resource::header_map(&p.resource_headers()?)?;
        Ok((http, headers))
    });
    let (http, headers) = match prepared {
        Ok(h) => h,
        Err(e) => {
            checks.push(Check::from_error("live_resource", &e));
            return;
        }
    };
    let started = Instant::now();
    let result = session
        .send(|t| {
            http.raw()
                .get(url.clone())
                .headers(headers.clone())
                .header(reqwest::header::AUTHORIZATION, t.authorization())
        })
        .await;
    let ms = started.elapsed().as_millis();
    let resp = match result {
        Ok(r) => r,
        Err(e) => {
            checks.push(Check::from_error("live_resource", &e));
            return;
        }
    };
    let status = resp.status();
    let rid = resp
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(|r| format!(", request id {r}"))
        .unwrap_or_default();
    let renewed = stored_version(warden, p).is_some_and(|v| v != token.version().get());
    let www = resp
        .headers()
        .get(reqwest::header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = resp.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
    let refusal = |status: u16| {
        session
            .refusal_hint(status, www.as_deref(), &body)
            .unwrap_or_default()
    };
    checks.push(match status.as_u16() {
        200..=299 if renewed => Check::warn(
            "live_resource",
            format!(
                "GET {url} answered {status} in {ms} ms{rid}, but only after it rejected a token that had not expired and a renewal"
            ),
            "the provider revoked the token early (a password change, a new login elsewhere, a server-side session limit); if it keeps happening see `tokenwarden events`",
        ),
        200..=299 => Check::ok(
            "live_resource",
            format!("GET {url} answered {status} in {ms} ms{rid}"),
        ),
        s @ (401 | 403) => Check::fail(
            "live_resource",
            format!("GET {url} answered {status}{rid}"),
            refusal(s),
        ),
        s if s >= 500 => Check::fail(
            "live_resource",
            format!("GET {url} answered {status}{rid}: the API is failing"),
            "usually temporary: try again later, and quote the request id to the API's operator",
        ),
        _ => Check::fail(
            "live_resource",
            format!("GET {url} answered {status}{rid}"),
            "check the resource URL in the profile",
        ),
    });
}

fn stored_version(warden: &Warden, p: &Profile) -> Option<i64> {
    let store = warden.store().ok()?;
    store.read(&p.name).ok().flatten().map(|s| s.version.get())
}
