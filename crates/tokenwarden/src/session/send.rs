//! Calls to the protected resource with the bearer token, written once for every
//! [`TokenSource`] (a session, the agent) and every caller (`request`, the proxy): a 401 marks
//! that exact token rejected, refreshes once and resends once; a second 401 is the session
//! rejected by the server, never a loop. A request whose body cannot be sent again (a stream
//! too large to keep) is not resent: its 401 goes back as it came. With a provider that revokes
//! the previous access token on refresh, a bare 403 (no `insufficient_scope`) that follows a
//! refresh of the token sent is a 401 too (see `revoking`). Resource calls pass through the
//! `--trace-http` tracer like OAuth exchanges.

use super::source::{Rejection, TokenSource};
use super::{Session, Token};
use crate::error::{Cause, Error, ErrorKind, HttpEvidence, Result};
use std::time::Duration;

/// How a request sent by [`send_retrying`] ended.
#[derive(Debug)]
pub struct Sent {
    /// The last response (the first one's when it was not a 401 or could not be resent).
    pub response: reqwest::Response,
    /// What the 401 handling did.
    pub rejected: Rejected,
}

/// What the 401 handling of [`send_retrying`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejected {
    /// The answer was not a 401 (at the first attempt or at the resend).
    No,
    /// A 401 for a request that could not be sent again: the token was marked rejected (the
    /// next call gets a fresh one) and the 401 is the answer.
    NotResent,
    /// A 401 again for the fresh token: the session is rejected by the server.
    /// `same_token` when the source had no other token to give (the second attempt used the
    /// one just rejected).
    Twice {
        /// The resend used the very token the first 401 rejected.
        same_token: bool,
    },
}

/// Why [`send_retrying`] got no answer to pass on.
#[derive(Debug)]
pub enum SendFailed {
    /// No token could be had (or marking one rejected failed).
    Token(Error),
    /// The API could not be reached (connect, timeout, a broken connection).
    Api(Error),
}

impl From<SendFailed> for Error {
    fn from(f: SendFailed) -> Error {
        match f {
            SendFailed::Token(e) | SendFailed::Api(e) => e,
        }
    }
}

/// Sends a request built by `build` with a token of `source`. On a 401 the token is marked
/// rejected; when the request is `replayable` (no body, or one held whole), a fresh token is
/// taken and the request built and sent once more; otherwise the 401 is the answer. A 401 for
/// that fresh token is the session rejected by the server, unless the token had been obtained
/// before the first 401 arrived (another caller's refresh, which the same early revocation may
/// have killed): that one is marked rejected too and the request sent a third time, so that
/// no request refreshes more than once itself. Every 401 is recorded in the event log (the
/// last as SessionRejected). Transport failures to the API are [`SendFailed::Api`].
pub async fn send_retrying(
    source: &dyn TokenSource,
    tracer: Option<&dyn crate::http::Tracer>,
    replayable: bool,
    mut build: impl FnMut(&Token) -> reqwest::RequestBuilder,
) -> std::result::Result<Sent, SendFailed> {
    let first = source
        .token(Duration::ZERO)
        .await
        .map_err(SendFailed::Token)?;
    let response = send_one(build(&first), tracer)
        .await
        .map_err(SendFailed::Api)?;
    let response = match refused(source, response, &first).await? {
        Verdict::Answer(response) => return Ok(answered(response)),
        Verdict::TokenRefused(response) => response,
    };
    let first_401_at = std::time::SystemTime::now();
    source.rejected(&rejection(&response, 1, false)).await;
    source.invalidate(&first).await.map_err(SendFailed::Token)?;
    if !replayable {
        return Ok(Sent {
            response,
            rejected: Rejected::NotResent,
        });
    }
    // No fresh token to try: the caller learns why rather than seeing a bare 401.
    let mut token = source
        .token(Duration::ZERO)
        .await
        .map_err(SendFailed::Token)?;
    let mut response = send_one(build(&token), tracer)
        .await
        .map_err(SendFailed::Api)?;
    let mut attempt = 2;
    if response.status() == reqwest::StatusCode::UNAUTHORIZED
        && obtained_before(&token, first_401_at)
    {
        // Another caller's refresh, from before the first 401: the same revocation may have
        // killed it. It is marked rejected too and the request sent a last time.
        source.rejected(&rejection(&response, 2, false)).await;
        source.invalidate(&token).await.map_err(SendFailed::Token)?;
        token = source
            .token(Duration::ZERO)
            .await
            .map_err(SendFailed::Token)?;
        response = send_one(build(&token), tracer)
            .await
            .map_err(SendFailed::Api)?;
        attempt = 3;
    }
    if response.status() != reqwest::StatusCode::UNAUTHORIZED {
        return Ok(answered(response));
    }
    // Do not mark the fresh token: another refresh would only be rejected again.
    source.rejected(&rejection(&response, attempt, true)).await;
    Ok(Sent {
        response,
        rejected: Rejected::Twice {
            same_token: token.version() == first.version(),
        },
    })
}

/// What the first answer of [`send_retrying`] was.
enum Verdict {
    /// The API's answer, for the caller.
    Answer(reqwest::Response),
    /// The token itself was refused: mark it, refresh once and resend once.
    TokenRefused(reqwest::Response),
}

/// Whether `resp` refused `token` itself: a 401; or, for a source whose provider revokes the
/// previous access token on refresh, a 403 that does not say `insufficient_scope` and follows a
/// refresh of that token (its body is read to tell, and handed back intact).
async fn refused(
    source: &dyn TokenSource,
    resp: reqwest::Response,
    token: &Token,
) -> std::result::Result<Verdict, SendFailed> {
    match resp.status().as_u16() {
        401 => Ok(Verdict::TokenRefused(resp)),
        403 if source.revokes_previous() => {
            let www = resp
                .headers()
                .get(reqwest::header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let (resp, body) = read_back(resp).await.map_err(SendFailed::Api)?;
            let scope = super::revoking::says_insufficient_scope(www.as_deref(), &body);
            if !scope
                && source
                    .refreshed_since(token.version())
                    .map_err(SendFailed::Token)?
            {
                tracing::info!(
                    profile = %source.profile(),
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

fn answered(response: reqwest::Response) -> Sent {
    Sent {
        response,
        rejected: Rejected::No,
    }
}

/// True when `token` was obtained (by whoever refreshed) before `at`, by more than the
/// store's millisecond rounding.
fn obtained_before(token: &Token, at: std::time::SystemTime) -> bool {
    let (Some(expires), Some(lifetime)) = (token.expires_at(), token.lifetime()) else {
        return false;
    };
    expires
        .checked_sub(lifetime)
        .and_then(|obtained| at.duration_since(obtained).ok())
        .is_some_and(|age| age > Duration::from_millis(5))
}

/// The event-log record of a 401.
fn rejection(resp: &reqwest::Response, attempt: u32, session_rejected: bool) -> Rejection {
    Rejection {
        status: resp.status().as_u16(),
        request_id: request_id(resp),
        attempt,
        session_rejected,
    }
}

/// Sends like [`send_retrying`] and turns a second 401 into the SessionRejected error (what a
/// command reports); `build` must be able to build the request again (hold the body as bytes).
pub async fn send_with(
    source: &dyn TokenSource,
    tracer: Option<&dyn crate::http::Tracer>,
    build: impl Fn(&Token) -> reqwest::RequestBuilder,
) -> Result<reqwest::Response> {
    let sent = send_retrying(source, tracer, true, build).await?;
    match sent.rejected {
        Rejected::Twice { same_token } => {
            let www = sent
                .response
                .headers()
                .get(reqwest::header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok());
            let e = session_rejected(source.profile(), &sent.response, same_token);
            // The one hint worth more than the general one: the key of a provider that revokes
            // the previous access token on refresh, when another process refreshed just before.
            Err(match source.refusal_hint(401, www, b"") {
                Some(h) if h.contains("refresh_revokes_previous_access_token") => e.with_hint(h),
                _ => e,
            })
        }
        Rejected::No | Rejected::NotResent => Ok(sent.response),
    }
}

/// The error of a request rejected twice: the session is rejected by the server.
pub fn session_rejected(profile: &str, second: &reqwest::Response, same_token: bool) -> Error {
    let www = second
        .headers()
        .get(reqwest::header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let what = if same_token {
        "the token it had just been given"
    } else {
        "a freshly refreshed token"
    };
    Error::new(
        ErrorKind::SessionRejected,
        format!(
            "the API rejected {what} of profile `{profile}` (401 twice): the session is rejected by the server"
        ),
    )
    .with_cause(Cause::ResourceRejected)
    .with_http(HttpEvidence {
        request: Some(crate::http::resource::redact_url(second.url())),
        status: Some(401),
        request_id: request_id(second),
        www_authenticate: www,
        ..HttpEvidence::default()
    })
    .with_hint("the provider may bind sessions to one client instance, or the token lacks the audience or scope this API needs; check the profile's scopes and `resource_indicator`, then log in again")
}

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
        crate::correlation::operation(|_| send_with(self, self.tracer.as_deref(), build)).await
    }
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
