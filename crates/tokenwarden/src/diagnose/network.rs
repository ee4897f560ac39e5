//! Reaching the provider, one step at a time so that each failure is named: `dns` and `tcp`
//! (the `connectivity` module), `tls` (the handshake of the first https exchange), `discovery`
//! (the metadata document over HTTP) and `issuer` (it names the configured issuer), then the
//! token-endpoint probes (the `probe` module). Every exchange is a single attempt, outside the
//! shared circuit breaker; all of them are one operation (one correlation id).

use super::Check;
use super::clock::Observations;
use super::connectivity::connectivity;
use super::local::provider_url;
use super::probe::{Probe, probe, probe_check};
use crate::config::Profile;
use crate::discovery::{Metadata, WellKnown, well_known_urls};
use crate::error::{Cause, Delivery, Error};
use crate::http::classify::{classify_missing, classify_response};
use crate::http::issuer::IssuerRule;
use crate::http::request::discovery_request;
use crate::http::response::{MissingField, ParsedBody};
use crate::http::{HttpClient, HttpResponse, RequestKind};
use crate::warden::Warden;
use url::Url;

/// Runs the network checks for `p`, as one operation (the current one, else a new one).
pub async fn run(warden: &Warden, p: &Profile, checks: &mut Vec<Check>, obs: &mut Observations) {
    crate::correlation::joined(|corr| steps(warden, p, checks, obs, corr)).await
}

async fn steps(
    warden: &Warden,
    p: &Profile,
    checks: &mut Vec<Check>,
    obs: &mut Observations,
    corr: String,
) {
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
    let discovers = p.discovery_issuer().is_some();
    let metadata = match (&p.issuer, discovers) {
        (Some(issuer), true) => {
            let result = fetch_metadata(&http, issuer, obs, &corr).await;
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
    // A failed discovery is reported already; what it would have said is not known.
    if metadata.is_some() || !(p.issuer.is_some() && discovers) {
        super::provider::checks(p, metadata.as_ref(), checks);
    }
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
    let result = probe(&http, p, &endpoint, Probe::AuthorizationCode, obs, &corr).await;
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
        let result = probe(&http, p, &endpoint, Probe::RefreshToken, obs, &corr).await;
        checks.push(probe_check(
            p,
            &endpoint,
            result,
            &corr,
            Probe::RefreshToken,
        ));
    }
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
            // No answer came: the handshake may not have been reached.
            Err(e) if e.delivery() != Some(Delivery::Answered) => None,
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
    corr: &str,
) -> std::result::Result<Fetched, Error> {
    let mut tried = Vec::new();
    for WellKnown { document, url } in well_known_urls(issuer)? {
        let req = discovery_request(url.clone());
        let resp = http.send(&req, corr).await?;
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
                    .with_correlation_id(corr));
                };
                let metadata = Metadata::from_json(url.clone(), document, doc).map_err(|m| {
                    classify_missing(RequestKind::Discovery, 200, &body, m, ev())
                        .with_correlation_id(corr)
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
                        .with_correlation_id(corr),
                );
            }
        }
    }
    Err(crate::discovery::no_document(issuer, &tried).with_correlation_id(corr))
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
        format!(
            "{} answered 200{timing}{rid}: {}",
            m.source,
            m.document.describe()
        ),
    ));
    let mut m = m;
    if let Some(rule) = IssuerRule::accept(issuer, &m.issuer) {
        let detail = match &rule {
            IssuerRule::Exact(i) if crate::discovery::same_issuer(issuer, i) => {
                format!("the document names the configured issuer {i}")
            }
            IssuerRule::Exact(i) => format!(
                "the document names {i}, the tenant `{issuer}` resolves to; ID tokens must name it exactly"
            ),
            IssuerRule::Tenant { template, audience } => format!(
                "the document names the multi-tenant template {template} ({} accounts): each ID token's issuer is checked against its own `tid`",
                audience.as_str()
            ),
        };
        checks.push(Check::ok("issuer", detail));
        m.issuer_rule = rule;
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
