//! Checking an issuer before a profile is written (`profile add`): is its discovery document
//! where discovery will look, and if the host answers but the document is not there, where is
//! it? An issuer missing its path segment (`https://id.example.com` for
//! `https://id.example.com/oauth`) otherwise passes every local check and fails at login with
//! two 404s.
//!
//! Every request is a single attempt (no retry, no circuit breaker, nothing recorded): the
//! check is advice, and a host that cannot be reached is reported as such, not as an error.

use super::discovery::{Metadata, WellKnown, other_issuer, well_known_urls};
use super::issuer::IssuerRule;
use super::request::discovery_request;
use super::response::ParsedBody;
use super::{HttpClient, HttpResponse};
use crate::config::{Diagnostic, Loc, Profile};
use crate::error::Error;
use url::Url;

/// Paths an issuer commonly has under its host, tried (below the given issuer, and in place of
/// its path) when the host answers without a document.
const COMMON_PATHS: &[&str] = &["oauth", "oauth2", "oauth2/default", "oidc", "auth", "o"];

/// What the check found.
#[derive(Debug)]
#[non_exhaustive]
pub enum Located {
    /// The issuer publishes its metadata where discovery looks.
    Found(Box<Metadata>),
    /// The host answers, but no document is at any well-known URL of the issuer; `suggestion`:
    /// an issuer on the same host that does publish one.
    NotThere {
        /// Each URL tried, with its status.
        tried: Vec<String>,
        /// An issuer nearby whose document names itself.
        suggestion: Option<String>,
    },
    /// A document was found, naming another issuer: the error that says so.
    OtherIssuer(Error),
    /// The check could not be made (DNS, connection, TLS, timeout, a 5xx): why.
    Unreachable(Error),
}

/// Checks `issuer`'s discovery document (see the module docs).
pub async fn locate(http: &HttpClient, issuer: &str, correlation_id: &str) -> Located {
    let urls = match well_known_urls(issuer) {
        Ok(u) => u,
        Err(e) => return Located::Unreachable(e),
    };
    let mut tried = Vec::new();
    match find(http, issuer, &urls, correlation_id, &mut tried).await {
        Ok(Some(Ok(m))) => return Located::Found(Box::new(m)),
        Ok(Some(Err((url, claimed)))) => {
            return Located::OtherIssuer(other_issuer(issuer, &url, &claimed));
        }
        Ok(None) => {}
        Err(e) => return Located::Unreachable(e),
    }
    let mut suggestion = None;
    for candidate in candidates(issuer) {
        let Ok(urls) = well_known_urls(&candidate) else {
            continue;
        };
        let mut ignored = Vec::new();
        if let Ok(Some(Ok(m))) = find(http, &candidate, &urls, correlation_id, &mut ignored).await {
            suggestion = Some(m.issuer_rule.shown().to_string());
            break;
        }
    }
    Located::NotThere { tried, suggestion }
}

/// A document found, with the URL it came from and the issuer it claims when that is not
/// `issuer`.
type Outcome = Option<std::result::Result<Metadata, (Url, String)>>;

/// The first document among `urls` (`Ok(None)`: none is there; `Err`: the host could not be
/// asked).
async fn find(
    http: &HttpClient,
    issuer: &str,
    urls: &[WellKnown],
    corr: &str,
    tried: &mut Vec<String>,
) -> crate::Result<Outcome> {
    for WellKnown { document, url } in urls {
        let resp: HttpResponse = http.send(&discovery_request(url.clone()), corr).await?;
        let body = ParsedBody::parse(resp.content_type(), &resp.body);
        match (resp.status, &body) {
            (200, ParsedBody::Json(doc)) => {
                let Ok(mut m) = Metadata::from_json(url.clone(), *document, doc) else {
                    tried.push(format!("{url} (200, not a metadata document)"));
                    continue;
                };
                return Ok(Some(match IssuerRule::accept(issuer, &m.issuer) {
                    Some(rule) => {
                        m.issuer_rule = rule;
                        Ok(m)
                    }
                    None => Err((url.clone(), m.issuer)),
                }));
            }
            (status, _) if status >= 500 || status == 429 => {
                return Err(crate::http::classify::classify_response(
                    crate::http::RequestKind::Discovery,
                    status,
                    &body,
                    resp.evidence,
                ));
            }
            (status, _) => tried.push(format!("{url} ({status})")),
        }
    }
    Ok(None)
}

/// Issuers to try on the same host: the issuer's parents (a path too long), then the common
/// paths below the issuer and below the host.
fn candidates(issuer: &str) -> Vec<String> {
    let Ok(base) = Url::parse(issuer) else {
        return Vec::new();
    };
    let origin = base.origin().ascii_serialization();
    let path = base.path().trim_matches('/').to_string();
    let mut out = Vec::new();
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    for n in (0..segments.len()).rev() {
        out.push(format!("{origin}/{}", segments[..n].join("/")));
    }
    let below = |prefix: &str| {
        COMMON_PATHS
            .iter()
            .map(|c| match prefix {
                "" => format!("{origin}/{c}"),
                p => format!("{origin}/{p}/{c}"),
            })
            .collect::<Vec<_>>()
    };
    out.extend(below(&path));
    if !path.is_empty() {
        out.extend(below(""));
    }
    let mut seen = std::collections::HashSet::new();
    out.into_iter()
        .map(|c| c.trim_end_matches('/').to_string())
        .filter(|c| c != issuer.trim_end_matches('/') && seen.insert(c.clone()))
        .collect()
}

/// `profile add`'s check of a profile's own issuer before it is written (none for a profile
/// whose preset fixes the endpoints): an issuer
/// that names another, or whose document is at another path of the same host, is refused with
/// the right one; a host that cannot be reached, or answers without a document, is a warning.
pub async fn check_profile(p: &Profile) -> crate::Result<Vec<Diagnostic>> {
    let Some(issuer) = p.discovery_issuer() else {
        return Ok(Vec::new());
    };
    let http = HttpClient::for_profile(p)?;
    let located = crate::correlation::operation(|corr| async move {
        Ok::<_, Error>(locate(&http, issuer, &corr).await)
    })
    .await?;
    let warn = |message: String, hint: &str| {
        Diagnostic::new(
            Loc::default(),
            format!("profiles.{}.issuer", p.name),
            message,
        )
        .with_hint(hint)
    };
    match located {
        Located::Found(_) => Ok(Vec::new()),
        Located::OtherIssuer(e) => {
            let hint = format!(
                "{}; or pass --offline to add the profile as given",
                e.hint().unwrap_or("check the issuer URL")
            );
            Err(e.with_hint(hint))
        }
        Located::NotThere {
            tried,
            suggestion: Some(better),
        } => Err(Error::config(format!(
            "issuer `{issuer}` answers, but publishes no discovery document there (tried {}); `{better}` does",
            tried.join(", ")
        ))
        .with_hint(format!(
            "use --issuer {better} (the issuer usually has a path); or pass --offline to add the profile as given"
        ))),
        Located::NotThere {
            tried,
            suggestion: None,
        } => Ok(vec![warn(
            format!(
                "issuer `{issuer}` answers, but publishes no discovery document there (tried {}): a login would fail",
                tried.join(", ")
            ),
            "check the issuer URL: it often has a path (/realms/NAME, /oauth2/default, /oidc); or set token_endpoint and authorization_endpoint",
        )]),
        Located::Unreachable(e) => Ok(vec![warn(
            format!(
                "could not check the discovery document of issuer `{issuer}`: {}",
                e.message()
            ),
            "the profile was added as given; `tokenwarden doctor` checks it once the provider can be reached",
        )]),
    }
}

#[cfg(test)]
mod tests {
    use super::candidates;

    #[test]
    fn candidates_are_parents_then_common_paths() {
        let c = candidates("https://id.example.com");
        assert_eq!(c[0], "https://id.example.com/oauth");
        assert!(c.contains(&"https://id.example.com/oauth2/default".to_string()));
        let c = candidates("https://id.example.com/realms/x/extra");
        assert_eq!(c[0], "https://id.example.com/realms/x");
        assert_eq!(c[1], "https://id.example.com/realms");
        assert!(c.contains(&"https://id.example.com/realms/x/extra/oidc".to_string()));
        assert!(c.contains(&"https://id.example.com/oauth".to_string()));
        assert!(!c.contains(&"https://id.example.com/realms/x/extra".to_string()));
    }
}
