//! Discovery documents kept in a store ([`StoredDiscovery`]), so that a new process finds the
//! issuer's metadata and ID-token signing keys without asking the issuer again (see
//! [`crate::discovery::Discovery`] and [`crate::http::jwks`] for how long one is kept and when
//! it is dropped). An issuer has at most one row of each [`DiscoveryKind`]: its metadata, and
//! its key set (JWKS).
//!
//! A document is public, but it says where refresh tokens are sent and which keys sign ID
//! tokens: it is stored sealed with the store's key, bound to its issuer, kind, source, document
//! name and times, so that someone who can write the store (a shared fleet database) but does
//! not hold the key cannot point clients at another token endpoint, slip in a key of theirs, or
//! pass a key set off as metadata. A row that does not open is ignored, like a missing one.

use super::crypto::{Sealer, aad};
use crate::error::Result;
use crate::token::{from_unix_millis, to_unix_millis};
use std::time::SystemTime;

/// What a stored document is to its issuer: the two are kept side by side, each in its own
/// row, and one never opens as the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DiscoveryKind {
    /// The authorization server metadata ([`crate::discovery::Metadata`]).
    Metadata,
    /// The key set at the metadata's `jwks_uri` (RFC 7517 §5), for ID-token signatures.
    KeySet,
}

impl DiscoveryKind {
    /// Its stable name, as stores keep it.
    pub fn as_str(self) -> &'static str {
        match self {
            DiscoveryKind::Metadata => "metadata",
            DiscoveryKind::KeySet => "key_set",
        }
    }

    /// The first part of a seal's associated data: metadata keeps the label it had before key
    /// sets were stored, so that the rows written then still open.
    fn label(self) -> &'static [u8] {
        match self {
            DiscoveryKind::Metadata => b"discovery",
            DiscoveryKind::KeySet => b"key_set",
        }
    }
}

/// An issuer's discovery document as a store keeps it: what was fetched, from where, and how
/// long it may be used. The document is checked again when it is read back, exactly as when it
/// was fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDiscovery {
    /// The issuer, as the profile configures it (with `kind`, the key).
    pub issuer: String,
    /// Metadata or key set (with `issuer`, the key).
    pub kind: DiscoveryKind,
    /// The URL the document was fetched from (for a key set, the `jwks_uri`).
    pub source: String,
    /// Which document it is: a well-known metadata document
    /// ([`crate::discovery::Document::as_str`]), or [`crate::http::jwks::DOCUMENT`].
    pub document: String,
    /// The JSON object as received.
    pub body: String,
    /// When it was fetched.
    pub fetched_at: SystemTime,
    /// Until when it may be used.
    pub expires_at: SystemTime,
}

impl StoredDiscovery {
    /// The same document with its times to the millisecond, as stores keep them.
    pub(crate) fn truncated(&self) -> StoredDiscovery {
        StoredDiscovery {
            fetched_at: super::truncate_ms(self.fetched_at),
            expires_at: super::truncate_ms(self.expires_at),
            ..self.clone()
        }
    }
}

/// The associated data of a stored document's seal: every other column.
fn discovery_aad(
    issuer: &str,
    kind: DiscoveryKind,
    source: &str,
    document: &str,
    fetched: i64,
    expires: i64,
) -> Vec<u8> {
    aad(&[
        kind.label(),
        issuer.as_bytes(),
        source.as_bytes(),
        document.as_bytes(),
        &fetched.to_be_bytes(),
        &expires.to_be_bytes(),
    ])
}

/// A document's columns as stored: the body sealed, the times in Unix milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DiscoveryRow {
    pub(crate) issuer: String,
    pub(crate) kind: DiscoveryKind,
    pub(crate) source: String,
    pub(crate) document: String,
    pub(crate) body: Vec<u8>,
    pub(crate) fetched_at: i64,
    pub(crate) expires_at: i64,
}

impl DiscoveryRow {
    /// The row that stores `doc`, its body sealed with `sealer`.
    pub(crate) fn seal(sealer: &Sealer, doc: &StoredDiscovery) -> Result<DiscoveryRow> {
        let (fetched_at, expires_at) = (
            to_unix_millis(doc.fetched_at),
            to_unix_millis(doc.expires_at),
        );
        let body = sealer.seal(
            doc.body.as_bytes(),
            &discovery_aad(
                &doc.issuer,
                doc.kind,
                &doc.source,
                &doc.document,
                fetched_at,
                expires_at,
            ),
        )?;
        Ok(DiscoveryRow {
            issuer: doc.issuer.clone(),
            kind: doc.kind,
            source: doc.source.clone(),
            document: doc.document.clone(),
            body,
            fetched_at,
            expires_at,
        })
    }

    /// The document this row stores; `None` when its seal does not open with `sealer` (another
    /// key, or a changed row) or the body is not text.
    pub(crate) fn open(self, sealer: &Sealer) -> Option<StoredDiscovery> {
        let aad = discovery_aad(
            &self.issuer,
            self.kind,
            &self.source,
            &self.document,
            self.fetched_at,
            self.expires_at,
        );
        let body = match sealer.open(&self.body, &aad) {
            Ok(body) => String::from_utf8(body).ok()?,
            Err(e) => {
                tracing::debug!(issuer = %self.issuer, error = ?e, "a stored discovery document does not open: ignored");
                return None;
            }
        };
        Some(StoredDiscovery {
            issuer: self.issuer,
            kind: self.kind,
            source: self.source,
            document: self.document,
            body,
            fetched_at: from_unix_millis(self.fetched_at),
            expires_at: from_unix_millis(self.expires_at),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreKey;
    use std::time::Duration;

    fn doc() -> StoredDiscovery {
        let at = from_unix_millis(1_700_000_000_123);
        StoredDiscovery {
            issuer: "https://as.example".into(),
            kind: DiscoveryKind::Metadata,
            source: "https://as.example/.well-known/oauth-authorization-server".into(),
            document: "rfc8414".into(),
            body: r#"{"issuer":"https://as.example","token_endpoint":"https://as.example/token"}"#
                .into(),
            fetched_at: at,
            expires_at: at + Duration::from_secs(900),
        }
    }

    #[test]
    fn a_sealed_row_opens_only_unchanged_and_with_its_key() {
        let sealer = Sealer::new(&StoreKey::from_bytes([7; 32]));
        let row = DiscoveryRow::seal(&sealer, &doc()).expect("seal");
        assert_eq!(row.clone().open(&sealer), Some(doc()));
        let other = Sealer::new(&StoreKey::from_bytes([8; 32]));
        assert_eq!(row.clone().open(&other), None, "another key");
        let mut moved = row.clone();
        moved.issuer = "https://evil.example".into();
        assert_eq!(moved.open(&sealer), None, "bound to its issuer");
        let mut extended = row.clone();
        extended.expires_at += 1;
        assert_eq!(extended.open(&sealer), None, "bound to its times");
        let mut posing = row;
        posing.kind = DiscoveryKind::KeySet;
        assert_eq!(posing.open(&sealer), None, "bound to its kind");
    }
}
