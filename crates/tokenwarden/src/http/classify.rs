//! Classification: what a failed exchange means, as DESIGN.md's error taxonomy says.
//!
//! The body's OAuth `error` (RFC 6749 §5.2) is read before the HTTP status: a 500 whose body says
//! `invalid_grant` is `LoginRequired`, not transient. Without an OAuth error, the status and the
//! kind of body decide: 429 and 5xx are transient; an HTML or text page with a 4xx/5xx status
//! means something other than the provider answered (a proxy or CDN) and is retried as
//! transient; malformed or incomplete success bodies are Protocol errors. Transport failures are
//! named by cause (DNS, connect, TLS, timeout). Every error gets a hint that says what to do.
//!
//! Every error made here says whether its request reached the server ([`Delivery`]), decided
//! here once: an answer is [`Delivery::Answered`]; a DNS, connect or TLS failure (or a connect
//! timeout) is [`Delivery::NotSent`]; a timeout or a broken connection once the connection was
//! up is [`Delivery::MaybeProcessed`].
//!
//! Codes are matched as [`OAuthErrorCode`] variants (their [`OAuthErrorCode::meaning`], so that
//! a provider's own names count as the standard ones); message text is never inspected.

use super::response::{InvalidField, MissingField, ParsedBody};
use super::{HttpRequest, HttpSettings, RequestKind};
use crate::error::{Cause, Delivery, Error, ErrorKind, HttpEvidence, OAuthError, OAuthErrorCode};

const HINT_CODE: &str = "the code expired (codes live ~60 s), was already used, or redirect_uri/PKCE verifier differ from the authorization request; run `tokenwarden login` again";
const HINT_CODE_CONSUMED: &str = "the provider may have used up the authorization code before failing, and a code works only once: run `tokenwarden login` again (if it keeps failing, the provider is having trouble)";
const HINT_CLIENT: &str = "the provider refused the client: check client_id, the client secret (the variable named by client_secret_env), and client_auth (client_secret_basic vs client_secret_post)";
const HINT_REFRESH: &str = "the refresh token was revoked, expired, or already used by another session (rotation); run `tokenwarden login`";
const HINT_OUTAGE: &str = "the provider is failing; this is usually temporary: try again later, and quote the request id if you contact the provider";
const HINT_RATE: &str = "the provider is rate limiting: wait until the time shown (Retry-After), and avoid many programs refreshing one credential";
const HINT_PROXY: &str = "something other than the OAuth server answered (an HTML page from a proxy, CDN or captive portal): check HTTPS_PROXY / NO_PROXY and that the endpoint URL is right";
const HINT_HTML_5XX: &str = "the provider failed, or a proxy or load balancer in front of it did; this is usually temporary: try again later (if it persists, check HTTPS_PROXY / NO_PROXY and that the endpoint URL is right)";
/// The fix for an `invalid_target` answer (RFC 8707), at the token endpoint or in a callback.
pub(crate) const HINT_TARGET: &str = "the provider refused the RFC 8707 resource indicator: set `resource_indicator` in the profile to the API identifier the provider knows (the one registered for the API), or remove it if the provider does not use indicators; `tokenwarden doctor` checks it";
const HINT_MALFORMED: &str = "the endpoint did not answer like an OAuth server: check the endpoint URL and token_request_format (form or json)";

fn status_text(status: u16) -> String {
    match status {
        429 => "429 (too many requests)".into(),
        s => s.to_string(),
    }
}

fn describe_body(body: &ParsedBody) -> &'static str {
    match body {
        ParsedBody::Empty => "an empty body",
        ParsedBody::Json(_) => "JSON without an OAuth error",
        ParsedBody::Form(_) => "a form body without an OAuth error",
        ParsedBody::Html => "an HTML page instead of an OAuth response",
        ParsedBody::MalformedJson => "malformed JSON",
        ParsedBody::Text => "plain text instead of an OAuth response",
    }
}

/// Classifies a response that is not a usable success: any status with an OAuth `error` in its
/// body, or a status ≥ 300. The request was [`Delivery::Answered`].
pub fn classify_response(
    kind: RequestKind,
    status: u16,
    body: &ParsedBody,
    evidence: HttpEvidence,
) -> Error {
    let endpoint = kind.endpoint_name();
    if let Some(oauth) = body.oauth_error() {
        return answered(oauth_error(kind, status, oauth), evidence);
    }
    let code_exchange = kind == RequestKind::CodeExchange;
    let what = describe_body(body);
    let msg = format!("{endpoint} answered {} with {what}", status_text(status));
    let not_oauth = matches!(body, ParsedBody::Html | ParsedBody::Text);
    let err = match status {
        429 => Error::new(ErrorKind::ProviderUnavailable, msg)
            .with_cause(Cause::RateLimited)
            .with_hint(HINT_RATE),
        // A framework's own error page, or a proxy's: which one cannot be told from here.
        500..=599 if body == &ParsedBody::Html => {
            let titled = match html_title(&evidence) {
                Some(t) => format!(" (\"{t}\")"),
                None => String::new(),
            };
            let msg = format!(
                "{endpoint} answered {status} with an HTML error page{titled}: an HTML error page from the provider or a proxy in front of it"
            );
            let e = Error::new(ErrorKind::ProviderUnavailable, msg).with_cause(Cause::ProxyAnswered);
            if code_exchange {
                e.with_hint(format!("{HINT_HTML_5XX}; {HINT_CODE_CONSUMED}"))
            } else {
                e.with_hint(HINT_HTML_5XX)
            }
        }
        400..=599 if not_oauth => {
            let e = Error::new(ErrorKind::ProviderUnavailable, msg).with_cause(Cause::ProxyAnswered);
            if code_exchange && status >= 500 {
                e.with_hint(format!("{HINT_PROXY}; {HINT_CODE_CONSUMED}"))
            } else {
                e.with_hint(HINT_PROXY)
            }
        }
        500..=599 if code_exchange => Error::new(ErrorKind::ProviderUnavailable, msg)
            .with_cause(Cause::CodeMaybeConsumed)
            .with_hint(HINT_CODE_CONSUMED),
        500..=599 => Error::new(ErrorKind::ProviderUnavailable, msg)
            .with_cause(Cause::ProviderOutage)
            .with_hint(HINT_OUTAGE),
        401 => Error::config(msg)
            .with_cause(Cause::BadClientCredentials)
            .with_hint(HINT_CLIENT),
        404 | 405 => Error::config(msg).with_hint(format!(
            "{endpoint} URL looks wrong (status {status}): check it in the profile, or the issuer used for discovery"
        )),
        300..=399 => Error::config(format!("{endpoint} answered with a redirect ({status})"))
            .with_hint("use the final URL in the profile (an http URL redirected to https?); tokenwarden does not follow redirects with credentials"),
        _ if body == &ParsedBody::Html => Error::protocol(msg)
            .with_cause(Cause::ProxyAnswered)
            .with_hint(HINT_PROXY),
        _ => Error::protocol(msg)
            .with_cause(Cause::MalformedResponse)
            .with_hint(HINT_MALFORMED),
    };
    answered(err, evidence)
}

/// The `<title>` of an HTML page, from the (redacted, capped) body snippet of `evidence`:
/// whitespace collapsed, at most 80 characters.
pub fn html_title(evidence: &HttpEvidence) -> Option<String> {
    let snippet = evidence.body_snippet.as_deref()?;
    let lower = snippet.to_ascii_lowercase();
    let open = lower.find("<title")?;
    let start = open + lower[open..].find('>')? + 1;
    let end = start + lower[start..].find("</title")?;
    let title: String = snippet
        .get(start..end)?
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let title: String = title.chars().take(80).collect();
    (!title.is_empty()).then_some(title)
}

/// `err` for an exchange that got an answer: its evidence, and [`Delivery::Answered`].
fn answered(err: Error, evidence: HttpEvidence) -> Error {
    err.with_http(evidence).with_delivery(Delivery::Answered)
}

/// Classifies a success status whose body is not what was expected. The request was
/// [`Delivery::Answered`].
pub fn classify_missing(
    kind: RequestKind,
    status: u16,
    body: &ParsedBody,
    missing: MissingField,
    evidence: HttpEvidence,
) -> Error {
    let endpoint = kind.endpoint_name();
    let snippet = evidence.body_snippet.clone().unwrap_or_default();
    let err = match (missing, body) {
        (_, ParsedBody::Html) => Error::protocol(format!(
            "{endpoint} answered {status} with an HTML page instead of an OAuth response"
        ))
        .with_cause(Cause::ProxyAnswered)
        .with_hint(HINT_PROXY),
        (MissingField::NotStructured, _) => Error::protocol(format!(
            "{endpoint} answered {status} with {}: `{snippet}`",
            describe_body(body)
        ))
        .with_cause(Cause::MalformedResponse)
        .with_hint(HINT_MALFORMED),
        (MissingField::Field(f), _) => Error::protocol(format!(
            "{endpoint} answered {status} without `{f}`: `{snippet}`"
        ))
        .with_cause(Cause::MalformedResponse)
        .with_hint(HINT_MALFORMED),
        (MissingField::Invalid(invalid), _) => Error::protocol(format!(
            "{endpoint} answered {status} with an unusable token response: `{}` {}: `{snippet}`",
            invalid.field(),
            invalid.problem()
        ))
        .with_cause(Cause::MalformedResponse)
        .with_hint(invalid_hint(&invalid)),
    };
    answered(err, evidence)
}

/// What to do about a token response with an unacceptable field.
fn invalid_hint(invalid: &InvalidField) -> &'static str {
    match invalid {
        InvalidField::DpopNotSupported => {
            "the provider issues DPoP-bound tokens (RFC 9449), which tokenwarden cannot use yet: register the client for Bearer tokens at the provider (DPoP off), or use a client that supports DPoP"
        }
        InvalidField::UnsupportedTokenType(_) => {
            "tokenwarden sends tokens only as `Authorization: Bearer`: check that the endpoint is the provider's OAuth 2.0 token endpoint and that the client is registered for Bearer tokens; nothing stored was changed"
        }
        _ => {
            "the provider sent a token response that is not valid OAuth (RFC 6749 §5.1); nothing stored was changed, and the tokens already stored are still used: try again later, and report it to the provider with the request id if it persists"
        }
    }
}

fn oauth_error(kind: RequestKind, status: u16, oauth: OAuthError) -> Error {
    use ErrorKind::{Config, LoginRequired, ProviderUnavailable};
    use OAuthErrorCode as C;
    let endpoint = kind.endpoint_name();
    let mut msg = format!(
        "{endpoint} answered {} ({})",
        status_text(status),
        oauth.code
    );
    if let Some(d) = oauth.description.as_deref().filter(|d| !d.is_empty()) {
        msg.push_str(&format!(": {d}"));
    }
    let code_exchange = kind == RequestKind::CodeExchange;
    // A provider's own names for standard conditions (GitHub's) count as the standard ones.
    let code = oauth.code.meaning();
    let (ekind, cause, hint): (ErrorKind, Option<Cause>, String) = match (&code, kind) {
        (C::InvalidClient, _) => (Config, Some(Cause::BadClientCredentials), HINT_CLIENT.into()),
        (C::InvalidScope, _) => (
            Config,
            None,
            "the provider refused the scopes requested: check `scopes` in the profile against what the app may ask for".into(),
        ),
        (C::UnauthorizedClient, _) => (
            Config,
            None,
            "this client may not use this grant: enable the grant type in the provider's app settings, or change `grant` in the profile".into(),
        ),
        (C::UnsupportedGrantType, _) => (
            Config,
            None,
            "the provider does not support this grant type at this endpoint: check `grant` and the token endpoint".into(),
        ),
        (C::InvalidRequest, RequestKind::CodeExchange) => (
            Config,
            None,
            "the provider found the request malformed: check redirect_uri (exactly as registered), token_request_format (form or json) and client_auth".into(),
        ),
        (C::InvalidRequest, _) => (
            Config,
            None,
            "the provider found the request malformed: check token_request_format (form or json), client_auth and extra_params".into(),
        ),
        (C::InvalidGrant, RequestKind::CodeExchange) => {
            (LoginRequired, Some(Cause::CodeExpiredOrReused), HINT_CODE.into())
        }
        (C::InvalidGrant, RequestKind::Refresh) => {
            (LoginRequired, Some(Cause::RefreshTokenRevoked), HINT_REFRESH.into())
        }
        (C::InvalidGrant, RequestKind::ClientCredentials) => (
            Config,
            Some(Cause::BadClientCredentials),
            HINT_CLIENT.into(),
        ),
        (C::InvalidGrant, _) => (
            LoginRequired,
            None,
            "the grant was refused; run `tokenwarden login` again".into(),
        ),
        (C::AccessDenied, _) => (
            LoginRequired,
            Some(Cause::ConsentDenied),
            "the authorization was denied (by you or by the provider's policy); run `tokenwarden login` and approve it".into(),
        ),
        (C::ExpiredToken, _) => (
            LoginRequired,
            None,
            "the device code expired before it was approved; run `tokenwarden login --device` again and approve sooner".into(),
        ),
        (C::AuthorizationPending, _) => (
            LoginRequired,
            None,
            "the authorization is still pending: approve it on the verification page".into(),
        ),
        (C::ServerError | C::TemporarilyUnavailable, _) if status == 429 => {
            (ProviderUnavailable, Some(Cause::RateLimited), HINT_RATE.into())
        }
        (C::ServerError | C::TemporarilyUnavailable, _) if code_exchange => (
            ProviderUnavailable,
            Some(Cause::CodeMaybeConsumed),
            HINT_CODE_CONSUMED.into(),
        ),
        (C::ServerError | C::TemporarilyUnavailable, _) => {
            (ProviderUnavailable, Some(Cause::ProviderOutage), HINT_OUTAGE.into())
        }
        (C::SlowDown, _) => (ProviderUnavailable, Some(Cause::RateLimited), HINT_RATE.into()),
        (C::InvalidToken, _) => (
            LoginRequired,
            None,
            "the token was refused; run `tokenwarden login`".into(),
        ),
        (C::UnsupportedResponseType | C::InsufficientScope, _) => (
            Config,
            None,
            "the provider refused the request as configured: check the profile's grant and scopes".into(),
        ),
        (C::InvalidTarget, _) => (Config, Some(Cause::ResourceIndicator), HINT_TARGET.into()),
        (C::RedirectUriMismatch, _) => (
            Config,
            Some(Cause::RedirectMismatch),
            "redirect_uri differs from the one registered at the provider: compare them character by character (trailing slash, http/https, localhost vs 127.0.0.1), or set registered_redirect_uris so the lint names the difference".into(),
        ),
        (C::UnsupportedTokenType, _) => (
            Config,
            None,
            "the provider cannot revoke this kind of token".into(),
        ),
        (C::Other(_), _) if status == 429 => {
            (ProviderUnavailable, Some(Cause::RateLimited), HINT_RATE.into())
        }
        (C::Other(_), _) if status >= 500 && code_exchange => (
            ProviderUnavailable,
            Some(Cause::CodeMaybeConsumed),
            HINT_CODE_CONSUMED.into(),
        ),
        (C::Other(_), _) if status >= 500 => {
            (ProviderUnavailable, Some(Cause::ProviderOutage), HINT_OUTAGE.into())
        }
        (C::Other(_), _) => (
            ErrorKind::Other,
            None,
            "the provider answered with an error tokenwarden does not know; its description above says more".into(),
        ),
    };
    let mut err = Error::new(ekind, msg).with_hint(hint).with_oauth(oauth);
    if let Some(c) = cause {
        err = err.with_cause(c);
    }
    err
}

/// A response larger than the cap. With a 429 or 5xx status it is an outage's error page (a
/// transient failure, retried like any other); otherwise a Protocol error. The request was
/// [`Delivery::Answered`].
pub fn too_large(kind: RequestKind, cap: usize, evidence: HttpEvidence) -> Error {
    let endpoint = kind.endpoint_name();
    let status = evidence.status.unwrap_or(0);
    let err = if status == 429 || (500..=599).contains(&status) {
        let (cause, hint) = match status {
            429 => (Cause::RateLimited, HINT_RATE),
            _ if kind == RequestKind::CodeExchange => {
                (Cause::CodeMaybeConsumed, HINT_CODE_CONSUMED)
            }
            _ => (Cause::ProviderOutage, HINT_OUTAGE),
        };
        Error::new(
            ErrorKind::ProviderUnavailable,
            format!(
                "{endpoint} answered {} with a body larger than {} KiB (an error page, not an OAuth response)",
                status_text(status),
                cap / 1024
            ),
        )
        .with_cause(cause)
        .with_hint(hint)
    } else {
        Error::protocol(format!(
            "{endpoint} answered with a body larger than {} KiB, which no OAuth response is",
            cap / 1024
        ))
        .with_cause(Cause::ResponseTooLarge)
        .with_hint("check that the endpoint URL points at the OAuth server")
    };
    answered(err, evidence)
}

fn find_tls(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if err.is::<rustls::Error>() {
            return true;
        }
        // io::Error hides its payload from `source()`: follow `get_ref()` (possibly nested).
        let mut io = err.downcast_ref::<std::io::Error>();
        while let Some(inner) = io.and_then(std::io::Error::get_ref) {
            if inner.is::<rustls::Error>() {
                return true;
            }
            io = inner.downcast_ref::<std::io::Error>();
        }
        cur = err.source();
    }
    false
}

/// Classifies a transport failure of `req`: its cause, and whether the request reached the
/// server. A failure while connecting (DNS, TCP, TLS, the connect timeout) is
/// [`Delivery::NotSent`]; a timeout or a broken connection once connected is
/// [`Delivery::MaybeProcessed`]: the request may have been written and processed. A failure that
/// comes with a status (the connection broke while the body of an answer was read) was
/// [`Delivery::Answered`].
pub(crate) async fn transport(
    req: &HttpRequest,
    e: &reqwest::Error,
    settings: &HttpSettings,
    evidence: HttpEvidence,
) -> Error {
    let kind = req.kind;
    let endpoint = kind.endpoint_name();
    let host = req.url.host_str().unwrap_or("?").to_string();
    let url = req.url.as_str();
    if e.is_builder() {
        return Error::config(format!(
            "cannot send a request to {url}: the URL is not usable"
        ))
        .with_hint("check the endpoint URL in the profile")
        .with_delivery(Delivery::NotSent);
    }
    let secs = |d: std::time::Duration| crate::human::duration(d);
    let tls = find_tls(e);
    let (cause, msg, hint, delivery) = if e.is_connect() || tls {
        if tls {
            (
                Cause::Tls,
                format!("the TLS handshake with {endpoint} ({url}) failed"),
                format!(
                    "check the URL (https to a plain-http port?), the system's CA certificates, or a TLS-intercepting proxy in front of {host}"
                ),
                Delivery::NotSent,
            )
        } else if e.is_dns() {
            (
                Cause::Dns,
                format!("the host name `{host}` of {endpoint} did not resolve"),
                "check the host name in the URL, and your network and DNS settings".to_string(),
                Delivery::NotSent,
            )
        } else if e.is_timeout() {
            (
                Cause::Timeout,
                format!(
                    "connecting to {endpoint} ({url}) timed out after {}",
                    secs(settings.connect_timeout)
                ),
                format!(
                    "{host} did not accept a connection in time: check the network, a firewall or the proxy settings, or raise connect_timeout"
                ),
                Delivery::NotSent,
            )
        } else {
            (
                Cause::Connect,
                format!("could not connect to {endpoint} ({url})"),
                format!(
                    "nothing accepted the connection to {host}: check the URL and port, and that the server is running"
                ),
                Delivery::NotSent,
            )
        }
    } else if e.is_timeout() {
        (
            Cause::Timeout,
            format!(
                "{endpoint} ({url}) did not answer within {}",
                secs(settings.timeout)
            ),
            "the provider or the network is slow: try again, or raise `timeout` in the profile"
                .to_string(),
            Delivery::MaybeProcessed,
        )
    } else {
        (
            Cause::Connect,
            format!("the connection to {endpoint} ({url}) broke before the answer was complete"),
            "the network or the provider dropped the connection: try again".to_string(),
            Delivery::MaybeProcessed,
        )
    };
    let delivery = if evidence.status.is_some() {
        Delivery::Answered
    } else {
        delivery
    };
    let mut err = Error::new(ErrorKind::ProviderUnavailable, msg)
        .with_http(evidence)
        .with_hint(hint)
        .with_cause(cause)
        .with_delivery(delivery);
    if kind == RequestKind::CodeExchange && delivery != Delivery::NotSent {
        err = err
            .with_cause(Cause::CodeMaybeConsumed)
            .with_hint(HINT_CODE_CONSUMED);
    }
    // Keep the transport error's text as the source, without the URL's query (none is sent).
    err.with_source(TransportError(e.to_string()))
}

/// The text of the underlying transport error (reqwest's error is not `Clone`).
#[derive(Debug)]
struct TransportError(String);

impl std::fmt::Display for TransportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TransportError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(s: &str) -> ParsedBody {
        ParsedBody::parse(Some("application/json"), s.as_bytes())
    }

    #[test]
    fn oauth_error_wins_over_status() {
        let e = classify_response(
            RequestKind::Refresh,
            500,
            &body(r#"{"error":"invalid_grant"}"#),
            HttpEvidence::default(),
        );
        assert_eq!(e.kind(), ErrorKind::LoginRequired);
        assert_eq!(e.cause(), Some(Cause::RefreshTokenRevoked));
    }

    #[test]
    fn code_exchange_hints() {
        let e = classify_response(
            RequestKind::CodeExchange,
            400,
            &body(r#"{"error":"invalid_grant"}"#),
            HttpEvidence::default(),
        );
        assert_eq!(e.cause(), Some(Cause::CodeExpiredOrReused));
        assert!(e.hint().unwrap_or("").contains("~60 s"));
        let e = classify_response(
            RequestKind::CodeExchange,
            500,
            &body(r#"{"error":"server_error"}"#),
            HttpEvidence::default(),
        );
        assert_eq!(e.cause(), Some(Cause::CodeMaybeConsumed));
    }

    #[test]
    fn invalid_target_names_the_key() {
        let e = classify_response(
            RequestKind::CodeExchange,
            400,
            &body(
                r#"{"error":"invalid_target","error_description":"resource indicator is missing, or unknown"}"#,
            ),
            HttpEvidence::default(),
        );
        assert_eq!(e.kind(), ErrorKind::Config);
        assert_eq!(e.cause(), Some(Cause::ResourceIndicator));
        assert!(e.hint().unwrap_or("").contains("`resource_indicator`"));
    }

    #[test]
    fn an_html_5xx_page_is_named_with_its_title() {
        let page = "<!DOCTYPE html><html><head><title>Internal Server\n Error</title></head><body><h1>Oops</h1></body></html>";
        let html = ParsedBody::parse(Some("text/html"), page.as_bytes());
        let ev = HttpEvidence {
            body_snippet: Some(page.to_string()),
            ..HttpEvidence::default()
        };
        let e = classify_response(RequestKind::Refresh, 500, &html, ev);
        assert_eq!(e.kind(), ErrorKind::ProviderUnavailable);
        assert!(
            e.message()
                .contains("an HTML error page from the provider or a proxy in front of it")
                && e.message().contains("\"Internal Server Error\""),
            "{}",
            e.message()
        );
        assert!(!e.hint().unwrap_or("").contains("captive portal"));
    }

    #[test]
    fn html_error_pages_are_proxies() {
        let html = ParsedBody::parse(Some("text/html"), b"<html>Bad Gateway</html>");
        let e = classify_response(RequestKind::Refresh, 502, &html, HttpEvidence::default());
        assert_eq!(e.kind(), ErrorKind::ProviderUnavailable);
        assert_eq!(e.cause(), Some(Cause::ProxyAnswered));
        assert!(e.hint().unwrap_or("").contains("proxy"));
    }
}
