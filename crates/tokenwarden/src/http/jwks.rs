//! The issuer's key set (a JWK Set, RFC 7517 §5, at the metadata's `jwks_uri`), which ID-token
//! signatures are checked with: the one place that decides whether a kept copy is used or the
//! set is fetched ([`Discovery::key_set`]).
//!
//! A key set is kept like the discovery document beside it (see [`super::discovery`]): per
//! issuer, in the process's memory and, with a store, in the store (sealed, bound to its row,
//! a kind of its own: [`DiscoveryKind::KeySet`]), for as long as its response's caching
//! headers allow ([`Freshness`]; `no-store` and `no-cache` keep it out of the store). A kept
//! set is used only for the `jwks_uri` it was fetched from: the metadata's current one. A stored
//! set that does not open, does not parse, or has expired is ignored and fetched again, never an
//! error.
//!
//! Keys rotate: a kept set may lack the key a new ID token is signed with. The ID-token check
//! ([`crate::flow::id_token::validate`]) then asks for the set once more with
//! [`KeySource::Fetched`], which bypasses and replaces the kept copy, and retries once.

use super::discovery::Discovery;
use super::freshness::Freshness;
use super::{Body, HttpClient, HttpRequest, Method, RequestKind};
use crate::error::{Delivery, Error, Result};
use crate::store::{DiscoveryKind, StoredDiscovery};
use jsonwebtoken::jwk::JwkSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use url::Url;

/// The document name a stored key set carries ([`StoredDiscovery::document`]).
pub const DOCUMENT: &str = "jwk_set";

/// Where [`Discovery::key_set`] may take the key set from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    /// What this process holds or the store keeps, while fresh and for the same `jwks_uri`;
    /// else fetched.
    Kept,
    /// Fetched now, replacing the kept copy (which lacked the key an ID token needs).
    Fetched,
}

/// A key set, and whether it was fetched by this call.
#[derive(Debug, Clone)]
pub struct KeySet {
    /// The keys.
    pub keys: Arc<JwkSet>,
    /// Fetched now: not a kept copy, so a key missing from it is not explained by rotation.
    pub fetched: bool,
}

/// A key set held in memory: from where, and until when.
pub(super) struct Kept {
    uri: Url,
    until: SystemTime,
    keys: Arc<JwkSet>,
}

impl Discovery {
    /// The key set at `jwks_uri`, the key set of `issuer` (the profile's, as configured): held
    /// in memory or kept in the store when `source` allows and it is fresh and from that URL;
    /// else fetched, and kept as its caching headers allow. Without an issuer to keep it by, it
    /// is fetched every time.
    pub async fn key_set(
        &self,
        http: &HttpClient,
        issuer: Option<&str>,
        jwks_uri: &Url,
        source: KeySource,
        correlation_id: &str,
    ) -> Result<KeySet> {
        let Some(issuer) = issuer else {
            let fetched = fetch(http, jwks_uri, self.ttl, correlation_id).await?;
            return Ok(KeySet {
                keys: Arc::new(fetched.keys),
                fetched: true,
            });
        };
        if source == KeySource::Kept {
            if let Some(keys) = self.held_key_set(issuer, jwks_uri) {
                return Ok(KeySet {
                    keys,
                    fetched: false,
                });
            }
            if let Some((until, keys)) = self.stored_key_set(issuer, jwks_uri) {
                self.hold_key_set(issuer, jwks_uri, until, keys.clone());
                return Ok(KeySet {
                    keys,
                    fetched: false,
                });
            }
        }
        let fetched = fetch(http, jwks_uri, self.ttl, correlation_id).await?;
        let keys = Arc::new(fetched.keys);
        let fetched_at = self.clock.now();
        let until = fetched_at + fetched.freshness.lifetime;
        self.hold_key_set(issuer, jwks_uri, until, keys.clone());
        let row = StoredDiscovery {
            issuer: issuer.to_string(),
            kind: DiscoveryKind::KeySet,
            source: jwks_uri.to_string(),
            document: DOCUMENT.to_string(),
            body: fetched.body,
            fetched_at,
            expires_at: until,
        };
        self.keep_key_set(row, fetched.freshness, source);
        Ok(KeySet {
            keys,
            fetched: true,
        })
    }

    /// The key set this process holds for `issuer`, when fresh and from `jwks_uri`.
    fn held_key_set(&self, issuer: &str, jwks_uri: &Url) -> Option<Arc<JwkSet>> {
        let now = self.clock.now();
        let held = self.key_sets.lock().unwrap_or_else(|e| e.into_inner());
        let kept = held.get(issuer)?;
        (kept.uri == *jwks_uri && now < kept.until).then(|| kept.keys.clone())
    }

    fn hold_key_set(&self, issuer: &str, jwks_uri: &Url, until: SystemTime, keys: Arc<JwkSet>) {
        let kept = Kept {
            uri: jwks_uri.clone(),
            until,
            keys,
        };
        self.key_sets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(issuer.to_string(), kept);
    }

    /// Writes a fetched key set to the store when its headers allow; a set fetched to replace
    /// a kept one that may not be stored removes the stored one instead, so that the next
    /// process does not start from the set found wanting.
    fn keep_key_set(&self, row: StoredDiscovery, freshness: Freshness, source: KeySource) {
        let Some(store) = &self.store else { return };
        let kept = if freshness.storable {
            store.write_discovery(&row)
        } else if source == KeySource::Fetched {
            store.forget_discovery(&row.issuer, DiscoveryKind::KeySet)
        } else {
            Ok(())
        };
        if let Err(e) = kept {
            tracing::warn!(issuer = %row.issuer, error = %e, "could not keep the key set in the store");
        }
    }

    /// The key set the store keeps for `issuer`, when it opens, is fresh, was fetched from
    /// `jwks_uri` and parses; with until when it may be used. Anything else is no key set.
    fn stored_key_set(&self, issuer: &str, jwks_uri: &Url) -> Option<(SystemTime, Arc<JwkSet>)> {
        let doc = self.stored_fresh(issuer, DiscoveryKind::KeySet)?;
        if doc.source != jwks_uri.as_str() || doc.document != DOCUMENT {
            tracing::debug!(
                issuer,
                "the stored key set is for another jwks_uri: fetched again"
            );
            return None;
        }
        match serde_json::from_str::<JwkSet>(&doc.body) {
            Ok(keys) => Some((doc.expires_at, Arc::new(keys))),
            Err(e) => {
                tracing::debug!(issuer, error = %e, "the stored key set does not parse: fetched again");
                None
            }
        }
    }
}

/// A key set fetched: its keys, the JSON as received, and for how long it may be used.
struct Fetched {
    keys: JwkSet,
    body: String,
    freshness: Freshness,
}

/// Fetches the key set at `jwks_uri` once (`ttl`: how long it may be kept when its headers
/// do not say).
async fn fetch(
    http: &HttpClient,
    jwks_uri: &Url,
    ttl: Duration,
    correlation_id: &str,
) -> Result<Fetched> {
    let req = HttpRequest {
        kind: RequestKind::Discovery,
        method: Method::Get,
        url: jwks_uri.clone(),
        headers: Vec::new(),
        body: Body::None,
    };
    let resp = http.send(&req, correlation_id).await?;
    if resp.status != 200 {
        return Err(Error::protocol(format!(
            "the issuer's key set at {jwks_uri} answered {}",
            resp.status
        ))
        .with_http(resp.evidence)
        .with_delivery(Delivery::Answered));
    }
    let keys: JwkSet = serde_json::from_slice(&resp.body).map_err(|e| {
        Error::protocol(format!(
            "the issuer's key set at {jwks_uri} is not a JWKS: {e}"
        ))
        .with_http(resp.evidence.clone())
        .with_delivery(Delivery::Answered)
    })?;
    Ok(Fetched {
        keys,
        // It parsed as JSON, so it is UTF-8 and nothing is replaced.
        body: String::from_utf8_lossy(&resp.body).into_owned(),
        freshness: Freshness::of(&resp.headers, resp.received_at, ttl),
    })
}
