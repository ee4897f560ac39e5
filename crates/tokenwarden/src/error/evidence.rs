//! What was seen of one exchange, kept with the error it caused: [`HttpEvidence`] (status,
//! headers, timing, a redacted snippet) and [`Delivery`], the one fact of whether the request
//! reached the server.

use super::OAuthErrorCode;
use std::time::{Duration, SystemTime};

/// What was seen of one HTTP exchange, kept with the error it caused. Holds no secret: the body
/// snippet is redacted before it is stored here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpEvidence {
    /// The request method and URL (without query secrets), e.g. `POST https://x/token`.
    pub request: Option<String>,
    /// The response status, when a response came.
    pub status: Option<u16>,
    /// `X-Request-Id`, `Request-Id` or `CF-Ray`, whichever the provider sent.
    pub request_id: Option<String>,
    /// `Retry-After`, resolved to a duration from receipt.
    pub retry_after: Option<Duration>,
    /// The `Date` header, parsed.
    pub date: Option<SystemTime>,
    /// `WWW-Authenticate`.
    pub www_authenticate: Option<String>,
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// The first bytes of the body, with secrets redacted.
    pub body_snippet: Option<String>,
    /// How long the exchange took.
    pub elapsed: Option<Duration>,
}

/// Whether a failed request reached the server. The HTTP layer's classifier
/// ([`crate::http::classify`]) decides it once for every failed exchange and puts it on the
/// [`Error`](super::Error) ([`Error::delivery`](super::Error::delivery)); every consumer reads
/// it from there (the retrier, the exchange's evidence, the session's failure handling, the event
/// log and `doctor`'s refusal analysis), none re-derives it.
///
/// For a refresh this is the fact that tells a *possibly lost rotation* from a *revocation*: a
/// provider that rotates refresh tokens may have issued a new one in a request whose answer
/// never arrived, and then refuses the old one ([`Delivery::may_have_been_processed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Delivery {
    /// The request never reached the server, which therefore did nothing: the host name did not
    /// resolve, nothing accepted the connection, the TCP connection or the TLS handshake failed
    /// or timed out, the URL could not be used; or tokenwarden held it back (an open circuit
    /// breaker, a `Retry-After` still running).
    NotSent,
    /// The request was sent, or may have been, and no answer came: the request timed out after
    /// the connection was up, or the connection broke before an answer's status arrived. The
    /// server may have processed it.
    MaybeProcessed,
    /// An HTTP answer came, whatever its status or body (from the server, or from something in
    /// front of it such as a proxy; a body cut short counts: its status arrived).
    Answered,
}

impl Delivery {
    /// Every delivery, in declaration order.
    pub const ALL: &'static [Delivery] = &[
        Delivery::NotSent,
        Delivery::MaybeProcessed,
        Delivery::Answered,
    ];

    /// The stable name, as the event log stores it (`not_sent`, `maybe_processed`, `answered`).
    pub fn as_str(self) -> &'static str {
        match self {
            Delivery::NotSent => "not_sent",
            Delivery::MaybeProcessed => "maybe_processed",
            Delivery::Answered => "answered",
        }
    }

    /// The delivery named `name`; `None` for a name this build does not know.
    pub fn parse(name: &str) -> Option<Delivery> {
        Delivery::ALL.iter().copied().find(|d| d.as_str() == name)
    }

    /// Whether the server may have carried out the request although no usable answer came
    /// back; for a refresh, whether the provider may have rotated the refresh token and the new
    /// one was lost. `status` and `oauth_error` describe the answer, when there was one (the
    /// OAuth `error` code of its body).
    ///
    /// - [`Delivery::NotSent`], no: the server never saw it.
    /// - [`Delivery::MaybeProcessed`], yes.
    /// - [`Delivery::Answered`] with an OAuth error response (RFC 6749 §5.2): no, the server
    ///   refused the request and issued nothing, unless the answer reports the server's own
    ///   failure: a status of 500 or more with `server_error`, `temporarily_unavailable` or a
    ///   code this crate does not know. (A 5xx whose code refuses the grant, such as a 500 with
    ///   `invalid_grant`, is a refusal; a 4xx, or GitHub's 200, with any code is one too.)
    /// - [`Delivery::Answered`] with anything else: yes, because such an answer does not say
    ///   that nothing happened: a 5xx without an OAuth error (a JSON or empty body, or a proxy's
    ///   HTML 502 — the provider behind it may have done the work and failed to answer in
    ///   time), a 429 without one, or a 200 whose body is not a token response (the provider
    ///   issued tokens that could not be read).
    pub fn may_have_been_processed(
        self,
        status: Option<u16>,
        oauth_error: Option<&OAuthErrorCode>,
    ) -> bool {
        match (self, oauth_error) {
            (Delivery::NotSent, _) => false,
            (Delivery::MaybeProcessed, _) => true,
            (Delivery::Answered, None) => true,
            (Delivery::Answered, Some(code)) => {
                status.is_some_and(|s| s >= 500)
                    && matches!(
                        code.meaning(),
                        OAuthErrorCode::ServerError
                            | OAuthErrorCode::TemporarilyUnavailable
                            | OAuthErrorCode::Other(_)
                    )
            }
        }
    }
}

impl std::fmt::Display for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for &d in Delivery::ALL {
            assert_eq!(Delivery::parse(d.as_str()), Some(d));
        }
        assert_eq!(Delivery::parse("sent"), None);
    }

    #[test]
    fn what_may_have_been_processed() {
        use Delivery::*;
        let code = OAuthErrorCode::parse;
        // (delivery, status, OAuth error in the body) -> may have been processed
        let table = [
            (NotSent, None, None, false),
            (MaybeProcessed, None, None, true),
            // Refusals.
            (Answered, Some(400), Some("invalid_grant"), false),
            (Answered, Some(401), Some("invalid_client"), false),
            (Answered, Some(200), Some("bad_refresh_token"), false),
            (Answered, Some(429), Some("temporarily_unavailable"), false),
            (Answered, Some(500), Some("invalid_grant"), false),
            // The server's own failure.
            (Answered, Some(500), Some("server_error"), true),
            (Answered, Some(503), Some("temporarily_unavailable"), true),
            (Answered, Some(500), Some("made_up"), true),
            // No OAuth error: a 5xx, a proxy's 502 page, a 429, an unreadable 200.
            (Answered, Some(503), None, true),
            (Answered, Some(502), None, true),
            (Answered, Some(429), None, true),
            (Answered, Some(200), None, true),
        ];
        for (d, status, oauth, want) in table {
            let oauth = oauth.map(code);
            assert_eq!(
                d.may_have_been_processed(status, oauth.as_ref()),
                want,
                "{d:?} {status:?} {oauth:?}"
            );
        }
    }
}
