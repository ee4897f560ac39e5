//! [`Session::send`]: a call to the protected resource with the bearer token. A 401 marks that
//! exact token rejected, refreshes once and resends once; a second 401 is SessionRejected,
//! never a loop. With a provider that revokes the previous access token on refresh, a bare 403
//! (no `insufficient_scope`) that follows a refresh is a 401 too (see `revoking`). Resource
//! calls pass through the `--trace-http` tracer like OAuth exchanges.

use super::{Session, Token};
use crate::error::{Cause, Error, ErrorKind, HttpEvidence, Result};
use crate::events::{Operation, Outcome};
use crate::store::Event;
use std::time::Duration;

impl Session {
    /// Sends a request built by `build` with the bearer token. On a 401 the token is
    /// invalidated, refreshed once and the request built and sent again once; a second 401 is
    /// [`ErrorKind::SessionRejected`]. `build` is called once per attempt, so the body must be
    /// replayable (hold it as bytes).
    pub async fn send(
        &self,
        build: impl Fn(&Token) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response> {
        // One operation: every request, refresh, record and error shares one correlation id.
        crate::correlation::operation(|_| self.send_once_more_on_401(build)).await
    }

    async fn send_once_more_on_401(
        &self,
        build: impl Fn(&Token) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response> {
        let token = self.get_token(Duration::ZERO).await?;
        let first = send_one(build(&token), self.tracer.as_deref()).await?;
        let first = match self.verdict(first, &token).await? {
            Verdict::Answer(resp) => return Ok(resp),
            Verdict::TokenRefused(resp) => resp,
        };
        self.resource_unauthorized(&first, 1);
        self.invalidate(&token)?;
        let fresh = self.get_token(Duration::ZERO).await?;
        let second = send_one(build(&fresh), self.tracer.as_deref()).await?;
        if second.status() != reqwest::StatusCode::UNAUTHORIZED {
            // A 403 again is the API's answer: the caller reports it (`refusal_hint`).
            return Ok(second);
        }
        self.resource_unauthorized(&second, 2);
        let www = second
            .headers()
            .get(reqwest::header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        // Do not mark the fresh token: another refresh would only be rejected again.
        let what = if fresh.version == token.version {
            "the token it had just been given"
        } else {
            "a freshly refreshed token"
        };
        let hint = match self.refusal_hint(401, www.as_deref(), b"") {
            Some(h) if h.contains("refresh_revokes_previous_access_token") => h,
            _ => "the provider may bind sessions to one client instance, or the token lacks the audience or scope this API needs; check the profile's scopes and `resource_indicator`, then log in again".to_string(),
        };
        Err(Error::new(
            ErrorKind::SessionRejected,
            format!(
                "the API rejected {what} of profile `{}` (401 twice): the session is rejected by the server",
                self.profile
            ),
        )
        .with_cause(Cause::ResourceRejected)
        .with_http(HttpEvidence {
            request: Some(crate::http::resource::redact_url(second.url())),
            status: Some(401),
            request_id: request_id(&second),
            www_authenticate: www,
            ..HttpEvidence::default()
        })
        .with_hint(hint))
    }

    /// Whether `resp` refused `token` itself: a 401; or, for a provider that revokes the
    /// previous access token on refresh, a 403 that does not say `insufficient_scope` and
    /// follows a refresh of that token (its body is read to tell, and handed back intact).
    async fn verdict(&self, resp: reqwest::Response, token: &Token) -> Result<Verdict> {
        match resp.status().as_u16() {
            401 => Ok(Verdict::TokenRefused(resp)),
            403 if self.revokes_previous() => {
                let www = resp
                    .headers()
                    .get(reqwest::header::WWW_AUTHENTICATE)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let (resp, body) = read_back(resp).await?;
                let scope = super::revoking::says_insufficient_scope(www.as_deref(), &body);
                if !scope && self.refreshed_since(token.version)? {
                    tracing::info!(
                        profile = %self.profile,
                        "a 403 right after a refresh of a provider that revokes the previous token: refreshing once and retrying once"
                    );
                    Ok(Verdict::TokenRefused(resp))
                } else {
                    Ok(Verdict::Answer(resp))
                }
            }
            _ => Ok(Verdict::Answer(resp)),
        }
    }

    fn resource_unauthorized(&self, resp: &reqwest::Response, attempt: u32) {
        let mut e = Event::new(
            self.clock.now(),
            &self.profile,
            Operation::Resource,
            Outcome::Unauthorized,
        );
        e.status = Some(resp.status().as_u16());
        e.request_id = request_id(resp);
        e.correlation_id = crate::correlation::current();
        e.attempt = attempt;
        self.record(&e);
    }
}

/// What the first answer of [`Session::send`] was.
enum Verdict {
    /// The API's answer, for the caller.
    Answer(reqwest::Response),
    /// The token itself was refused: refresh once and resend once.
    TokenRefused(reqwest::Response),
}

/// Reads `resp`'s body and hands back an identical response with it, and the body.
async fn read_back(resp: reqwest::Response) -> Result<(reqwest::Response, Vec<u8>)> {
    let status = resp.status();
    let version = resp.version();
    let headers = resp.headers().clone();
    let bytes = resp.bytes().await.map_err(|e| {
        Error::new(
            ErrorKind::ProviderUnavailable,
            "the connection broke while the API's answer was read",
        )
        .with_cause(Cause::Connect)
        .with_source(e.without_url())
        .with_hint("try again")
    })?;
    let body = bytes.to_vec();
    let mut rebuilt = ::http::Response::new(bytes);
    *rebuilt.status_mut() = status;
    *rebuilt.version_mut() = version;
    *rebuilt.headers_mut() = headers;
    Ok((reqwest::Response::from(rebuilt), body))
}

fn request_id(resp: &reqwest::Response) -> Option<String> {
    ["x-request-id", "request-id", "cf-ray"]
        .iter()
        .find_map(|h| {
            resp.headers()
                .get(*h)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        })
}

async fn send_one(
    req: reqwest::RequestBuilder,
    tracer: Option<&dyn crate::http::Tracer>,
) -> Result<reqwest::Response> {
    crate::http::resource::send(req, tracer).await.map_err(|e| {
        let (cause, what) = if e.is_timeout() {
            (Cause::Timeout, "timed out")
        } else if e.is_connect() {
            (Cause::Connect, "could not connect")
        } else {
            (Cause::Connect, "failed")
        };
        Error::new(
            ErrorKind::ProviderUnavailable,
            format!("the request to the API {what}"),
        )
        .with_cause(cause)
        .with_source(e.without_url())
        .with_hint("check the URL and that the API is reachable from here")
    })
}
