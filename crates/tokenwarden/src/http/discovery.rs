//! Authorization server metadata where servers publish it: RFC 8414 at the §3.1 location
//! (`/.well-known/oauth-authorization-server` inserted before the issuer's path), RFC 8414
//! appended to the issuer (`{issuer}/.well-known/oauth-authorization-server`, where several
//! servers publish it), then OpenID Connect Discovery (`{issuer}/.well-known/openid-configuration`).
//! The first that answers is used, and [`Metadata::document`] says which.
//!
//! The document's `issuer` must be the configured issuer (RFC 8414 §3.3; the mix-up defence of
//! RFC 9207's family): a different one is refused with a message that says so, except a
//! multi-tenant authority's template (see [`super::issuer`]).
//!
//! # Caching
//! A document is kept per issuer for as long as its response's caching headers allow
//! ([`Freshness`]: `max-age`, else `Expires`, else the cache's TTL, at most a day): in the
//! process's memory, and, with a store ([`Discovery::with_store`]), in the store, so that the
//! next process does not fetch it again (`no-store` and `no-cache` keep it out of the store).
//! A document read back from the store is checked exactly as a fetched one (`checked`); one
//! that fails, or does not open, is ignored and fetched again, never an error. One rule drops a
//! kept document before its time: a request to an endpoint it named fails in a way that says
//! the document may be out of date ([`suggests_stale`]). The clock is injected so tests move
//! time instead of waiting. The issuer's key set (JWKS) is kept the same way, beside its
//! document, by [`super::jwks`].

use crate::error::{Cause, Delivery, Error, ErrorKind, Result};
use crate::http::classify::{classify_missing, classify_response};
use crate::http::freshness::{self, Freshness};
use crate::http::issuer::IssuerRule;
use crate::http::request::discovery_request;
use crate::http::response::{MissingField, ParsedBody};
use crate::http::{HttpClient, RequestKind};
use crate::retry::{Clock, Gate, Idempotence, Retrier, SystemClock};
use crate::store::{DiscoveryKind, Store, StoredDiscovery};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use url::Url;

/// How long metadata is kept when no TTL is given and its response gives no lifetime.
pub const DEFAULT_TTL: Duration = Duration::from_secs(15 * 60);

/// Which well-known document metadata came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Document {
    /// RFC 8414 at the §3.1 location (the well-known segment before the issuer's path).
    Rfc8414,
    /// RFC 8414 appended to the issuer's path, where some servers publish it instead.
    Rfc8414Appended,
    /// OpenID Connect Discovery 1.0 §4.
    OpenIdConfiguration,
}

impl Document {
    /// The document in words, for messages and `doctor`.
    pub fn describe(self) -> &'static str {
        match self {
            Document::Rfc8414 => "the RFC 8414 metadata",
            Document::Rfc8414Appended => {
                "the RFC 8414 metadata appended to the issuer's path (not the §3.1 location)"
            }
            Document::OpenIdConfiguration => "the OpenID Connect discovery document",
        }
    }

    /// Its stable name, as stores keep it.
    pub fn as_str(self) -> &'static str {
        match self {
            Document::Rfc8414 => "rfc8414",
            Document::Rfc8414Appended => "rfc8414_appended",
            Document::OpenIdConfiguration => "openid_configuration",
        }
    }

    /// The document of a stored name; `None` for a name this build does not know.
    pub fn parse(name: &str) -> Option<Document> {
        [
            Document::Rfc8414,
            Document::Rfc8414Appended,
            Document::OpenIdConfiguration,
        ]
        .into_iter()
        .find(|d| d.as_str() == name)
    }
}

/// One well-known URL to try, and the document it would be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WellKnown {
    /// Which document.
    pub document: Document,
    /// Where.
    pub url: Url,
}

/// The metadata tokenwarden uses (RFC 8414 §2, OIDC Discovery §3).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metadata {
    /// The issuer the document claims.
    pub issuer: String,
    /// How callbacks and ID tokens must name the issuer (exact, or a multi-tenant template).
    pub issuer_rule: IssuerRule,
    /// Where it came from.
    pub source: Url,
    /// Which document it is.
    pub document: Document,
    /// `authorization_endpoint`.
    pub authorization_endpoint: Option<Url>,
    /// `token_endpoint`.
    pub token_endpoint: Option<Url>,
    /// `device_authorization_endpoint` (RFC 8628).
    pub device_authorization_endpoint: Option<Url>,
    /// `revocation_endpoint` (RFC 7009).
    pub revocation_endpoint: Option<Url>,
    /// `introspection_endpoint` (RFC 7662).
    pub introspection_endpoint: Option<Url>,
    /// `userinfo_endpoint` (OIDC).
    pub userinfo_endpoint: Option<Url>,
    /// `jwks_uri`.
    pub jwks_uri: Option<Url>,
    /// `code_challenge_methods_supported`.
    pub code_challenge_methods_supported: Vec<String>,
    /// `grant_types_supported`.
    pub grant_types_supported: Vec<String>,
    /// `token_endpoint_auth_methods_supported`.
    pub token_endpoint_auth_methods_supported: Vec<String>,
    /// `scopes_supported`.
    pub scopes_supported: Vec<String>,
    /// `authorization_response_iss_parameter_supported` (RFC 9207): the callback must carry
    /// `iss`.
    pub authorization_response_iss_parameter_supported: bool,
    /// `resource_indicators_supported`: the server implements RFC 8707 resource indicators
    /// (an unregistered name some servers, mockauth among them, advertise).
    pub resource_indicators_supported: bool,
}

impl Metadata {
    /// Reads a metadata document (tolerant of wrong types in optional fields). Its issuer
    /// rule is the exact issuer it claims; [`Discovery`] replaces it with the one it accepted.
    pub fn from_json(
        source: Url,
        document: Document,
        doc: &Map<String, Value>,
    ) -> std::result::Result<Self, MissingField> {
        let s = |k: &str| doc.get(k).and_then(Value::as_str).map(str::to_string);
        let u = |k: &str| s(k).and_then(|v| Url::parse(&v).ok());
        let list = |k: &str| -> Vec<String> {
            doc.get(k)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default()
        };
        let issuer = s("issuer")
            .filter(|i| !i.is_empty())
            .ok_or(MissingField::Field("issuer"))?;
        Ok(Metadata {
            issuer_rule: IssuerRule::Exact(issuer.clone()),
            issuer,
            source,
            document,
            authorization_endpoint: u("authorization_endpoint"),
            token_endpoint: u("token_endpoint"),
            device_authorization_endpoint: u("device_authorization_endpoint"),
            revocation_endpoint: u("revocation_endpoint"),
            introspection_endpoint: u("introspection_endpoint"),
            userinfo_endpoint: u("userinfo_endpoint"),
            jwks_uri: u("jwks_uri"),
            code_challenge_methods_supported: list("code_challenge_methods_supported"),
            grant_types_supported: list("grant_types_supported"),
            token_endpoint_auth_methods_supported: list("token_endpoint_auth_methods_supported"),
            scopes_supported: list("scopes_supported"),
            authorization_response_iss_parameter_supported: doc
                .get("authorization_response_iss_parameter_supported")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            resource_indicators_supported: doc
                .get("resource_indicators_supported")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        })
    }
}

/// The well-known URLs for `issuer`, in the order tried: RFC 8414 §3.1 inserts the well-known
/// segment before the issuer's path; some servers publish it appended to the path instead (for
/// an issuer without a path the two are one); OIDC Discovery §4 appends its own.
pub fn well_known_urls(issuer: &str) -> Result<Vec<WellKnown>> {
    let base = Url::parse(issuer).map_err(|e| {
        Error::config(format!("issuer `{issuer}` is not a valid URL ({e})"))
            .with_hint("set issuer to the provider's issuer URL, e.g. https://accounts.example.com")
    })?;
    let path = base.path().trim_end_matches('/').to_string();
    let at = |p: String| {
        let mut u = base.clone();
        u.set_path(&p);
        u.set_query(None);
        u
    };
    let mut out = vec![WellKnown {
        document: Document::Rfc8414,
        url: at(format!("/.well-known/oauth-authorization-server{path}")),
    }];
    if !path.is_empty() {
        out.push(WellKnown {
            document: Document::Rfc8414Appended,
            url: at(format!("{path}/.well-known/oauth-authorization-server")),
        });
    }
    out.push(WellKnown {
        document: Document::OpenIdConfiguration,
        url: at(format!("{path}/.well-known/openid-configuration")),
    });
    Ok(out)
}

/// True when the document's issuer is the configured one (a trailing slash aside).
pub fn same_issuer(configured: &str, claimed: &str) -> bool {
    configured.trim_end_matches('/') == claimed.trim_end_matches('/')
}

/// Why a document cannot serve an issuer.
#[derive(Debug)]
enum Refusal {
    /// A field the document must have is missing.
    Missing(MissingField),
    /// It names another issuer (the one it names).
    OtherIssuer(String),
}

/// The metadata `doc`, the `document` found at `source`, gives for `issuer`: checked as every
/// document is, fetched or read back from a store. It must name `issuer` (or a multi-tenant
/// template that accepts it) and give a token endpoint.
fn checked(
    issuer: &str,
    source: Url,
    document: Document,
    doc: &Map<String, Value>,
) -> std::result::Result<Metadata, Refusal> {
    let mut m = Metadata::from_json(source, document, doc).map_err(Refusal::Missing)?;
    let Some(rule) = IssuerRule::accept(issuer, &m.issuer) else {
        return Err(Refusal::OtherIssuer(m.issuer));
    };
    m.issuer_rule = rule;
    if m.token_endpoint.is_none() {
        return Err(Refusal::Missing(MissingField::Field("token_endpoint")));
    }
    Ok(m)
}

/// Whether `err`, the failure of a request to an endpoint a discovery document named, says the
/// document may be out of date, so that it is dropped and fetched again next time: the endpoint
/// answered that it is not there (404, 405, 410), or nothing could be reached at its address (the
/// host name does not resolve, or nothing accepts the connection) before anything was sent.
/// Timeouts, TLS failures and every other answer say nothing about the document.
pub fn suggests_stale(err: &Error) -> bool {
    match err.status() {
        Some(404 | 405 | 410) => true,
        Some(_) => false,
        None => {
            matches!(err.cause(), Some(Cause::Dns | Cause::Connect))
                && err.delivery() == Some(Delivery::NotSent)
        }
    }
}

/// A document kept in memory, and until when.
struct Kept {
    until: SystemTime,
    metadata: Arc<Metadata>,
}

/// A per-issuer metadata cache: in memory, and in a store when given one (see the module
/// documentation).
pub struct Discovery {
    pub(super) ttl: Duration,
    pub(super) clock: Arc<dyn Clock>,
    cache: Mutex<HashMap<String, Kept>>,
    /// The key sets held in memory, by issuer ([`super::jwks`]).
    pub(super) key_sets: Mutex<HashMap<String, super::jwks::Kept>>,
    pub(super) store: Option<Arc<dyn Store>>,
}

impl std::fmt::Debug for Discovery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Discovery")
            .field("ttl", &self.ttl)
            .field("store", &self.store.is_some())
            .finish_non_exhaustive()
    }
}

impl Default for Discovery {
    fn default() -> Self {
        Self::new(DEFAULT_TTL, Arc::new(SystemClock))
    }
}

impl Discovery {
    /// A cache keeping documents by `clock` for `ttl`, unless their responses say otherwise.
    pub fn new(ttl: Duration, clock: Arc<dyn Clock>) -> Self {
        Discovery {
            ttl,
            clock,
            cache: Mutex::new(HashMap::new()),
            key_sets: Mutex::new(HashMap::new()),
            store: None,
        }
    }

    /// The same cache, also keeping documents and key sets in `store` for the processes that
    /// come next (and reading theirs).
    pub fn with_store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// The document for `issuer` this process holds, when still fresh.
    pub fn cached(&self, issuer: &str) -> Option<Arc<Metadata>> {
        let now = self.clock.now();
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let kept = cache.get(issuer)?;
        (now < kept.until).then(|| kept.metadata.clone())
    }

    fn keep(&self, issuer: &str, until: SystemTime, metadata: Arc<Metadata>) {
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(issuer.to_string(), Kept { until, metadata });
    }

    /// Forgets the document for `issuer`, here and in the store: the next use fetches it.
    pub fn invalidate(&self, issuer: &str) {
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(issuer);
        if let Some(store) = &self.store
            && let Err(e) = store.forget_discovery(issuer, DiscoveryKind::Metadata)
        {
            tracing::warn!(issuer, error = %e, "could not drop the stored discovery document");
        }
    }

    /// The metadata of `issuer`: held in memory, kept in the store, or fetched (RFC 8414
    /// first, then OIDC) under the retry policy; checked to name the same issuer.
    pub async fn metadata(
        &self,
        http: &HttpClient,
        retrier: &Retrier,
        issuer: &str,
        correlation_id: &str,
    ) -> Result<Arc<Metadata>> {
        if let Some(m) = self.cached(issuer) {
            return Ok(m);
        }
        if let Some((until, m)) = self.stored(issuer) {
            self.keep(issuer, until, m.clone());
            return Ok(m);
        }
        let result = self.fetch(http, retrier, issuer, correlation_id).await;
        let fetched = result.map_err(|e| e.with_correlation_id(correlation_id))?;
        let metadata = Arc::new(fetched.metadata);
        let fetched_at = self.clock.now();
        let until = fetched_at + fetched.freshness.lifetime;
        self.keep(issuer, until, metadata.clone());
        if let (Some(store), true) = (&self.store, fetched.freshness.storable) {
            let doc = StoredDiscovery {
                issuer: issuer.to_string(),
                kind: DiscoveryKind::Metadata,
                source: metadata.source.to_string(),
                document: metadata.document.as_str().to_string(),
                body: fetched.body,
                fetched_at,
                expires_at: until,
            };
            if let Err(e) = store.write_discovery(&doc) {
                tracing::warn!(issuer, error = %e, "could not keep the discovery document in the store");
            }
        }
        Ok(metadata)
    }

    /// The document the store keeps for `issuer`, when it is fresh and passes the checks of a
    /// fetched one; with until when it may be used. Anything else is no document.
    fn stored(&self, issuer: &str) -> Option<(SystemTime, Arc<Metadata>)> {
        let doc = self.stored_fresh(issuer, DiscoveryKind::Metadata)?;
        let parsed = (
            Url::parse(&doc.source).ok(),
            Document::parse(&doc.document),
            serde_json::from_str::<Map<String, Value>>(&doc.body).ok(),
        );
        let (Some(source), Some(document), Some(json)) = parsed else {
            tracing::debug!(
                issuer,
                "the stored discovery document does not parse: fetched again"
            );
            return None;
        };
        match checked(issuer, source, document, &json) {
            Ok(m) => Some((doc.expires_at, Arc::new(m))),
            Err(refusal) => {
                tracing::debug!(
                    issuer,
                    ?refusal,
                    "the stored discovery document is refused: fetched again"
                );
                None
            }
        }
    }

    /// The document of `kind` the store keeps for `issuer`, while it is fresh
    /// ([`freshness::remaining`]); none without a store, and none (with a warning) when the
    /// store cannot be read.
    pub(super) fn stored_fresh(
        &self,
        issuer: &str,
        kind: DiscoveryKind,
    ) -> Option<StoredDiscovery> {
        let store = self.store.as_ref()?;
        let doc = match store.read_discovery(issuer, kind) {
            Ok(doc) => doc?,
            Err(e) => {
                tracing::warn!(issuer, kind = kind.as_str(), error = %e, "could not read a stored discovery document");
                return None;
            }
        };
        freshness::remaining(doc.expires_at, self.clock.now())?;
        Some(doc)
    }

    async fn fetch(
        &self,
        http: &HttpClient,
        retrier: &Retrier,
        issuer: &str,
        correlation_id: &str,
    ) -> Result<Fetched> {
        let mut tried = Vec::new();
        for WellKnown { document, url } in well_known_urls(issuer)? {
            let req = discovery_request(url.clone());
            let resp = retrier
                .run(
                    url.as_str(),
                    Idempotence::Repeatable,
                    Gate::Guarded,
                    |_| async {
                        let resp = http.send(&req, correlation_id).await?;
                        if resp.status == 429 || resp.status >= 500 {
                            let body = ParsedBody::parse(resp.content_type(), &resp.body);
                            return Err(classify_response(
                                RequestKind::Discovery,
                                resp.status,
                                &body,
                                resp.evidence.clone(),
                            ));
                        }
                        Ok(resp)
                    },
                )
                .await?;
            let body = ParsedBody::parse(resp.content_type(), &resp.body);
            match resp.status {
                200 => {
                    let ParsedBody::Json(doc) = &body else {
                        return Err(classify_missing(
                            RequestKind::Discovery,
                            200,
                            &body,
                            MissingField::NotStructured,
                            resp.evidence,
                        ));
                    };
                    let metadata = match checked(issuer, url.clone(), document, doc) {
                        Ok(m) => m,
                        Err(Refusal::Missing(missing)) => {
                            return Err(classify_missing(
                                RequestKind::Discovery,
                                200,
                                &body,
                                missing,
                                resp.evidence,
                            ));
                        }
                        Err(Refusal::OtherIssuer(claimed)) => {
                            return Err(other_issuer(issuer, &url, &claimed)
                                .with_http(resp.evidence)
                                .with_delivery(Delivery::Answered));
                        }
                    };
                    return Ok(Fetched {
                        freshness: Freshness::of(&resp.headers, resp.received_at, self.ttl),
                        body: Value::Object(doc.clone()).to_string(),
                        metadata,
                    });
                }
                400 | 401 | 403 | 404 | 405 | 406 | 410 => {
                    tried.push(format!("{url} ({})", resp.status));
                }
                status => {
                    return Err(classify_response(
                        RequestKind::Discovery,
                        status,
                        &body,
                        resp.evidence,
                    ));
                }
            }
        }
        Err(no_document(issuer, &tried))
    }
}

/// A document fetched: what it says, the JSON as kept, and for how long it may be used.
struct Fetched {
    metadata: Metadata,
    body: String,
    freshness: Freshness,
}

/// The Config error for a document at `url` that names `claimed`, not the configured issuer.
pub(crate) fn other_issuer(issuer: &str, url: &Url, claimed: &str) -> Error {
    Error::config(format!(
        "the discovery document at {url} names issuer `{claimed}`, not the configured `{issuer}`: \
         refusing it (an authorization server must not be mixed up with another)"
    ))
    .with_hint(format!(
        "if `{claimed}` is the right server, set issuer to exactly that; otherwise check the issuer URL"
    ))
}

/// The Config error for an issuer none of whose well-known URLs answered with a document;
/// `tried` lists each URL with its status.
pub(crate) fn no_document(issuer: &str, tried: &[String]) -> Error {
    Error::new(
        ErrorKind::Config,
        format!(
            "issuer `{issuer}` publishes no discovery document: tried {}",
            tried.join(" and ")
        ),
    )
    .with_hint(
        "check the issuer URL, or set token_endpoint and authorization_endpoint in the profile",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(issuer: &str) -> Vec<String> {
        well_known_urls(issuer)
            .unwrap()
            .into_iter()
            .map(|w| w.url.to_string())
            .collect()
    }

    #[test]
    fn well_known_urls_follow_the_rfcs_and_the_servers() {
        assert_eq!(
            urls("https://as.example.com"),
            [
                "https://as.example.com/.well-known/oauth-authorization-server",
                "https://as.example.com/.well-known/openid-configuration"
            ]
        );
        assert_eq!(
            urls("https://as.example.com/tenant/v2.0/"),
            [
                "https://as.example.com/.well-known/oauth-authorization-server/tenant/v2.0",
                "https://as.example.com/tenant/v2.0/.well-known/oauth-authorization-server",
                "https://as.example.com/tenant/v2.0/.well-known/openid-configuration"
            ]
        );
    }

    #[test]
    fn issuer_comparison() {
        assert!(same_issuer("https://a.example", "https://a.example/"));
        assert!(!same_issuer("https://a.example", "https://b.example"));
    }
}
