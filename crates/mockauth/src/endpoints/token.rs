//! The token endpoint (RFC 6749 §3.2): the authorization code (with PKCE, RFC 7636), refresh
//! (rotation and reuse detection, RFC 9700 §4.14.2; optionally killing the previous access
//! tokens), client credentials and device (RFC 8628) grants. Responses are rendered in
//! `token_response.rs`; the User-Agent filter in `agent_filter.rs`; RFC 8707 in `target.rs`.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::extract::{Extension, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::config::{ClientConfig, CodeReuseRevocation, GrantType};
use crate::endpoints::token_response::{render_error, render_tokens};
use crate::endpoints::{agent_filter, client_request, device, requested_scope, target};
use crate::oauth::{ErrorCode, OAuthError, Params, accepts_json, read_body};
use crate::sites::Site;
use crate::state::AppState;
use crate::store::{FamilyId, RefreshState, Store, join_scope, parse_scope};

/// What a successful grant hands out.
#[derive(Debug)]
pub(crate) struct Issued {
    pub access_token: String,
    pub expires_in: u64,
    pub refresh_token: Option<String>,
    /// Seconds the refresh token has left, when one is issued.
    pub refresh_expires_in: Option<u64>,
    pub scope: Vec<String>,
    pub id_token: Option<String>,
}

/// `POST /token`.
pub(crate) async fn token(
    State(st): State<Arc<AppState>>,
    Extension(site): Extension<Arc<Site>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if let Some(refusal) = agent_filter::refusal(&st.config, &headers) {
        return refusal.into_response();
    }
    let bytes = match read_body(body).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let accept_json = accepts_json(&headers);
    match handle(&st, &site, &headers, &bytes) {
        Ok((client, issued)) => {
            {
                let mut stats = st.stats();
                stats.tokens_issued.access += 1;
                stats.tokens_issued.refresh += u64::from(issued.refresh_token.is_some());
                stats.tokens_issued.id += u64::from(issued.id_token.is_some());
            }
            render_tokens(client, accept_json, &issued)
        }
        Err((client, e)) => render_error(client, accept_json, e),
    }
}

type Failure<'c> = (Option<&'c ClientConfig>, OAuthError);

fn handle<'s>(
    st: &'s AppState,
    site: &Site,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(&'s ClientConfig, Issued), Failure<'s>> {
    let (params, client) = client_request(&st.config, headers, body)?;
    let fail = |e: OAuthError| (Some(client), e);
    let grant_name = params
        .get("grant_type")
        .map_err(fail)?
        .ok_or_else(|| fail(OAuthError::invalid_request("missing grant_type")))?;
    let grant = GrantType::from_wire(grant_name).ok_or_else(|| {
        fail(OAuthError::new(
            ErrorCode::UnsupportedGrantType,
            format!("grant_type `{grant_name}` is not supported"),
        ))
    })?;
    if !client.allows(grant) {
        return Err(fail(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            format!(
                "client `{}` may not use grant_type `{grant_name}`",
                client.id
            ),
        )));
    }
    let issued = match grant {
        GrantType::AuthorizationCode => code_grant(st, site, client, &params),
        GrantType::RefreshToken => refresh_grant(st, site, client, &params),
        GrantType::ClientCredentials => client_credentials_grant(st, client, &params),
        GrantType::DeviceCode => device::poll(st, site, client, &params),
    };
    issued.map(|i| (client, i)).map_err(fail)
}

/// Issues an access token (and a refresh token and an ID token when due) for a family, at
/// the site the request came to.
pub(crate) fn issue(
    st: &AppState,
    site: &Site,
    store: &mut Store,
    family: FamilyId,
    scope: Vec<String>,
    refresh_token: Option<String>,
) -> Result<Issued, OAuthError> {
    let now = st.now();
    let id_token = if scope.iter().any(|s| s == "openid") {
        let fam = store
            .families
            .get(&family)
            .ok_or_else(|| OAuthError::server_error("token family vanished"))?;
        Some(st.id_token(fam, now, site)?)
    } else {
        None
    };
    let refresh_expires_in = refresh_token
        .as_ref()
        .and_then(|rt| store.refresh.get(rt))
        .map(|r| {
            // Rounded up: a token issued a moment ago still has its whole lifetime.
            let left = r.expires_at.duration_since(now).unwrap_or(Duration::ZERO);
            left.as_secs() + u64::from(left.subsec_nanos() > 0)
        });
    let access_token = store.issue_access(family, scope.clone(), st.config.access_ttl, now);
    Ok(Issued {
        access_token,
        expires_in: st.config.access_ttl.as_secs(),
        refresh_token,
        refresh_expires_in,
        scope,
        id_token,
    })
}

fn pkce_s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn code_grant(
    st: &AppState,
    site: &Site,
    client: &ClientConfig,
    params: &Params,
) -> Result<Issued, OAuthError> {
    let code = params.require("code")?;
    let redirect_uri = params.get("redirect_uri")?;
    let verifier = params.get("code_verifier")?;
    let now = st.now();
    let mut store = st.store();
    let rec = store
        .codes
        .get(code)
        .cloned()
        .ok_or_else(|| OAuthError::invalid_grant("unknown authorization code"))?;
    if rec.grant.client_id != client.id {
        return Err(OAuthError::invalid_grant(
            "the authorization code was issued to another client",
        ));
    }
    if let Some(family) = rec.redeemed {
        let what = match st.config.code_reuse_revokes {
            CodeReuseRevocation::AccessTokens => {
                store.revoke_family_access(family, now);
                "the access tokens issued for it are now revoked"
            }
            _ => {
                store.revoke_family(family);
                "every token issued for it is now revoked"
            }
        };
        drop(store);
        st.stats().code_reuse_detected += 1;
        return Err(OAuthError::invalid_grant(format!(
            "the authorization code was already used; {what} (RFC 6749 §4.1.2)"
        )));
    }
    if now >= rec.expires_at {
        return Err(OAuthError::invalid_grant(format!(
            "the authorization code expired (codes live {}); exchange it at once",
            humantime::format_duration(st.config.code_ttl)
        )));
    }
    match (rec.grant.redirect_uri_given, redirect_uri) {
        (true, None) => {
            return Err(OAuthError::invalid_request(
                "missing redirect_uri: it was sent to /authorize, so /token must repeat it (RFC 6749 §4.1.3)",
            ));
        }
        (_, Some(r)) if r != rec.grant.redirect_uri => {
            return Err(OAuthError::invalid_grant(format!(
                "redirect_uri `{r}` differs from `{}` used in the authorization request",
                rec.grant.redirect_uri
            )));
        }
        _ => {}
    }
    match (&rec.grant.code_challenge, verifier) {
        (Some(_), None) => {
            return Err(OAuthError::invalid_grant(
                "missing code_verifier: the authorization request had a code_challenge (RFC 7636 §4.5)",
            ));
        }
        (Some(challenge), Some(v)) => {
            let well_formed = (43..=128).contains(&v.len())
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
            if !well_formed {
                return Err(OAuthError::invalid_grant(
                    "code_verifier must be 43-128 characters of [A-Za-z0-9-._~] (RFC 7636 §4.1)",
                ));
            }
            if pkce_s256(v) != *challenge {
                return Err(OAuthError::invalid_grant(
                    "code_verifier does not match the code_challenge (PKCE S256)",
                ));
            }
        }
        (None, Some(_)) => {
            return Err(OAuthError::invalid_grant(
                "code_verifier sent, but the authorization request had no code_challenge",
            ));
        }
        (None, None) => {}
    }
    target::within_grant(&st.config, params, &rec.grant.resources)?;
    let family = store.new_family_for(
        &client.id,
        rec.grant.scope.clone(),
        rec.grant.nonce.clone(),
        rec.grant.resources.clone(),
        rec.auth_time,
    );
    if let Some(c) = store.codes.get_mut(code) {
        c.redeemed = Some(family);
    }
    let refresh = client
        .allows(GrantType::RefreshToken)
        .then(|| store.issue_refresh(family, st.config.refresh_ttl, now));
    issue(st, site, &mut store, family, rec.grant.scope, refresh)
}

fn refresh_grant(
    st: &AppState,
    site: &Site,
    client: &ClientConfig,
    params: &Params,
) -> Result<Issued, OAuthError> {
    let presented = params.require("refresh_token")?;
    let scope_param = params.get("scope")?;
    let now = st.now();
    let mut store = st.store();
    let rec = store
        .refresh
        .get(presented)
        .cloned()
        .ok_or_else(|| OAuthError::invalid_grant("unknown refresh token"))?;
    if rec.client_id != client.id {
        return Err(OAuthError::invalid_grant(
            "the refresh token was issued to another client",
        ));
    }
    if rec.revoked || store.family_revoked(rec.family) {
        return Err(OAuthError::invalid_grant(
            "the refresh token was revoked; log in again",
        ));
    }
    if now >= rec.expires_at {
        return Err(OAuthError::invalid_grant(
            "the refresh token expired; log in again",
        ));
    }
    let (granted, resources) = store
        .families
        .get(&rec.family)
        .map(|f| (f.scope.clone(), f.resources.clone()))
        .unwrap_or_default();
    target::within_grant(&st.config, params, &resources)?;
    let scope = match scope_param {
        None => granted.clone(),
        Some(s) => {
            let asked = parse_scope(s);
            if let Some(extra) = asked.iter().find(|a| !granted.contains(a)) {
                return Err(OAuthError::new(
                    ErrorCode::InvalidScope,
                    format!(
                        "scope `{extra}` was not granted originally (granted: `{}`); a refresh may only narrow the scope (RFC 6749 §6)",
                        join_scope(&granted)
                    ),
                ));
            }
            asked
        }
    };
    match rec.state {
        RefreshState::Active => {
            let successor = if st.config.rotate_refresh_tokens {
                let next = store.issue_refresh(rec.family, st.config.refresh_ttl, now);
                if let Some(old) = store.refresh.get_mut(presented) {
                    old.state = RefreshState::Rotated {
                        successor: next.clone(),
                        at: now,
                    };
                }
                Some(next)
            } else {
                None
            };
            retire_previous_access(st, &mut store, rec.family, now);
            issue(st, site, &mut store, rec.family, scope, successor)
        }
        RefreshState::Rotated { successor, at } => {
            let elapsed = now.duration_since(at).unwrap_or(Duration::ZERO);
            if elapsed < st.config.reuse_grace {
                let head = chain_head(&store, successor);
                if store.refresh_live(&head, now).is_none() {
                    return Err(OAuthError::invalid_grant(
                        "this refresh token was rotated and its successor is no longer valid",
                    ));
                }
                retire_previous_access(st, &mut store, rec.family, now);
                return issue(st, site, &mut store, rec.family, scope, Some(head));
            }
            store.revoke_family(rec.family);
            drop(store);
            st.stats().refresh_reuse_detected += 1;
            Err(OAuthError::invalid_grant(
                "refresh token reuse: this token was already rotated, so the whole session (every token from this login) is now revoked (RFC 9700 §4.14.2)",
            ))
        }
    }
}

/// With `revoke_previous_on_refresh`, a refresh kills the access tokens its grant issued before.
fn retire_previous_access(st: &AppState, store: &mut Store, family: FamilyId, now: SystemTime) {
    if st.config.revoke_previous_on_refresh {
        store.revoke_family_access(family, now);
    }
}

/// The newest token of a rotation chain.
fn chain_head(store: &Store, mut token: String) -> String {
    for _ in 0..64 {
        match store.refresh.get(&token).map(|r| &r.state) {
            Some(RefreshState::Rotated { successor, .. }) => token = successor.clone(),
            _ => break,
        }
    }
    token
}

fn client_credentials_grant(
    st: &AppState,
    client: &ClientConfig,
    params: &Params,
) -> Result<Issued, OAuthError> {
    let scope = requested_scope(&st.config, params.get("scope")?)?;
    let now = st.now();
    let mut store = st.store();
    let family = store.new_family(&client.id, scope.clone(), None, now);
    // No ID token and no refresh token for a client acting for itself (RFC 6749 §4.4.3).
    let access_token = store.issue_access(family, scope.clone(), st.config.access_ttl, now);
    Ok(Issued {
        access_token,
        expires_in: st.config.access_ttl.as_secs(),
        refresh_token: None,
        refresh_expires_in: None,
        scope,
        id_token: None,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn s256_matches_rfc7636_appendix_b() {
        assert_eq!(
            super::pkce_s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
