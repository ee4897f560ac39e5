//! [`TokenClient`]: the high-level calls a program makes for one profile — exchange a code,
//! refresh, client credentials, the device grant, revocation — each one operation with its own
//! correlation id, run under the retry policy and circuit breaker, with endpoints from the
//! profile or discovery, and every failure classified with its evidence and a hint.
//!
//! Each call runs inside a `tracing` span named `oauth` (profile, call), within the operation
//! of its correlation id ([`crate::correlation`]): the caller's when it runs in one (a
//! session's `get_token`, a CLI command), else a new one; every log line names the id. With an
//! [`EventSink`], the operations no session oversees (code exchange, device grant, revocation)
//! are recorded in the event log. A refresh and a client-credentials grant return what their
//! exchanges looked like with their result ([`Exchanged`]), for the session that records them.

use super::builder::TokenClientBuilder;
use super::classify::{classify_missing, classify_response};
use super::exchange::{Exchanged, operation};
use super::jwks::{KeySet, KeySource};
use super::request::{self, Grant, TokenTypeHint};
use super::response::{self, DeviceAuthorization, ParsedBody};
use super::{HttpClient, HttpResponse};
use crate::config::{Endpoints, Profile, ResolvedHeader};
use crate::discovery::{Discovery, Metadata};
use crate::error::OAuthErrorCode;
use crate::error::{Error, Result};
use crate::events::{EventSink, Operation};
use crate::retry::{Gate, Retrier};
use crate::secret::{AuthorizationCode, ClientSecret, DeviceCode, PkceVerifier, RefreshToken};
use crate::token::TokenSet;
use std::sync::Arc;
use tracing::Instrument as _;
use url::Url;

/// The outcome of one device-grant poll (RFC 8628 §3.5).
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // returned once per poll, never stored in bulk
pub enum DevicePoll {
    /// Not approved yet: poll again after the interval.
    Pending,
    /// Polling too fast: add 5 seconds to the interval.
    SlowDown,
    /// Approved: the tokens.
    Granted(TokenSet),
}

/// What a revocation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocation {
    /// The provider accepted the revocation (RFC 7009 §2.2).
    Revoked,
    /// The provider has no revocation endpoint (GitHub, Microsoft).
    NotSupported,
}

/// Which endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Which {
    Authorization,
    Token,
    Device,
    Revocation,
}

impl Which {
    fn key(self) -> &'static str {
        match self {
            Which::Authorization => "authorization_endpoint",
            Which::Token => "token_endpoint",
            Which::Device => "device_authorization_endpoint",
            Which::Revocation => "revocation_endpoint",
        }
    }
}

pub(super) struct Inner {
    pub(super) profile: Profile,
    pub(super) http: HttpClient,
    pub(super) retrier: Retrier,
    /// The same retrier with one attempt (see [`TokenClient::single_attempt`]).
    pub(super) single_attempt: Retrier,
    pub(super) discovery: Arc<Discovery>,
    pub(super) secret: Option<ClientSecret>,
    /// The profile's `token_request_headers`, read when the client was built.
    pub(super) headers: Vec<ResolvedHeader>,
    pub(super) events: Option<Arc<dyn EventSink>>,
}

/// Talks to one profile's authorization server. Cheap to clone.
#[derive(Clone)]
pub struct TokenClient {
    pub(super) inner: Arc<Inner>,
    pub(super) single_attempt: bool,
}

impl std::fmt::Debug for TokenClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenClient")
            .field("profile", &self.inner.profile.name)
            .field("client_id", &self.inner.profile.client_id)
            .finish_non_exhaustive()
    }
}

impl TokenClient {
    /// A client for `profile` with the defaults (real time, in-memory breaker).
    pub fn new(profile: Profile) -> Result<Self> {
        Self::builder(profile).build()
    }

    /// A builder for `profile`.
    pub fn builder(profile: Profile) -> TokenClientBuilder {
        TokenClientBuilder::new(profile)
    }

    /// The same client, making one attempt per request: no retries, so no backoff and no
    /// `Retry-After` waited for (the circuit breaker still applies and learns from the answer).
    /// For a proactive refresh by a caller that still holds a valid token: it must not wait out
    /// a retry cycle, it has a token to use meanwhile.
    pub fn single_attempt(&self) -> Self {
        TokenClient {
            inner: self.inner.clone(),
            single_attempt: true,
        }
    }

    /// The retrier requests are run under: the policy's, or one attempt.
    pub(super) fn active_retrier(&self) -> &Retrier {
        if self.single_attempt {
            &self.inner.single_attempt
        } else {
            &self.inner.retrier
        }
    }

    /// The profile.
    pub fn profile(&self) -> &Profile {
        &self.inner.profile
    }

    /// The HTTP client.
    pub fn http(&self) -> &HttpClient {
        &self.inner.http
    }

    /// The retrier (its breaker's records are what `doctor` shows).
    pub fn retrier(&self) -> &Retrier {
        &self.inner.retrier
    }

    /// Runs `f` as one operation ([`crate::correlation::operation`]: the current one, else a
    /// new one), in a span naming the profile and the call. `f` gets the operation's correlation
    /// id; the error it returns carries it.
    async fn run<T, Fut>(&self, op: &'static str, f: impl FnOnce(String) -> Fut) -> Result<T>
    where
        Fut: std::future::Future<Output = Result<T>>,
    {
        crate::correlation::operation(|corr| f(corr).instrument(self.span(op))).await
    }

    /// The span of the call `op`, inside the `operation` span that names the correlation id.
    fn span(&self, op: &'static str) -> tracing::Span {
        tracing::info_span!("oauth", profile = %self.inner.profile.name, op)
    }

    /// The discovery document, when the profile has an issuer.
    pub async fn metadata(&self) -> Result<Option<Arc<Metadata>>> {
        let Some(issuer) = &self.inner.profile.issuer else {
            return Ok(None);
        };
        self.run("discovery", |corr| async move {
            self.discover(issuer, &corr).await.map(Some)
        })
        .await
    }

    /// The issuer's key set at `jwks_uri` (from the metadata), kept or fetched as `source`
    /// allows ([`Discovery::key_set`]); kept by the profile's issuer.
    pub async fn key_set(&self, jwks_uri: &Url, source: KeySource, corr: &str) -> Result<KeySet> {
        let issuer = self.inner.profile.issuer.as_deref();
        self.inner
            .discovery
            .key_set(&self.inner.http, issuer, jwks_uri, source, corr)
            .await
    }

    async fn discover(&self, issuer: &str, corr: &str) -> Result<Arc<Metadata>> {
        self.inner
            .discovery
            .metadata(&self.inner.http, self.active_retrier(), issuer, corr)
            .await
    }

    /// Every endpoint: the profile's, with missing ones discovered when there is an issuer.
    pub async fn endpoints(&self) -> Result<Endpoints> {
        let p = &self.inner.profile;
        let mut e = p.endpoints.clone();
        let complete = e.authorization.is_some()
            && e.token.is_some()
            && e.device_authorization.is_some()
            && e.revocation.is_some();
        if let (false, Some(issuer)) = (complete, self.discovery_issuer()) {
            let m = self
                .run("discovery", |corr| async move {
                    self.discover(issuer, &corr).await
                })
                .await?;
            e.authorization = e.authorization.or_else(|| m.authorization_endpoint.clone());
            e.token = e.token.or_else(|| m.token_endpoint.clone());
            e.device_authorization = e
                .device_authorization
                .or_else(|| m.device_authorization_endpoint.clone());
            e.revocation = e.revocation.or_else(|| m.revocation_endpoint.clone());
        }
        Ok(e)
    }

    /// The token endpoint, discovered when the profile does not give it. Resolving it sends
    /// nothing to the token endpoint itself: a refresh that fails here never reached it.
    pub async fn token_endpoint(&self) -> Result<Url> {
        self.run("discovery", |corr| {
            self.required_endpoint(Which::Token, corr)
        })
        .await
    }

    /// The authorization endpoint (for building the login URL).
    pub async fn authorization_endpoint(&self) -> Result<Url> {
        self.run("discovery", |corr| {
            self.required_endpoint(Which::Authorization, corr)
        })
        .await
    }

    /// The endpoint `which`, or the error that says the profile has none; errors carry `corr`.
    async fn required_endpoint(&self, which: Which, corr: String) -> Result<Url> {
        self.endpoint(which, &corr)
            .await
            .and_then(|found| found.ok_or_else(|| self.no_endpoint(which)))
            .map_err(|e| e.with_correlation_id(&corr))
    }

    /// The issuer to discover missing endpoints from ([`Profile::discovery_issuer`]).
    fn discovery_issuer(&self) -> Option<&str> {
        self.inner.profile.discovery_issuer()
    }

    async fn endpoint(&self, which: Which, corr: &str) -> Result<Option<Url>> {
        let p = &self.inner.profile;
        let configured = match which {
            Which::Authorization => &p.endpoints.authorization,
            Which::Token => &p.endpoints.token,
            Which::Device => &p.endpoints.device_authorization,
            Which::Revocation => &p.endpoints.revocation,
        };
        if let Some(u) = configured {
            return Ok(Some(u.clone()));
        }
        let Some(issuer) = self.discovery_issuer() else {
            return Ok(None);
        };
        let m = self.discover(issuer, corr).await?;
        let found = match which {
            Which::Authorization => &m.authorization_endpoint,
            Which::Token => &m.token_endpoint,
            Which::Device => &m.device_authorization_endpoint,
            Which::Revocation => &m.revocation_endpoint,
        };
        if let Some(u) = found {
            let loopback = crate::config::is_loopback_url(u);
            if u.scheme() != "https"
                && !(u.scheme() == "http" && (loopback || p.allow_insecure_http))
            {
                return Err(Error::config(format!(
                    "the discovery document of `{issuer}` gives {} = {u}, which is not https",
                    which.key()
                ))
                .with_hint("tokenwarden refuses to send credentials over plain http; set allow_insecure_http = true only for a test server")
                .with_correlation_id(corr));
            }
        }
        Ok(found.clone())
    }

    /// Drops the discovery document when `err`, the failure of a request to `url`, says it may
    /// be out of date ([`crate::discovery::suggests_stale`]) and `url` came from the document
    /// rather than from the profile.
    pub(super) fn forget_stale_discovery(&self, url: &Url, err: &Error) {
        let Some(issuer) = self.discovery_issuer() else {
            return;
        };
        let e = &self.inner.profile.endpoints;
        let configured = [
            &e.authorization,
            &e.token,
            &e.device_authorization,
            &e.revocation,
        ]
        .into_iter()
        .flatten()
        .any(|u| u == url);
        if configured || !crate::discovery::suggests_stale(err) {
            return;
        }
        tracing::info!(issuer, %url, "dropped the discovery document, which may be out of date");
        self.inner.discovery.invalidate(issuer);
    }

    fn no_endpoint(&self, which: Which) -> Error {
        let p = &self.inner.profile;
        let msg = match &p.issuer {
            Some(i) => format!(
                "issuer `{i}` advertises no {} for profile `{}`",
                which.key(),
                p.name
            ),
            None => format!(
                "profile `{}` has no {} (and no issuer to discover it from)",
                p.name,
                which.key()
            ),
        };
        Error::config(msg).with_hint(format!("set {} in the profile", which.key()))
    }

    /// One token request, with what its exchanges looked like. `login`: the request is a login
    /// of its own (a code exchange, a client-credentials login): it is recorded in the event log
    /// here, and the circuit breaker never refuses it ([`Gate::Login`]); refreshes and the
    /// grants a session makes are guarded by the breaker and recorded by the session, which
    /// knows how they ended. The tokens are the answer as the provider sent it.
    async fn token_call(&self, grant: Grant, login: bool) -> Exchanged<TokenSet> {
        let kind = grant.kind();
        let op = operation(kind);
        let name = op.map_or("token", Operation::as_str);
        let call = |corr: String| async move {
            let endpoint = match self.required_endpoint(Which::Token, corr.clone()).await {
                Ok(e) => e,
                Err(e) => return Exchanged::unsent(Err(e)),
            };
            let p = &self.inner.profile;
            let mut req = request::token_request(p, self.inner.secret.as_ref(), endpoint, grant);
            request::add_headers(&mut req, &self.inner.headers);
            let clock = self.inner.retrier.clock().clone();
            let gate = if login { Gate::Login } else { Gate::Guarded };
            let exchanged = self
                .call(&req, &corr, gate, |resp| {
                    let body = ParsedBody::parse(resp.content_type(), &resp.body);
                    token_from(req.kind, resp, &body, &p.scopes, clock.now())
                })
                .await;
            if let (true, Some(op)) = (login, op) {
                self.record(op, &exchanged.result, &exchanged.exchange, &corr);
            }
            if let Ok(tokens) = &exchanged.result {
                tracing::info!(
                    expires_in_s = tokens.remaining(clock.now()).map(|d| d.as_secs()),
                    refresh_token = tokens.refresh_token.is_some(),
                    "tokens received"
                );
            }
            exchanged
        };
        crate::correlation::joined(|corr| call(corr).instrument(self.span(name))).await
    }

    /// Exchanges an authorization code (RFC 6749 §4.1.3). The code and verifier are consumed:
    /// the exchange is sent once, and repeated only when it never reached the server.
    pub async fn exchange_code(
        &self,
        code: AuthorizationCode,
        redirect_uri: &str,
        verifier: Option<PkceVerifier>,
        state: Option<&str>,
    ) -> Result<TokenSet> {
        let grant = Grant::AuthorizationCode {
            code,
            redirect_uri: redirect_uri.to_string(),
            verifier,
            state: state.map(str::to_string),
        };
        self.token_call(grant, true).await.result
    }

    /// Refreshes (RFC 6749 §6). The tokens are the provider's answer: without a refresh token
    /// when the provider does not rotate, the presented one then staying valid
    /// ([`TokenSet::renewing`] folds the answer into the tokens it renews).
    pub async fn refresh(&self, refresh_token: &RefreshToken) -> Result<TokenSet> {
        self.refresh_exchanged(refresh_token).await.result
    }

    /// [`TokenClient::refresh`], with what its exchanges looked like (for a session, which
    /// records the refresh and needs to know whether a lost answer may have rotated the refresh
    /// token). Not recorded here. An ID token in the answer is verified before its claims are
    /// kept, or dropped with a warning ([`crate::flow::id_token::check_refreshed`]).
    pub async fn refresh_exchanged(&self, refresh_token: &RefreshToken) -> Exchanged<TokenSet> {
        let grant = Grant::RefreshToken {
            refresh_token: refresh_token.clone(),
        };
        crate::correlation::joined(|corr| async move {
            let mut done = self.token_call(grant, false).await;
            if let Ok(tokens) = done.result {
                let checked = crate::flow::id_token::check_refreshed(self, tokens, &corr).await;
                done.result = Ok(checked);
            }
            done
        })
        .await
    }

    /// The client credentials grant (RFC 6749 §4.4), for a session: not recorded here (the
    /// session records the grants it makes).
    pub async fn client_credentials(&self) -> Result<TokenSet> {
        self.client_credentials_exchanged().await.result
    }

    /// [`TokenClient::client_credentials`], with what its exchanges looked like (for a session,
    /// which records the grant).
    pub async fn client_credentials_exchanged(&self) -> Exchanged<TokenSet> {
        self.token_call(Grant::ClientCredentials, false).await
    }

    /// The client credentials grant made on its own, as `login --client-credentials` does: as
    /// [`TokenClient::client_credentials`], and recorded in the event log as
    /// `client_credentials` with its status, request id, correlation id, duration and attempts,
    /// as a code exchange is.
    pub async fn client_credentials_standalone(&self) -> Result<TokenSet> {
        self.token_call(Grant::ClientCredentials, true).await.result
    }

    /// Starts the device grant (RFC 8628 §3.1).
    pub async fn device_authorize(&self) -> Result<DeviceAuthorization> {
        self.run(Operation::DeviceAuthorization.as_str(), |corr| async move {
            let endpoint = self.required_endpoint(Which::Device, corr.clone()).await?;
            let done = self.device_authorize_at(endpoint, &corr).await;
            self.record(
                Operation::DeviceAuthorization,
                &done.result,
                &done.exchange,
                &corr,
            );
            done.result
        })
        .await
    }

    async fn device_authorize_at(
        &self,
        endpoint: Url,
        corr: &str,
    ) -> Exchanged<DeviceAuthorization> {
        let mut req = request::device_authorization_request(
            &self.inner.profile,
            self.inner.secret.as_ref(),
            endpoint,
        );
        request::add_headers(&mut req, &self.inner.headers);
        let clock = self.inner.retrier.clock().clone();
        self.call(&req, corr, Gate::Login, |resp| {
            let body = ParsedBody::parse(resp.content_type(), &resp.body);
            if resp.status >= 300 || body.oauth_error().is_some() {
                return Err(classify_response(
                    req.kind,
                    resp.status,
                    &body,
                    resp.evidence.clone(),
                ));
            }
            response::device_authorization(&body, clock.now()).map_err(|m| {
                classify_missing(req.kind, resp.status, &body, m, resp.evidence.clone())
            })
        })
        .await
    }

    /// Polls the token endpoint once for a device code (RFC 8628 §3.4). `authorization_pending`
    /// and `slow_down` are outcomes, not errors; `expired_token` and `access_denied` are
    /// LoginRequired errors.
    pub async fn poll_device_token(&self, device_code: &DeviceCode) -> Result<DevicePoll> {
        self.run(Operation::DevicePoll.as_str(), |corr| async move {
            let endpoint = self.required_endpoint(Which::Token, corr.clone()).await?;
            let p = &self.inner.profile;
            let grant = Grant::DeviceCode {
                device_code: device_code.clone(),
            };
            let mut req = request::token_request(p, self.inner.secret.as_ref(), endpoint, grant);
            request::add_headers(&mut req, &self.inner.headers);
            let clock = self.inner.retrier.clock().clone();
            let done = self
                .call(&req, &corr, Gate::Login, |resp| {
                    let body = ParsedBody::parse(resp.content_type(), &resp.body);
                    match body.oauth_error().map(|o| o.code.meaning()) {
                        Some(OAuthErrorCode::AuthorizationPending) => {
                            return Ok(DevicePoll::Pending);
                        }
                        Some(OAuthErrorCode::SlowDown) => return Ok(DevicePoll::SlowDown),
                        _ => {}
                    }
                    token_from(req.kind, resp, &body, &p.scopes, clock.now())
                        .map(DevicePoll::Granted)
                })
                .await;
            // Pending and slow-down answers are the wait, not an outcome: only the end is logged.
            if !matches!(done.result, Ok(DevicePoll::Pending | DevicePoll::SlowDown)) {
                self.record(Operation::DevicePoll, &done.result, &done.exchange, &corr);
            }
            done.result
        })
        .await
    }

    /// Revokes a token (RFC 7009). A profile whose provider has no revocation endpoint gets
    /// [`Revocation::NotSupported`].
    pub async fn revoke(&self, token: &str, hint: TokenTypeHint) -> Result<Revocation> {
        self.run(Operation::Revocation.as_str(), |corr| async move {
            let Some(endpoint) = self.endpoint(Which::Revocation, &corr).await? else {
                return Ok(Revocation::NotSupported);
            };
            let done = self.revoke_at(endpoint, token, hint, &corr).await;
            self.record(Operation::Revocation, &done.result, &done.exchange, &corr);
            done.result
        })
        .await
    }

    async fn revoke_at(
        &self,
        endpoint: Url,
        token: &str,
        hint: TokenTypeHint,
        corr: &str,
    ) -> Exchanged<Revocation> {
        let mut req = request::revocation_request(
            &self.inner.profile,
            self.inner.secret.as_ref(),
            endpoint,
            token,
            hint,
        );
        request::add_headers(&mut req, &self.inner.headers);
        self.call(&req, corr, Gate::Guarded, |resp| {
            let body = ParsedBody::parse(resp.content_type(), &resp.body);
            if (200..300).contains(&resp.status) && body.oauth_error().is_none() {
                Ok(Revocation::Revoked)
            } else {
                Err(classify_response(
                    req.kind,
                    resp.status,
                    &body,
                    resp.evidence.clone(),
                ))
            }
        })
        .await
    }
}

/// A token set from a response, or the classified error.
fn token_from(
    kind: super::RequestKind,
    resp: &HttpResponse,
    body: &ParsedBody,
    scopes: &[String],
    now: std::time::SystemTime,
) -> Result<TokenSet> {
    if !(200..300).contains(&resp.status) || body.oauth_error().is_some() {
        return Err(classify_response(
            kind,
            resp.status,
            body,
            resp.evidence.clone(),
        ));
    }
    response::token_set(body, scopes, now)
        .map_err(|m| classify_missing(kind, resp.status, body, m, resp.evidence.clone()))
}
