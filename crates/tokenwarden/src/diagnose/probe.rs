//! The token-endpoint probes of `doctor`: a token request with a deliberately invalid
//! authorization code (`token_endpoint`), and, for profiles that renew with a refresh token, one
//! with a made-up refresh token (`token_endpoint_refresh`). A healthy endpoint answers
//! `invalid_grant`, which shows that the URL, the client authentication and the body format are
//! accepted; `invalid_client`, `invalid_request`, a 5xx, a 429 or an HTML page each name a
//! different cause; `unauthorized_client` or `unsupported_grant_type` fails when the profile
//! needs the grant. The probes use no stored token, so nothing is consumed or rotated; each is a
//! single attempt, outside the shared circuit breaker.

use super::Check;
use super::clock::Observations;
use crate::config::{GrantType, Profile};
use crate::error::{Error, ErrorKind, OAuthErrorCode};
use crate::http::classify::classify_response;
use crate::http::request::{Grant, token_request};
use crate::http::response::ParsedBody;
use crate::http::{HttpClient, HttpResponse, RequestKind};
use crate::secret::{AuthorizationCode, PkceVerifier, RefreshToken};
use url::Url;

/// The grant a probe presents, with a made-up code or refresh token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Probe {
    AuthorizationCode,
    RefreshToken,
}

impl Probe {
    fn wire(self) -> &'static str {
        match self {
            Probe::AuthorizationCode => "authorization_code",
            Probe::RefreshToken => "refresh_token",
        }
    }

    fn check_name(self) -> &'static str {
        match self {
            Probe::AuthorizationCode => "token_endpoint",
            Probe::RefreshToken => "token_endpoint_refresh",
        }
    }

    /// Whether the profile needs this grant: logging in with a code, renewing what a code or
    /// device login obtained.
    pub(super) fn used_by(self, p: &Profile) -> bool {
        match self {
            Probe::AuthorizationCode => p.grant == GrantType::AuthorizationCode,
            Probe::RefreshToken => p.grant != GrantType::ClientCredentials,
        }
    }

    /// What the made-up value is, in messages.
    fn made_up(self) -> &'static str {
        match self {
            Probe::AuthorizationCode => "a deliberately invalid code",
            Probe::RefreshToken => "a made-up refresh token",
        }
    }
}

/// A probe: a token request with a made-up code or refresh token, sent once. Nothing real is
/// presented, so nothing can be consumed or rotated.
pub(super) async fn probe(
    http: &HttpClient,
    p: &Profile,
    endpoint: &Url,
    which: Probe,
    obs: &mut Observations,
    corr: &str,
) -> std::result::Result<HttpResponse, Error> {
    let secret = p.client_secret().ok().flatten();
    let made_up = || format!("{:016x}", rand::random::<u64>());
    let grant = match which {
        Probe::AuthorizationCode => Grant::AuthorizationCode {
            code: AuthorizationCode::new(format!("tokenwarden-doctor-probe-{}", made_up())),
            redirect_uri: p
                .redirect_uri
                .clone()
                .unwrap_or_else(|| crate::flow::authcode::DEFAULT_REDIRECT_URI.to_string()),
            verifier: Some(PkceVerifier::new(format!(
                "tokenwarden-doctor-probe-verifier-{}-{}",
                made_up(),
                made_up()
            ))),
            state: Some("tokenwarden-doctor".to_string()),
        },
        Probe::RefreshToken => Grant::RefreshToken {
            refresh_token: RefreshToken::new(format!(
                "tokenwarden-doctor-probe-refresh-{}-{}",
                made_up(),
                made_up()
            )),
        },
    };
    let mut req = token_request(p, secret.as_ref(), endpoint.clone(), grant);
    crate::http::request::add_headers(&mut req, &p.token_request_headers()?);
    // No real code is at stake: failures are classified (and hinted) as for any repeatable
    // token request, not as a lost single-use code.
    req.kind = RequestKind::Refresh;
    let resp = http.send(&req, corr).await?;
    obs.add_date(
        format!("the Date header of {}", req.line()),
        resp.evidence.date,
        resp.received_at,
    );
    Ok(resp)
}

pub(super) fn probe_check(
    p: &Profile,
    endpoint: &Url,
    result: std::result::Result<HttpResponse, Error>,
    corr: &str,
    which: Probe,
) -> Check {
    let name = which.check_name();
    let resp = match result {
        Ok(r) => r,
        Err(e) => return Check::from_error(name, &e),
    };
    let body = ParsedBody::parse(resp.content_type(), &resp.body);
    let format = p.token_request_format.as_str();
    let auth = p.client_auth.as_str();
    let err = classify_response(
        RequestKind::Refresh,
        resp.status,
        &body,
        resp.evidence.clone(),
    )
    .with_correlation_id(corr);
    let evidence = super::describe_error(&err);
    let Some(oauth) = body.oauth_error() else {
        if (200..300).contains(&resp.status) {
            return Check::warn(
                name,
                format!(
                    "{endpoint} answered {} to {} instead of refusing it",
                    resp.status,
                    which.made_up()
                ),
                "check that token_endpoint points at the provider's OAuth token endpoint",
            );
        }
        return Check::from_error(name, &err);
    };
    use OAuthErrorCode as C;
    // A provider's own names for the standard conditions (GitHub's) count as those.
    let code = oauth.code.meaning();
    let grant = which.wire();
    match code {
        C::InvalidGrant if which == Probe::RefreshToken => Check::ok(
            name,
            format!(
                "{endpoint} refused {} with {}, as it should: this client may use the refresh_token grant",
                which.made_up(),
                oauth.code
            ),
        ),
        C::InvalidGrant => Check::ok(
            name,
            format!(
                "{endpoint} refused {} with {}, as it should: the URL, client id, client authentication ({auth}) and {format} body are accepted",
                which.made_up(),
                oauth.code
            ),
        ),
        C::UnauthorizedClient | C::UnsupportedGrantType if which.used_by(p) => Check::fail(
            name,
            format!(
                "the provider does not allow client `{}` the {grant} grant, which profile `{}` needs ({}): {evidence}",
                p.client_id,
                p.name,
                match which {
                    Probe::AuthorizationCode => "to log in with a browser",
                    Probe::RefreshToken => "to renew its tokens without a new login",
                }
            ),
            format!(
                "allow the {grant} grant for client `{}` in the provider's app settings (often a \"grant types\" or \"allowed flows\" list); or, if the app is meant for another flow, set grant = \"device_code\" or \"client_credentials\" in the profile to match it",
                p.client_id
            ),
        ),
        C::UnauthorizedClient | C::UnsupportedGrantType => Check::ok(
            name,
            format!(
                "{endpoint} accepted the client ({auth}, {format} body) and answered {} to the probe's {grant} grant, which this profile does not use",
                oauth.code
            ),
        ),
        C::InvalidClient => Check::fail(
            name,
            format!("the provider refused the client: {evidence}"),
            err.hint().unwrap_or(
                "check client_id, the client secret (client_secret_env) and client_auth",
            ),
        ),
        C::InvalidRequest => Check::fail(
            name,
            format!("the provider refused the request's form: {evidence}"),
            format!(
                "check token_request_format (now {format}: form or json) and the provider preset; `tokenwarden doctor --curl` prints the request to try by hand"
            ),
        ),
        _ if err.kind() == ErrorKind::ProviderUnavailable => {
            Check::fail(name, evidence, err.hint().unwrap_or("try again later"))
        }
        _ => Check::warn(
            name,
            format!("the probe got an unexpected answer: {evidence}"),
            err.hint()
                .unwrap_or("run doctor with --trace-http to see the exchange"),
        ),
    }
}
