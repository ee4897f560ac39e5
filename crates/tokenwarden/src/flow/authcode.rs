//! The authorization code grant with PKCE over a loopback redirect (RFC 6749 §4.1, RFC 7636,
//! RFC 8252): binds the listener, builds the authorization URL, waits for the one valid
//! callback, and exchanges the code at once, exactly once. With `openid`, a nonce is sent and
//! the ID token validated.

use super::id_token;
use super::loopback::{self, Expect};
use super::pkce::{Pkce, random_token};
use crate::error::{Cause, Error, Result};
use crate::http::TokenClient;
use crate::http::issuer::IssuerRule;
use crate::secret::AuthorizationCode;
use crate::token::TokenSet;
use std::time::Duration;
use url::Url;

/// The redirect URI used when a profile names none.
pub const DEFAULT_REDIRECT_URI: &str = "http://127.0.0.1/callback";

/// How long a login waits for the callback by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// A login about to wait for its callback: show `url` to the person (and open a browser).
/// Its `Debug` shows what the browser sees (the URL) and never the PKCE verifier.
pub struct Prepared {
    /// The authorization URL.
    pub url: String,
    /// The redirect URI sent (with the bound port).
    pub redirect_uri: String,
    listener: loopback::Listener,
    request: Request,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("url", &self.url)
            .field("redirect_uri", &self.redirect_uri)
            .field("openid", &self.request.oidc.is_some())
            .finish_non_exhaustive()
    }
}

/// What every authorization-code login readies before the person is sent to the provider,
/// whether the code comes back to a loopback listener ([`prepare`]) or is pasted
/// ([`super::paste`]): the PKCE pair, the `state`, the OIDC nonce, and what the callback and
/// the ID token are checked against. Single use: [`Request::exchange`] consumes it.
pub(crate) struct Request {
    endpoint: Url,
    pkce: Pkce,
    state: String,
    /// With `openid`: the nonce sent, and where and how to check the ID token.
    oidc: Option<Oidc>,
    /// The issuer, for the RFC 9207 `iss` check of the callback.
    issuer: Option<IssuerRule>,
    /// The metadata says the callback always carries `iss`.
    iss_required: bool,
}

/// What an ID token is checked against.
struct Oidc {
    nonce: String,
    issuer: IssuerRule,
    jwks_uri: Url,
}

/// Checks what can be checked before the person is sent to the browser, and readies the
/// request: metadata that does not offer PKCE `S256` stops the login, and so does an `openid`
/// login whose ID token could not be validated (no issuer, or no `jwks_uri`), so that a code is
/// never exchanged only to throw the tokens away.
pub(crate) async fn begin(client: &TokenClient) -> Result<Request> {
    let profile = client.profile();
    let metadata = client.metadata().await?;
    if let Some(m) = &metadata {
        let methods = &m.code_challenge_methods_supported;
        if !methods.is_empty() && !methods.iter().any(|x| x == "S256") {
            return Err(Error::config(format!(
                "the provider's metadata ({}) offers PKCE methods {} but not S256, which tokenwarden requires",
                m.source,
                methods.join(", ")
            ))
            .with_hint("PKCE with S256 protects the code if the redirect leaks; ask the provider to enable S256, or use `login --device`"));
        }
    }
    let wants_openid = profile.scopes.iter().any(|s| s == "openid");
    let oidc = if wants_openid {
        let Some(m) = &metadata else {
            return Err(Error::config(format!(
                "profile `{}` asks for the `openid` scope but has no `issuer`, so the ID token could not be validated",
                profile.name
            ))
            .with_hint("set `issuer` in the profile (its discovery document names the keys), or remove `openid` from `scopes`"));
        };
        let Some(jwks_uri) = m.jwks_uri.clone() else {
            return Err(Error::config(format!(
                "profile `{}` asks for the `openid` scope but the issuer's metadata ({}) has no `jwks_uri`, so the ID token could not be validated",
                profile.name, m.source
            ))
            .with_hint("remove `openid` from the profile's `scopes`, or check that `issuer` is the provider's OpenID Connect issuer"));
        };
        Some(Oidc {
            nonce: random_token(32),
            issuer: m.issuer_rule.clone(),
            jwks_uri,
        })
    } else {
        None
    };
    Ok(Request {
        endpoint: client.authorization_endpoint().await?,
        pkce: Pkce::generate(),
        state: random_token(32),
        oidc,
        issuer: metadata.as_ref().map(|m| m.issuer_rule.clone()),
        iss_required: metadata
            .as_ref()
            .is_some_and(|m| m.authorization_response_iss_parameter_supported),
    })
}

impl Request {
    /// What the callback is checked against.
    pub(crate) fn expect(&self) -> Expect {
        Expect {
            state: self.state.clone(),
            issuer: self.issuer.clone(),
            iss_required: self.iss_required,
        }
    }

    /// The authorization URL (RFC 6749 §4.1.1) with `redirect_uri`.
    pub(crate) fn url(&self, client: &TokenClient, redirect_uri: &str) -> String {
        let profile = client.profile();
        let mut url = self.endpoint.clone();
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", &profile.client_id)
                .append_pair("redirect_uri", redirect_uri)
                .append_pair("state", &self.state)
                .append_pair("code_challenge", &self.pkce.challenge)
                .append_pair("code_challenge_method", self.pkce.method());
            if !profile.scopes.is_empty() {
                q.append_pair("scope", &profile.scopes.join(" "));
            }
            if let Some(o) = &self.oidc {
                q.append_pair("nonce", &o.nonce);
            }
            // RFC 8707 §2: the indicators go in the authorization request too, so that a
            // server that binds the grant to its resources sees them before the code exchange.
            for r in &profile.resource_indicators {
                q.append_pair("resource", r);
            }
            for (k, v) in profile
                .authorization_params
                .iter()
                .chain(&profile.extra_params)
            {
                q.append_pair(k, v);
            }
        }
        url.to_string()
    }

    /// Exchanges `code` at once, exactly once, with the PKCE verifier and `state`; with
    /// `openid`, validates the ID token and keeps its `sub` and `iss`.
    pub(crate) async fn exchange(
        self,
        client: &TokenClient,
        code: AuthorizationCode,
        redirect_uri: &str,
        corr: &str,
    ) -> Result<TokenSet> {
        let Request {
            pkce, state, oidc, ..
        } = self;
        let mut tokens = client
            .exchange_code(code, redirect_uri, Some(pkce.verifier), Some(&state))
            .await?;
        let Some(oidc) = oidc else {
            return Ok(tokens);
        };
        let Some(id) = &tokens.id_token else {
            // OpenID Connect Core §3.1.3.3: a successful token response to an `openid`
            // request contains an ID token. Without it the login's identity is unproven.
            return Err(Error::protocol(
                "the provider answered an `openid` login without an `id_token` (OpenID Connect Core §3.1.3.3): the tokens were not stored",
            )
            .with_hint("check that the client is registered for OpenID Connect; or drop the `openid` scope from the profile if the provider is plain OAuth 2.0"));
        };
        let claims = id_token::validate(
            client,
            id.expose(),
            &id_token::Expected {
                issuer: &oidc.issuer,
                client_id: &client.profile().client_id,
                nonce: Some(&oidc.nonce),
                jwks_uri: &oidc.jwks_uri,
            },
            corr,
        )
        .await?;
        tokens.subject = Some(claims.sub);
        tokens.issuer = Some(claims.iss);
        Ok(tokens)
    }
}

/// Binds the loopback listener and builds the authorization URL (see [`begin`] for what is
/// checked first).
pub async fn prepare(client: &TokenClient) -> Result<Prepared> {
    let request = begin(client).await?;
    let redirect = client
        .profile()
        .redirect_uri
        .clone()
        .unwrap_or_else(|| DEFAULT_REDIRECT_URI.to_string());
    let listener = loopback::bind(&redirect, request.expect()).await?;
    Ok(Prepared {
        url: request.url(client, listener.redirect_uri()),
        redirect_uri: listener.redirect_uri().to_string(),
        listener,
        request,
    })
}

impl Prepared {
    /// Waits (at most `timeout`) for the callback, then exchanges the code at once, exactly
    /// once; with `openid`, validates the ID token and keeps its `sub` and `iss`.
    ///
    /// Dropping the future (Ctrl-C) closes the listener; nothing is exchanged. The wait, the
    /// exchange and the ID token's validation are one operation (one correlation id).
    pub async fn finish(self, client: &TokenClient, timeout: Duration) -> Result<TokenSet> {
        crate::correlation::operation(|corr| self.finish_in(client, timeout, corr)).await
    }

    async fn finish_in(
        self,
        client: &TokenClient,
        timeout: Duration,
        corr: String,
    ) -> Result<TokenSet> {
        let Prepared {
            redirect_uri,
            listener,
            request,
            ..
        } = self;
        let callback = match listener.wait(timeout).await {
            Some(cb) => cb?,
            None => {
                return Err(Error::login_required(format!(
                    "no login callback arrived within {}",
                    crate::human::duration(timeout)
                ))
                .with_cause(Cause::NotLoggedIn)
                .with_hint("open the printed URL in a browser and approve; raise --timeout if you need longer"));
            }
        };
        request
            .exchange(client, callback.code, &redirect_uri, &corr)
            .await
    }
}
