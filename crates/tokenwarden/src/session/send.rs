//! [`Session::send`]: a call to the protected resource with the bearer token. A 401 marks that
//! exact token rejected, refreshes once and resends once; a second 401 is SessionRejected,
//! never a loop. Resource calls pass through the `--trace-http` tracer like OAuth exchanges.

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
        if first.status() != reqwest::StatusCode::UNAUTHORIZED {
            return Ok(first);
        }
        self.resource_unauthorized(&first, 1);
        self.invalidate(&token)?;
        let fresh = self.get_token(Duration::ZERO).await?;
        let second = send_one(build(&fresh), self.tracer.as_deref()).await?;
        if second.status() != reqwest::StatusCode::UNAUTHORIZED {
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
        .with_hint("the provider may bind sessions to one client instance, or the token lacks the audience or scope this API needs; check the profile's scopes and `resource`, then log in again"))
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
