//! The authorization code grant with PKCE over a loopback redirect (RFC 6749 §4.1, RFC 7636,
//! RFC 8252): binds the listener, builds the authorization URL, waits for the one valid
//! callback, and exchanges the code at once, exactly once. With `openid`, a nonce is sent and
//! the ID token validated.

use super::id_token;
use super::loopback::{self, Expect};
use super::pkce::{Pkce, random_token};
use crate::error::{Cause, Error, Result};
use crate::http::TokenClient;
use crate::token::TokenSet;
use std::time::Duration;
use url::Url;

/// The redirect URI used when a profile names none.
pub const DEFAULT_REDIRECT_URI: &str = "http://127.0.0.1/callback";

/// How long a login waits for the callback by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// A login about to wait for its callback: show `url` to the person (and open a browser).
#[derive(Debug)]
pub struct Prepared {
    /// The authorization URL.
    pub url: String,
    /// The redirect URI sent (with the bound port).
    pub redirect_uri: String,
    listener: loopback::Listener,
    pkce: Pkce,
    state: String,
    nonce: Option<String>,
    jwks_uri: Option<Url>,
}

/// Binds the loopback listener and builds the authorization URL.
pub async fn prepare(client: &TokenClient) -> Result<Prepared> {
    let profile = client.profile();
    let metadata = client.metadata().await?;
    if let Some(m) = &metadata {
        let methods = &m.code_challenge_methods_supported;
        if !methods.is_empty() && !methods.iter().any(|x| x == "S256") {
            return Err(Error::config(format!(
                "the provider's metadata offers PKCE methods {methods:?} but not S256, which tokenwarden requires"
            ))
            .with_hint("PKCE with S256 protects the code if the redirect leaks; ask the provider to enable it, or use `login --device`"));
        }
    }
    let endpoint = client.authorization_endpoint().await?;
    let redirect = profile
        .redirect_uri
        .clone()
        .unwrap_or_else(|| DEFAULT_REDIRECT_URI.to_string());
    let state = random_token(32);
    let iss_required = metadata
        .as_ref()
        .is_some_and(|m| m.authorization_response_iss_parameter_supported);
    let listener = loopback::bind(
        &redirect,
        Expect {
            state: state.clone(),
            issuer: metadata.as_ref().map(|m| m.issuer.clone()),
            iss_required,
        },
    )
    .await?;
    let pkce = Pkce::generate();
    let nonce = profile
        .scopes
        .iter()
        .any(|s| s == "openid")
        .then(|| random_token(32));
    let mut url = endpoint;
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("response_type", "code")
            .append_pair("client_id", &profile.client_id)
            .append_pair("redirect_uri", listener.redirect_uri())
            .append_pair("state", &state)
            .append_pair("code_challenge", &pkce.challenge)
            .append_pair("code_challenge_method", pkce.method());
        if !profile.scopes.is_empty() {
            q.append_pair("scope", &profile.scopes.join(" "));
        }
        if let Some(n) = &nonce {
            q.append_pair("nonce", n);
        }
        for (k, v) in &profile.extra_params {
            q.append_pair(k, v);
        }
    }
    Ok(Prepared {
        url: url.to_string(),
        redirect_uri: listener.redirect_uri().to_string(),
        listener,
        pkce,
        state,
        nonce,
        jwks_uri: metadata.as_ref().and_then(|m| m.jwks_uri.clone()),
    })
}

impl Prepared {
    /// Waits (at most `timeout`) for the callback, then exchanges the code at once.
    pub async fn finish(self, client: &TokenClient, timeout: Duration) -> Result<TokenSet> {
        let Prepared {
            redirect_uri,
            listener,
            pkce,
            state,
            nonce,
            jwks_uri,
            ..
        } = self;
        let callback = match tokio::time::timeout(timeout, listener.wait()).await {
            Ok(cb) => cb?,
            Err(_) => {
                return Err(Error::login_required(format!(
                    "no login callback arrived within {}",
                    humantime::format_duration(timeout)
                ))
                .with_cause(Cause::NotLoggedIn)
                .with_hint("open the printed URL in a browser and approve; raise --timeout if you need longer"));
            }
        };
        let mut tokens = client
            .exchange_code(
                callback.code,
                &redirect_uri,
                Some(pkce.verifier),
                Some(&state),
            )
            .await?;
        if let (Some(id), Some(nonce)) = (&tokens.id_token, &nonce) {
            let profile = client.profile();
            let issuer = profile.issuer.clone().ok_or_else(|| {
                Error::config("the provider returned an ID token but the profile has no `issuer` to validate it against")
                    .with_hint("set `issuer` in the profile")
            })?;
            let jwks = jwks_uri.ok_or_else(|| {
                Error::protocol("the provider returned an ID token but publishes no `jwks_uri` to check its signature")
            })?;
            let claims = id_token::validate(
                client.http(),
                id.expose(),
                &id_token::Expected {
                    issuer: &issuer,
                    client_id: &profile.client_id,
                    nonce,
                    jwks_uri: &jwks,
                },
                &crate::http::new_correlation_id(),
            )
            .await?;
            tokens.subject = Some(claims.sub);
            tokens.issuer = Some(claims.iss);
        }
        Ok(tokens)
    }
}
