//! More of the [`Store`] contract, run on every store by the `contract!` list of the parent
//! module: the breaker records listed, the refresh token's horizon, tokens kept aside when a
//! write failed and stored by the next read, the revocations a logout could not make, and the
//! discovery documents kept for other processes.

use super::{discovery_of, t0, tokens};
use std::time::Duration;
use tokenwarden::clock::ManualClock;
use tokenwarden::error::Cause;
use tokenwarden::http::TokenTypeHint;
use tokenwarden::secret::SecretString;
use tokenwarden::store::DiscoveryKind::{KeySet, Metadata};
use tokenwarden::store::{
    BreakerRecord, CasOutcome, LastError, Store, StoredDiscovery, TokenState, Version,
};
use tokenwarden::token::TokenSet;

pub fn breaker_records_are_listed_by_key(s: &dyn Store, _: &ManualClock) {
    assert!(s.breaker_records().unwrap().is_empty());
    let rec = |n: u32| BreakerRecord {
        consecutive_failures: n,
        open_until: Some(t0() + Duration::from_secs(u64::from(n))),
        last_retry_after: Some(Duration::from_millis(250)),
        updated_at: t0(),
    };
    s.save("https://b.example/token", &rec(2)).unwrap();
    s.save("https://a.example/token", &rec(1)).unwrap();
    assert_eq!(
        s.breaker_records().unwrap(),
        vec![
            ("https://a.example/token".to_string(), rec(1)),
            ("https://b.example/token".to_string(), rec(2)),
        ]
    );
}

/// A token set whose refresh token expires at a known time.
fn with_horizon(tag: &str, secs: u64) -> TokenSet {
    TokenSet {
        refresh_token_expires_at: Some(t0() + Duration::from_secs(secs)),
        ..tokens(tag)
    }
}

pub fn the_refresh_token_horizon_round_trips(s: &dyn Store, _: &ManualClock) {
    let v1 = s.replace("p", &with_horizon("1", 86_400)).unwrap();
    assert_eq!(
        s.read("p").unwrap().unwrap().tokens,
        with_horizon("1", 86_400)
    );
    let v2 = s
        .write_if_version("p", v1, &with_horizon("2", 172_800))
        .unwrap()
        .written()
        .expect("written");
    let r = s.read("p").unwrap().unwrap();
    assert_eq!(r.version, v2);
    assert_eq!(
        r.tokens.refresh_token_expires_at,
        Some(t0() + Duration::from_secs(172_800))
    );
    // Back to unknown: the column is cleared, not kept from before.
    s.write_if_version("p", v2, &tokens("3")).unwrap();
    assert_eq!(
        s.read("p")
            .unwrap()
            .unwrap()
            .tokens
            .refresh_token_expires_at,
        None
    );
}

pub fn kept_tokens_are_stored_by_the_next_read(s: &dyn Store, _: &ManualClock) {
    let v1 = s.replace("p", &tokens("1")).unwrap();
    s.keep_unwritten("p", v1, &with_horizon("2", 3600))
        .expect("kept aside");
    let r = s.read("p").unwrap().unwrap();
    assert!(r.version > v1, "stored with a new version");
    assert_eq!(r.tokens, with_horizon("2", 3600));
    assert_eq!(r.state, TokenState::Valid);
    // Stored once: the next read finds nothing more to store.
    assert_eq!(s.read("p").unwrap().unwrap().version, r.version);
    // Kept for a version that a login replaced since: dropped, the login stays.
    s.keep_unwritten("p", r.version, &tokens("stale")).unwrap();
    let login = s.replace("p", &tokens("login")).unwrap();
    let after = s.read("p").unwrap().unwrap();
    assert_eq!((after.version, after.tokens), (login, tokens("login")));
    // A compare-and-swap on the version the stale tokens named conflicts as before.
    assert!(matches!(
        s.write_if_version("p", r.version, &tokens("x")).unwrap(),
        CasOutcome::Conflict(Some(_))
    ));
}

fn pending_of(tag: &str) -> Vec<(TokenTypeHint, SecretString)> {
    vec![
        (
            TokenTypeHint::RefreshToken,
            SecretString::new(format!("refresh-{tag}-PLAINTEXT-MARKER")),
        ),
        (
            TokenTypeHint::AccessToken,
            SecretString::new(format!("access-{tag}-PLAINTEXT-MARKER")),
        ),
    ]
}

pub fn revocations_are_kept_until_settled(s: &dyn Store, _: &ManualClock) {
    assert!(s.pending_revocations("p").unwrap().is_empty());
    let v = s.replace("p", &tokens("1")).unwrap();
    s.replace("other", &tokens("o")).unwrap();
    let why = LastError::new(
        "the revocation endpoint answered 503",
        Some(Cause::ProviderOutage),
    );
    // A stale version deletes nothing.
    let stale = Version::NONE;
    assert!(!s.delete_keeping_revocations("p", stale, &[], &why).unwrap());
    assert!(s.read("p").unwrap().is_some());
    assert!(
        s.delete_keeping_revocations("p", v, &pending_of("1"), &why)
            .unwrap()
    );
    assert!(s.read("p").unwrap().is_none(), "logged out");
    assert!(s.read("other").unwrap().is_some());
    assert!(s.pending_revocations("other").unwrap().is_empty());
    let pending = s.pending_revocations("p").unwrap();
    let seen: Vec<(TokenTypeHint, &str, u32)> = pending
        .iter()
        .map(|p| (p.hint, p.token.expose(), p.attempts))
        .collect();
    assert_eq!(
        seen,
        vec![
            (TokenTypeHint::RefreshToken, "refresh-1-PLAINTEXT-MARKER", 1),
            (TokenTypeHint::AccessToken, "access-1-PLAINTEXT-MARKER", 1),
        ]
    );
    assert_eq!(pending[0].last_error.as_ref(), Some(&why));
    assert!(pending.iter().all(|p| p.profile == "p"));
    assert!(!format!("{pending:?}").contains("PLAINTEXT-MARKER"));
    // A failure again is counted; a success forgets the token.
    let again = LastError::new("connection refused", Some(Cause::Connect));
    s.settle_revocation(pending[0].id, Some(&again)).unwrap();
    s.settle_revocation(pending[1].id, None).unwrap();
    let left = s.pending_revocations("p").unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].id, pending[0].id);
    assert_eq!(left[0].attempts, 2);
    assert_eq!(left[0].last_error.as_ref(), Some(&again));
    // A new login of the profile leaves them pending.
    s.replace("p", &tokens("2")).unwrap();
    assert_eq!(s.pending_revocations("p").unwrap().len(), 1);
    s.settle_revocation(left[0].id, None).unwrap();
    assert!(s.pending_revocations("p").unwrap().is_empty());
}

pub fn discovery_documents_are_kept_per_issuer(s: &dyn Store, _: &ManualClock) {
    let (a, b) = ("https://a.example", "https://b.example");
    // An issuer's key set is kept beside its metadata, and forgotten apart from it.
    let keys = StoredDiscovery {
        kind: KeySet,
        source: format!("{a}/jwks"),
        document: "jwk_set".to_string(),
        body: r#"{"keys":[]}"#.to_string(),
        ..discovery_of(a, "https://a.example/token")
    };
    s.write_discovery(&keys).unwrap();
    assert_eq!(s.read_discovery(a, Metadata).unwrap(), None);
    assert_eq!(s.read_discovery(a, Metadata).unwrap(), None);
    s.write_discovery(&discovery_of(a, "https://a.example/token"))
        .unwrap();
    s.write_discovery(&discovery_of(b, "https://b.example/token"))
        .unwrap();
    assert_eq!(
        s.read_discovery(a, Metadata).unwrap(),
        Some(discovery_of(a, "https://a.example/token"))
    );
    // A newer document replaces the one kept.
    let newer = StoredDiscovery {
        fetched_at: t0() + Duration::from_secs(60),
        expires_at: t0() + Duration::from_secs(3660),
        ..discovery_of(a, "https://a.example/v2/token")
    };
    s.write_discovery(&newer).unwrap();
    assert_eq!(s.read_discovery(a, Metadata).unwrap(), Some(newer));
    s.forget_discovery(a, Metadata).unwrap();
    s.forget_discovery(a, Metadata).unwrap();
    assert_eq!(s.read_discovery(a, Metadata).unwrap(), None);
    assert_eq!(
        s.read_discovery(b, Metadata).unwrap(),
        Some(discovery_of(b, "https://b.example/token")),
        "each issuer apart"
    );
    assert_eq!(s.read_discovery(a, KeySet).unwrap(), Some(keys));
    s.forget_discovery(a, KeySet).unwrap();
    assert_eq!(s.read_discovery(a, KeySet).unwrap(), None);
}
