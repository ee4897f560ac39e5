//! Reaching the provider, one step at a time so that each failure is named: `dns` (tokio's
//! `lookup_host`), `tcp` (`TcpStream::connect`), `tls` (the handshake of the first https
//! exchange), `discovery` (the metadata document over HTTP) and `issuer` (it names the
//! configured issuer), then `token_endpoint`: a probe with a deliberately invalid authorization
//! code. A healthy endpoint answers `invalid_grant`, which shows that the URL, the client
//! authentication and the body format are accepted; `invalid_client`, `invalid_request`, a 5xx,
//! a 429 or an HTML page each name a different cause; `unauthorized_client` or
//! `unsupported_grant_type` fails when the profile logs in with a code (the client is not
//! allowed the grant it needs). Then, for profiles that renew with a refresh token,
//! `token_endpoint_refresh`: the same with a made-up refresh token. The probes use no stored
//! token, so nothing is rotated. Every exchange is a single attempt, outside the shared circuit
//! breaker.

use super::Check;
use super::clock::Observations;
use super::local::provider_url;
use crate::config::{GrantType, Profile};
use crate::correlation::{current_or_new, new_id};
use crate::discovery::{Metadata, same_issuer, well_known_urls};
use crate::error::{Cause, Error, ErrorKind, OAuthErrorCode};
use crate::http::classify::{classify_missing, classify_response};
use crate::http::request::{Grant, discovery_request, token_request};
use crate::http::response::{MissingField, ParsedBody};
use crate::http::{HttpClient, HttpResponse, RequestKind};
use crate::secret::{AuthorizationCode, PkceVerifier, RefreshToken};
use crate::warden::Warden;
use std::net::SocketAddr;
use std::time::Duration;
use url::Url;

/// Runs the network checks for `p`.
pub async fn run(warden: &Warden, p: &Profile, checks: &mut Vec<Check>, obs: &mut Observations) {
    let Some(url) = provider_url(p) else {
        checks.push(Check::fail(
            "discovery",
            "the profile has neither an issuer nor a token_endpoint",
            "set issuer (or token_endpoint and authorization_endpoint) in the profile",
        ));
        return;
    };
    let http = match warden.http_client(p) {
        Ok(h) => h,
        Err(e) => {
            checks.push(Check::from_error("tcp", &e));
            return;
        }
    };
    let origin = match &p.issuer {
        Some(issuer) => format!("issuer = \"{issuer}\" of profile `{}`", p.name),
        None => format!("token_endpoint = \"{url}\" of profile `{}`", p.name),
    };
    if !connectivity(&url, &origin, p.connect_timeout, checks).await {
        return;
    }
    let mut tls = Tls::new(&url);
    let discovers = p.provider.preset().token_endpoint.is_none();
    let metadata = match (&p.issuer, discovers) {
        (Some(issuer), true) => {
            let result = fetch_metadata(&http, issuer, obs).await;
            tls.saw(&result);
            checks.push(tls.check());
            discovery_checks(issuer, result, checks)
        }
        (Some(_), false) => {
            checks.push(Check::ok(
                "discovery",
                format!(
                    "not used: the {} preset fixes the endpoints",
                    p.provider.as_str()
                ),
            ));
            None
        }
        (None, _) => {
            checks.push(Check::ok(
                "discovery",
                "not used: the profile has no issuer; its endpoints are configured",
            ));
            None
        }
    };
    let advertised = metadata.as_ref().and_then(|m| m.token_endpoint.clone());
    if let (Some(configured), Some(adv)) = (&p.endpoints.token, &advertised)
        && configured != adv
    {
        checks.push(Check::warn(
            "token_endpoint_config",
            format!(
                "the profile's token_endpoint {configured} differs from the one the issuer advertises ({adv})"
            ),
            "remove token_endpoint from the profile to use the advertised one, unless the difference is intended (a gateway)",
        ));
    }
    let Some(endpoint) = p.endpoints.token.clone().or(advertised) else {
        return;
    };
    if endpoint.host_str() != url.host_str()
        || endpoint.port_or_known_default() != url.port_or_known_default()
    {
        let origin = if p.endpoints.token.is_some() {
            format!("token_endpoint = \"{endpoint}\" of profile `{}`", p.name)
        } else {
            format!("the token endpoint {endpoint} that the issuer advertises")
        };
        if !connectivity(&endpoint, &origin, p.connect_timeout, checks).await {
            return;
        }
        tls = Tls::new(&endpoint);
    }
    let corr = current_or_new();
    let result = probe(&http, p, &endpoint, Probe::AuthorizationCode, obs).await;
    if !tls.reported {
        tls.saw(&result);
        checks.push(tls.check());
    }
    let answered = result.as_ref().is_ok_and(|r| {
        ParsedBody::parse(r.content_type(), &r.body)
            .oauth_error()
            .is_some()
    });
    checks.push(probe_check(
        p,
        &endpoint,
        result,
        &corr,
        Probe::AuthorizationCode,
    ));
    // The endpoint answers OAuth errors: does it let this client refresh, as it will need to?
    if answered && Probe::RefreshToken.used_by(p) {
        let result = probe(&http, p, &endpoint, Probe::RefreshToken, obs).await;
        checks.push(probe_check(
            p,
            &endpoint,
            result,
            &corr,
            Probe::RefreshToken,
        ));
    }
}

/// The grant a probe presents, with a made-up code or refresh token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Probe {
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
    fn used_by(self, p: &Profile) -> bool {
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

/// What a failed `dns` or `tcp` check adds: the checks that need the connection did not run.
const SKIPPED: &str =
    "; TLS, discovery and the token endpoint are checked once the connection works";

/// `dns` then `tcp` for the first hop to `url` (the proxy, when one applies); `origin` says
/// where the URL comes from (e.g. `issuer = "…" of profile `work``), for the fixes. False when
/// the host cannot be reached.
async fn connectivity(url: &Url, origin: &str, timeout: Duration, checks: &mut Vec<Check>) -> bool {
    let (hop, via) = match crate::http::proxy_for(url).and_then(|p| Url::parse(&p).ok()) {
        Some(proxy) => (proxy, " (the proxy)"),
        None => (url.clone(), ""),
    };
    let proxied = !via.is_empty();
    // Where to correct the host or port: the proxy variable, or the profile.
    let fix_in = if proxied {
        "the proxy variable (HTTPS_PROXY, HTTP_PROXY or ALL_PROXY; NO_PROXY bypasses it)"
            .to_string()
    } else {
        origin.to_string()
    };
    let host = hop
        .host_str()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let Some(port) = hop.port_or_known_default() else {
        checks.push(Check::fail(
            "dns",
            format!("{hop} has no port and an unknown scheme"),
            "use an http or https URL",
        ));
        return false;
    };
    let secs = timeout.as_secs_f64();
    let addrs: Vec<SocketAddr> = if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        checks.push(Check::ok(
            "dns",
            format!("{host}{via} is an IP address: no lookup needed"),
        ));
        vec![SocketAddr::new(ip, port)]
    } else {
        match tokio::time::timeout(timeout, tokio::net::lookup_host((host.as_str(), port))).await {
            Ok(Ok(found)) => {
                let addrs: Vec<SocketAddr> = found.collect();
                let shown: Vec<String> = addrs.iter().take(4).map(|a| a.ip().to_string()).collect();
                checks.push(Check::ok(
                    "dns",
                    format!("{host}{via} resolves to {}", shown.join(", ")),
                ));
                addrs
            }
            Ok(Err(e)) => {
                checks.push(Check::fail(
                    "dns",
                    format!("the host name {host}{via} does not resolve: {e}"),
                    format!("check the host name in {fix_in} for a typo, then your DNS settings, VPN or network connection{SKIPPED}"),
                ));
                return false;
            }
            Err(_) => {
                checks.push(Check::fail(
                    "dns",
                    format!("looking up {host}{via} took longer than {secs:.0} s"),
                    format!("check your DNS settings (/etc/resolv.conf), VPN or network connection{SKIPPED}"),
                ));
                return false;
            }
        }
    };
    let mut last = None;
    for addr in &addrs {
        match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr)).await {
            Ok(Ok(_)) => {
                checks.push(Check::ok("tcp", format!("connected to {addr}{via}")));
                return true;
            }
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                let what = if proxied { "the proxy" } else { "the server" };
                last = Some((
                    format!("{addr}{via} refused the connection: nothing listens on port {port}"),
                    format!("check the port in {fix_in}, and that {what} is running there"),
                ));
            }
            Ok(Err(e)) => {
                last = Some((
                    format!("cannot connect to {addr}{via}: {e}"),
                    "check the network route and firewall to that host".to_string(),
                ));
            }
            Err(_) => {
                last = Some((
                    format!("no answer from {addr}{via} within {secs:.0} s"),
                    "a firewall may drop the packets, or the host is down; check the network, VPN and proxy settings".to_string(),
                ));
            }
        }
    }
    let (detail, fix) = last.unwrap_or_else(|| {
        (
            format!("{host}{via} resolved to no address"),
            "check the DNS records of the host".to_string(),
        )
    });
    checks.push(Check::fail("tcp", detail, format!("{fix}{SKIPPED}")));
    false
}

/// What the first exchange with a host said about TLS.
struct Tls {
    host: String,
    https: bool,
    loopback: bool,
    outcome: Option<std::result::Result<(), Check>>,
    reported: bool,
}

impl Tls {
    fn new(url: &Url) -> Tls {
        Tls {
            host: url.host_str().unwrap_or_default().to_string(),
            https: url.scheme() == "https",
            loopback: crate::config::is_loopback_url(url),
            outcome: None,
            reported: false,
        }
    }

    fn saw<T>(&mut self, result: &std::result::Result<T, Error>) {
        if self.outcome.is_some() {
            return;
        }
        self.outcome = match result {
            Err(e) if e.cause() == Some(Cause::Tls) => Some(Err(Check::from_error("tls", e))),
            Err(e) if e.status().is_none() => None,
            _ => Some(Ok(())),
        };
    }

    fn check(&mut self) -> Check {
        self.reported = true;
        match (&self.outcome, self.https) {
            (_, false) if self.loopback => Check::ok(
                "tls",
                format!(
                    "plain http to the loopback address {}: no TLS needed",
                    self.host
                ),
            ),
            (_, false) => Check::warn(
                "tls",
                format!(
                    "plain http to {}: tokens and secrets travel unencrypted",
                    self.host
                ),
                "use the provider's https URL (allow_insecure_http is for test servers only)",
            ),
            (Some(Ok(())), true) => Check::ok(
                "tls",
                format!(
                    "TLS handshake with {} succeeded; its certificate is trusted",
                    self.host
                ),
            ),
            (Some(Err(c)), true) => c.clone(),
            (None, true) => Check::warn(
                "tls",
                format!(
                    "not determined: the exchange with {} failed before or after the handshake",
                    self.host
                ),
                "fix the failure reported next, then run doctor again",
            ),
        }
    }
}

/// A discovery document and the response it came in.
struct Fetched {
    metadata: Metadata,
    response: HttpResponse,
}

async fn fetch_metadata(
    http: &HttpClient,
    issuer: &str,
    obs: &mut Observations,
) -> std::result::Result<Fetched, Error> {
    let corr = current_or_new();
    let mut tried = Vec::new();
    for url in well_known_urls(issuer)? {
        let req = discovery_request(url.clone());
        let resp = http.send(&req, &corr).await?;
        obs.add_date(
            format!("the Date header of {}", req.line()),
            resp.evidence.date,
            resp.received_at,
        );
        let body = ParsedBody::parse(resp.content_type(), &resp.body);
        let ev = || resp.evidence.clone();
        match resp.status {
            200 => {
                let ParsedBody::Json(doc) = &body else {
                    return Err(classify_missing(
                        RequestKind::Discovery,
                        200,
                        &body,
                        MissingField::NotStructured,
                        ev(),
                    )
                    .with_correlation_id(&corr));
                };
                let metadata = Metadata::from_json(url.clone(), doc).map_err(|m| {
                    classify_missing(RequestKind::Discovery, 200, &body, m, ev())
                        .with_correlation_id(&corr)
                })?;
                return Ok(Fetched {
                    metadata,
                    response: resp,
                });
            }
            400 | 401 | 403 | 404 | 405 | 406 | 410 => {
                tried.push(format!("{url} ({})", resp.status));
            }
            status => {
                return Err(
                    classify_response(RequestKind::Discovery, status, &body, ev())
                        .with_correlation_id(&corr),
                );
            }
        }
    }
    Err(crate::discovery::no_document(issuer, &tried).with_correlation_id(&corr))
}

/// `discovery` and `issuer` from the fetch; the metadata when it came.
fn discovery_checks(
    issuer: &str,
    result: std::result::Result<Fetched, Error>,
    checks: &mut Vec<Check>,
) -> Option<Metadata> {
    let fetched = match result {
        Ok(f) => f,
        Err(e) => {
            checks.push(Check::from_error("discovery", &e));
            return None;
        }
    };
    let m = fetched.metadata;
    let ev = &fetched.response.evidence;
    let timing = ev
        .elapsed
        .map(|d| format!(" in {} ms", d.as_millis()))
        .unwrap_or_default();
    let rid = ev
        .request_id
        .as_deref()
        .map(|r| format!(", request id {r}"))
        .unwrap_or_default();
    checks.push(Check::ok(
        "discovery",
        format!("{} answered 200{timing}{rid}", m.source),
    ));
    if same_issuer(issuer, &m.issuer) {
        checks.push(Check::ok(
            "issuer",
            format!("the document names the configured issuer {}", m.issuer),
        ));
    } else {
        checks.push(Check::fail(
            "issuer",
            format!(
                "the discovery document names issuer `{}`, not the configured `{issuer}`: tokenwarden refuses it (mix-up defence)",
                m.issuer
            ),
            format!(
                "if `{}` is the right server, set issuer to exactly that; otherwise correct the issuer URL",
                m.issuer
            ),
        ));
        return None;
    }
    if m.token_endpoint.is_none() {
        checks.push(Check::fail(
            "discovery",
            "the discovery document has no token_endpoint",
            "set token_endpoint in the profile",
        ));
    }
    Some(m)
}

/// A probe: a token request with a made-up code or refresh token, sent once. Nothing real is
/// presented, so nothing can be consumed or rotated.
async fn probe(
    http: &HttpClient,
    p: &Profile,
    endpoint: &Url,
    which: Probe,
    obs: &mut Observations,
) -> std::result::Result<HttpResponse, Error> {
    let secret = p.client_secret().ok().flatten();
    let made_up = || new_id().trim_start_matches("tw-").to_string();
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
    let corr = current_or_new();
    let mut req = token_request(p, secret.as_ref(), endpoint.clone(), grant);
    // No real code is at stake: failures are classified (and hinted) as for any repeatable
    // token request, not as a lost single-use code.
    req.kind = RequestKind::Refresh;
    let resp = http.send(&req, &corr).await?;
    obs.add_date(
        format!("the Date header of {}", req.line()),
        resp.evidence.date,
        resp.received_at,
    );
    Ok(resp)
}

fn probe_check(
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
    // GitHub names the standard conditions its own way.
    let code = match &oauth.code {
        C::Other(s) if s == "bad_verification_code" => C::InvalidGrant,
        C::Other(s) if s == "incorrect_client_credentials" => C::InvalidClient,
        c => c.clone(),
    };
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
