//! The authorization endpoint (RFC 6749 §4.1.1, RFC 7636, RFC 9207) and its consent decision.
//!
//! Validation order matters: the client and the redirect URI are checked first, and problems
//! with either are answered with a 400 page (never a redirect to an unverified URI); every
//! later problem redirects back with `error`, `error_description`, `state` and (where the site
//! sends one) `iss`. A strict RFC 8707 server also requires known `resource` parameters.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Extension, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::config::GrantType;
use crate::endpoints::{requested_scope, target};
use crate::html;
use crate::oauth::{ErrorCode, OAuthError, Params, content_type, read_body};
use crate::redirect;
use crate::sites::Site;
use crate::state::AppState;
use crate::store::{CodeGrant, Pending};

/// How long a consent page stays answerable.
const CONSENT_TTL: Duration = Duration::from_secs(600);

/// `GET /authorize`.
pub(crate) async fn authorize_get(
    State(st): State<Arc<AppState>>,
    Extension(site): Extension<Arc<Site>>,
    RawQuery(query): RawQuery,
) -> Response {
    let params = Params::from_urlencoded(query.unwrap_or_default().as_bytes());
    authorize(&st, &site, &params, StatusCode::FOUND)
}

/// `POST /authorize` (OIDC Core §3.1.2.1 allows the form-encoded POST).
pub(crate) async fn authorize_post(
    State(st): State<Arc<AppState>>,
    Extension(site): Extension<Arc<Site>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let params = match form_params(&headers, body).await {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    authorize(&st, &site, &params, StatusCode::SEE_OTHER)
}

async fn form_params(headers: &HeaderMap, body: Body) -> Result<Params, Response> {
    let bytes = read_body(body)
        .await
        .map_err(|e| html::authorize_error(&e.description))?;
    if content_type(headers).as_deref() != Some("application/x-www-form-urlencoded") {
        return Err(html::authorize_error(
            "a POST to the authorization endpoint must be application/x-www-form-urlencoded",
        ));
    }
    Ok(Params::from_urlencoded(&bytes))
}

/// Where errors after redirect-URI validation go.
struct Back<'a> {
    st: &'a AppState,
    redirect_uri: &'a str,
    state: Option<&'a str>,
    /// The RFC 9207 `iss`, when the site sends one.
    iss: Option<&'a str>,
    status: StatusCode,
}

impl Back<'_> {
    fn redirect<'p>(&'p self, mut params: Vec<(&'p str, &'p str)>) -> Response {
        if let Some(s) = self.state {
            params.push(("state", s));
        }
        if let Some(iss) = self.iss {
            params.push(("iss", iss));
        }
        match redirect::with_params(self.redirect_uri, &params) {
            Some(location) => (self.status, [(header::LOCATION, location)]).into_response(),
            None => html::authorize_error("the redirect_uri is not a valid URL"),
        }
    }

    fn error(&self, e: OAuthError) -> Response {
        self.redirect(vec![
            ("error", e.code.as_str()),
            ("error_description", &e.description),
        ])
    }
}

fn authorize(st: &AppState, site: &Site, params: &Params, status: StatusCode) -> Response {
    st.stats().authorize_requests += 1;
    // 1. Client and redirect URI: failures are shown, not redirected.
    let client_id = match params.get("client_id") {
        Ok(Some(id)) => id,
        Ok(None) => return html::authorize_error("missing client_id"),
        Err(e) => return html::authorize_error(&e.description),
    };
    let Some(client) = st.config.client(client_id) else {
        return html::authorize_error(&format!("unknown client_id `{client_id}`"));
    };
    let (redirect_uri, redirect_uri_given) = match params.get("redirect_uri") {
        Err(e) => return html::authorize_error(&e.description),
        Ok(Some(r)) => {
            if !client
                .redirect_uris
                .iter()
                .any(|reg| redirect::matches(reg, r))
            {
                return html::authorize_error(&redirect::explain_mismatch(
                    client_id,
                    &client.redirect_uris,
                    r,
                ));
            }
            (r, true)
        }
        Ok(None) => match client.redirect_uris.as_slice() {
            [only] => (only.as_str(), false),
            [] => {
                return html::authorize_error(&format!(
                    "client `{client_id}` has no registered redirect URI"
                ));
            }
            _ => {
                return html::authorize_error(&format!(
                    "missing redirect_uri: client `{client_id}` registers several (RFC 6749 §3.1.2.3)"
                ));
            }
        },
    };
    // 2. Everything else redirects back with an error.
    let (state, state_err) = match params.get("state") {
        Ok(s) => (s, None),
        Err(e) => (None, Some(e)),
    };
    let back = Back {
        st,
        redirect_uri,
        state,
        iss: site.response_iss(),
        status,
    };
    if let Some(e) = state_err {
        return back.error(e);
    }
    match validate(st, params, client_id, redirect_uri, redirect_uri_given) {
        Err(e) => back.error(e),
        Ok(grant) if st.config.auto_approve => issue_code(&back, grant),
        Ok(grant) => {
            let now = st.now();
            let scope = grant.scope.clone();
            let pending = Pending {
                grant,
                state: state.map(str::to_owned),
                iss: site.response_iss().map(str::to_owned),
                expires_at: now + CONSENT_TTL,
            };
            let id = st.store().insert_pending(pending, now);
            html::consent(
                &st.mounts.path("/authorize/decision"),
                &id,
                client_id,
                &scope,
                redirect_uri,
            )
        }
    }
}

fn validate(
    st: &AppState,
    params: &Params,
    client_id: &str,
    redirect_uri: &str,
    redirect_uri_given: bool,
) -> Result<CodeGrant, OAuthError> {
    let Some(client) = st.config.client(client_id) else {
        return Err(OAuthError::invalid_request("unknown client"));
    };
    match params.get("response_type")? {
        None => return Err(OAuthError::invalid_request("missing response_type")),
        Some("code") => {}
        Some(other) => {
            return Err(OAuthError::new(
                ErrorCode::UnsupportedResponseType,
                format!("response_type `{other}` is not supported; use `code`"),
            ));
        }
    }
    if !client.allows(GrantType::AuthorizationCode) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            format!("client `{client_id}` may not use the authorization code grant"),
        ));
    }
    if let Some(mode) = params.get("response_mode")?
        && mode != "query"
    {
        return Err(OAuthError::invalid_request(format!(
            "response_mode `{mode}` is not supported; only `query`"
        )));
    }
    for unsupported in ["request", "request_uri"] {
        if params.get(unsupported)?.is_some() {
            return Err(OAuthError::invalid_request(format!(
                "the `{unsupported}` parameter is not supported"
            )));
        }
    }
    let scope = requested_scope(&st.config, params.get("scope")?)?;
    let resources = target::requested(&st.config, params)?;
    let challenge = params.get("code_challenge")?;
    let method = params.get("code_challenge_method")?;
    let code_challenge = match (challenge, method) {
        (None, Some(_)) => {
            return Err(OAuthError::invalid_request(
                "code_challenge_method without code_challenge",
            ));
        }
        (None, None) if client.pkce_required() => {
            return Err(OAuthError::invalid_request(
                "PKCE is required: send code_challenge with code_challenge_method=S256 (RFC 7636)",
            ));
        }
        (None, None) => None,
        (Some(_), None) => {
            return Err(OAuthError::invalid_request(
                "code_challenge_method is missing (it would default to `plain`, which is not supported): send S256",
            ));
        }
        (Some(_), Some(m)) if m != "S256" => {
            return Err(OAuthError::invalid_request(format!(
                "code_challenge_method `{m}` is not supported; only S256"
            )));
        }
        (Some(c), Some(_)) => {
            let well_formed = c.len() == 43
                && c.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !well_formed {
                return Err(OAuthError::invalid_request(
                    "code_challenge must be the 43-character base64url (no padding) SHA-256 of the verifier",
                ));
            }
            Some(c.to_owned())
        }
    };
    Ok(CodeGrant {
        client_id: client_id.to_owned(),
        redirect_uri: redirect_uri.to_owned(),
        redirect_uri_given,
        code_challenge,
        scope,
        nonce: params.get("nonce")?.map(str::to_owned),
        resources,
    })
}

fn issue_code(back: &Back<'_>, grant: CodeGrant) -> Response {
    let st = back.st;
    let now = st.now();
    let code = st.store().insert_code(grant, st.config.code_ttl, now);
    back.redirect(vec![("code", &code)])
}

/// `POST /authorize/decision`: the consent page's Approve / Deny.
pub(crate) async fn decision(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let params = match form_params(&headers, body).await {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    let (id, choice) = match (params.get("consent"), params.get("decision")) {
        (Ok(Some(id)), Ok(Some(d))) => (id, d),
        _ => return html::authorize_error("the consent form is incomplete"),
    };
    let now = st.now();
    let Some(pending) = st.store().take_pending(id, now) else {
        return html::authorize_error(
            "this authorization request expired or was already decided; start the login again",
        );
    };
    let back = Back {
        st: &st,
        redirect_uri: &pending.grant.redirect_uri,
        state: pending.state.as_deref(),
        iss: pending.iss.as_deref(),
        status: StatusCode::SEE_OTHER,
    };
    match choice {
        "approve" => issue_code(&back, pending.grant.clone()),
        "deny" => back.error(OAuthError::new(
            ErrorCode::AccessDenied,
            "the user denied the request",
        )),
        other => html::authorize_error(&format!("unknown decision `{other}`")),
    }
}
