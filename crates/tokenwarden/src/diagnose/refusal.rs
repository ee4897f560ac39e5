//! Why the provider refused a profile's refresh token (`invalid_grant`), told apart from what
//! the store and the event log recorded, so that `doctor` names the cause and its fix:
//!
//! - [`Refusal::PossiblyLostRotation`]: a refresh before the refusal got no usable answer (a
//!   5xx, a timeout, a lost connection; or a process stopped mid-refresh, which the store's
//!   `refresh_failure_transient` flag remembers, and the cause the session stored with its
//!   login-required mark names). The provider may have rotated the refresh token all the
//!   same; the next refresh presented the replaced one.
//! - [`Refusal::SharedRefreshToken`]: another program presented the same refresh token, a
//!   rotation race outside tokenwarden's coordination. tokenwarden refreshes a profile under one
//!   lock and re-reads the store first, so it never presents a refresh token it has rotated
//!   itself; the signs of someone else doing so are the provider reporting *reuse*, or a refusal
//!   within [`RACE_WINDOW`] of this store's own successful refresh.
//! - [`Refusal::Revoked`]: neither: the provider revoked the session (or the refresh token
//!   reached its maximum lifetime).

use super::Check;
use crate::config::Profile;
use crate::error::{Cause, Delivery, ErrorKind, OAuthErrorCode};
use crate::store::{Event, Operation, Outcome, Store, StoredTokens};
use std::time::{Duration, SystemTime};

/// A refusal this soon after this store's own successful refresh is read as a second client
/// sharing the refresh token: tokenwarden itself presents the new token only after storing it,
/// and a provider revocation in so short a time is the unlikely explanation.
pub const RACE_WINDOW: Duration = Duration::from_secs(10 * 60);

/// Why the refresh token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The provider revoked the session (or the refresh token expired).
    Revoked,
    /// An earlier refresh's answer was lost after the provider rotated the refresh token.
    PossiblyLostRotation,
    /// Another program uses the same refresh token (a rotation race outside tokenwarden).
    SharedRefreshToken,
}

/// What the event log says happened before the refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Findings {
    /// The cause.
    pub refusal: Refusal,
    /// The refresh that was refused, when the log has it.
    pub refused: Option<Event>,
    /// The refresh before it that got no usable answer (lost rotation), or that succeeded just
    /// before (shared refresh token).
    pub before: Option<Event>,
    /// The provider's answer said the refresh token was reused.
    pub reuse_reported: bool,
}

/// The OAuth `error_description` in a stored reason such as `invalid_grant: the token was
/// revoked`.
fn description(reason: &str) -> Option<&str> {
    reason
        .split_once(": ")
        .map(|(_, d)| d.trim())
        .filter(|d| !d.is_empty())
}

/// True when an `error_description` reports the reuse of an already rotated refresh token
/// (RFC 9700 §4.14.2 reuse detection), as providers word it.
pub fn reports_reuse(description: &str) -> bool {
    let d = description.to_ascii_lowercase();
    [
        "reuse",
        "already used",
        "already been used",
        "already rotated",
        "already redeemed",
    ]
    .iter()
    .any(|w| d.contains(w))
}

fn is_refusal(e: &Event) -> bool {
    e.operation == Operation::Refresh
        && (e.oauth_error == Some(OAuthErrorCode::InvalidGrant)
            || e.outcome == Outcome::Failed(ErrorKind::LoginRequired))
}

/// A failed token request the provider may have processed all the same, by the one rule
/// ([`Delivery::may_have_been_processed`]) applied to the delivery its record keeps. A record
/// written before the log kept deliveries counts as answered when it has a status, and as
/// possibly processed when it has none, as was assumed then.
fn maybe_processed(e: &Event) -> bool {
    if e.outcome.is_success() {
        return false;
    }
    let delivery = e.delivery.unwrap_or(if e.status.is_some() {
        Delivery::Answered
    } else {
        Delivery::MaybeProcessed
    });
    delivery.may_have_been_processed(e.status, e.oauth_error.as_ref())
}

/// True when the store says the refusal followed a refresh that may have been processed: the
/// cause the session stored with its login-required mark, or (for a mark made before the
/// store kept causes) the in-flight flag, which a lost rotation keeps. A process killed
/// mid-refresh leaves no event, and to the provider its refresh looks like another client's:
/// only this tells them apart.
fn marked_lost(stored: &StoredTokens) -> bool {
    stored.state.cause() == Some(Cause::PossiblyLostRotation) || stored.refresh_failure_transient
}

/// Classifies the refusal of `stored` (marked login-required for `reason`): the cause stored
/// with the mark first, then the events of its profile, oldest first. A stored
/// [`Cause::RefreshTokenRevoked`] only says that no lost answer was known to the session: a
/// second client sharing the refresh token is told from a revocation by the evidence.
pub fn classify(stored: &StoredTokens, reason: &str, events: &[Event]) -> Findings {
    let reuse_reported = description(reason).is_some_and(reports_reuse);
    let at = events.iter().rposition(is_refusal);
    let refused = at.map(|i| events[i].clone());
    let mut lost = None;
    let mut success = None;
    if let Some(i) = at {
        for e in events[..i].iter().rev() {
            let op = e.operation;
            if e.delivery == Some(Delivery::NotSent) {
                // The server never saw it: it says nothing about the refresh token.
                continue;
            }
            if !op.obtains_tokens() {
                continue;
            }
            if op == Operation::Refresh && e.outcome == Outcome::Ok {
                success = Some(e.clone());
            } else if op == Operation::Refresh && maybe_processed(e) {
                lost = Some(e.clone());
            }
            break;
        }
    }
    let recent_success = match (&success, &refused) {
        (Some(s), Some(r)) => {
            r.at.duration_since(s.at)
                .is_ok_and(|gap| gap <= RACE_WINDOW)
        }
        _ => false,
    };
    let (refusal, before) = if lost.is_some() || marked_lost(stored) {
        (Refusal::PossiblyLostRotation, lost)
    } else if reuse_reported || recent_success {
        (
            Refusal::SharedRefreshToken,
            success.filter(|_| recent_success),
        )
    } else {
        (Refusal::Revoked, None)
    };
    Findings {
        refusal,
        refused,
        before,
        reuse_reported,
    }
}

fn when(t: SystemTime) -> String {
    crate::human::timestamp(t)
}

/// `[HTTP 400; request id …; correlation id …]`, or nothing.
fn evidence(e: &Event) -> String {
    let mut parts = Vec::new();
    if let Some(s) = e.status {
        parts.push(format!("HTTP {s}"));
    }
    if let Some(r) = &e.request_id {
        parts.push(format!("request id {r}"));
    }
    if let Some(c) = &e.correlation_id {
        parts.push(format!("correlation id {c}"));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" [{}]", parts.join("; "))
    }
}

/// "the refresh at T was refused with invalid_grant ("…") [evidence]".
fn refused_phrase(f: &Findings, reason: &str) -> String {
    let said = match description(reason) {
        Some(d) => format!("invalid_grant (\"{d}\")"),
        None => reason.to_string(),
    };
    match &f.refused {
        Some(r) => format!(
            "the refresh at {} was refused with {said}{}",
            when(r.at),
            evidence(r)
        ),
        None => format!("the provider refused the refresh token with {said}"),
    }
}

/// The failed attempt's answer, in words: "the refresh at T got HTTP 500 [evidence]".
fn failure_phrase(e: &Event) -> String {
    let answer = match e.status {
        Some(s) => format!("HTTP {s}"),
        None => "no answer (a timeout or a lost connection)".to_string(),
    };
    let mut ids = e.clone();
    ids.status = None;
    format!(
        "the refresh at {} got {answer}{}",
        when(e.at),
        evidence(&ids)
    )
}

/// How long after `earlier` `later` came, for a person.
fn gap(earlier: SystemTime, later: SystemTime) -> String {
    match later.duration_since(earlier) {
        Ok(d) if d >= Duration::from_secs(1) => {
            crate::human::duration(Duration::from_secs(d.as_secs()))
        }
        _ => "less than a second".to_string(),
    }
}

/// The `token` check of a profile whose refresh token was refused with `invalid_grant`: the
/// cause, with the evidence and the fix.
pub fn check(p: &Profile, stored: &StoredTokens, reason: &str, store: &dyn Store) -> Check {
    let since = stored
        .tokens
        .obtained_at
        .checked_sub(Duration::from_secs(300))
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let events = match crate::events::load(store, since, Some(&p.name)) {
        Ok(list) => list,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the event log");
            Vec::new()
        }
    };
    let f = classify(stored, reason, &events);
    let login = format!("run `tokenwarden --profile {} login`", p.name);
    let refused = refused_phrase(&f, reason);
    match f.refusal {
        Refusal::PossiblyLostRotation => {
            let what = match &f.before {
                Some(e) => format!(
                    "{}, and the provider may have rotated the refresh token before that answer was lost; then {refused}: the provider no longer accepts the refresh token it replaced",
                    failure_phrase(e)
                ),
                None => format!(
                    "an earlier refresh of these tokens never had its answer stored (a 5xx, a timeout, or a process stopped mid-refresh), and the provider may have rotated the refresh token in it; then {refused}: the provider no longer accepts the refresh token it replaced"
                ),
            };
            let see = if f.before.is_some() {
                format!(
                    "; `tokenwarden --profile {} events` shows the failed refresh",
                    p.name
                )
            } else {
                String::new()
            };
            Check::fail(
                "token",
                format!(
                    "a new login is needed: a refresh-token rotation was probably lost: {what}"
                ),
                format!(
                    "{login}. To keep a lost answer from costing a login again, use the provider's refresh-token reuse grace period (it accepts the previous refresh token for a few seconds after a rotation, so the retry gets the new one) if it offers one{see}"
                ),
            )
        }
        Refusal::SharedRefreshToken => {
            let sign = match &f.before {
                Some(ok) => format!(
                    "{refused} only {} after this store's own refresh at {} succeeded{}",
                    gap(ok.at, f.refused.as_ref().map_or(ok.at, |r| r.at)),
                    when(ok.at),
                    ok.correlation_id
                        .as_ref()
                        .map(|c| format!(" (correlation id {c})"))
                        .unwrap_or_default()
                ),
                None => format!(
                    "{refused}: the provider saw this refresh token used again after it had been rotated"
                ),
            };
            Check::fail(
                "token",
                format!(
                    "a new login is needed: another program shares this refresh token: {sign}. tokenwarden refreshes under one lock and re-reads the store first, so it never presents a refresh token it has rotated itself: a client outside its coordination (another tool, a copy of the credentials, another machine) used it"
                ),
                format!(
                    "{login}, then keep the refresh token in tokenwarden alone: only one program may hold this refresh token; let the others get their access token from `tokenwarden --profile {0} token` (or run them with `tokenwarden --profile {0} exec -- COMMAND`)",
                    p.name
                ),
            )
        }
        Refusal::Revoked => Check::fail(
            "token",
            format!(
                "a new login is needed: the provider revoked the session: {refused}, and the event log shows neither a lost answer nor another client before it"
            ),
            format!(
                "{login}; a revocation comes from the provider's side (a sign-out of all sessions, a password change, an administrator, the app's access removed, or the refresh token's maximum lifetime): if it keeps happening soon after a login, ask the provider's administrator"
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{LastError, TokenState, Version};

    fn t(s: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_750_000_000 + s)
    }

    fn stored(transient: bool) -> StoredTokens {
        StoredTokens {
            profile: "p".into(),
            tokens: crate::token::TokenSet {
                access_token: crate::secret::AccessToken::new("at"),
                token_type: "Bearer".into(),
                refresh_token: Some(crate::secret::RefreshToken::new("rt")),
                id_token: None,
                expires_at: Some(t(3600)),
                scopes: Vec::new(),
                obtained_at: t(0),
                refresh_token_obtained_at: Some(t(0)),
                refresh_token_expires_at: None,
                subject: None,
                issuer: None,
            },
            version: Version::from_raw(3),
            state: TokenState::LoginRequired {
                reason: "invalid_grant: nope".into(),
                cause: None,
            },
            last_error: None,
            last_refresh_at: Some(t(4000)),
            refresh_failure_transient: transient,
            updated_at: t(4000),
        }
    }

    /// A record of `op` ending with `outcome`, both by their stored names.
    fn ev(at: u64, op: &str, outcome: &str, status: Option<u16>, oauth: Option<&str>) -> Event {
        let mut e = Event::new(
            t(at),
            "p",
            Operation::parse(op).expect("an operation"),
            Outcome::parse(outcome).expect("an outcome"),
        );
        e.status = status;
        e.oauth_error = oauth.map(OAuthErrorCode::parse);
        e.correlation_id = Some(format!("tw-{at}"));
        e
    }

    fn refusal(at: u64) -> Event {
        ev(
            at,
            "refresh",
            "login_required",
            Some(400),
            Some("invalid_grant"),
        )
    }

    #[test]
    fn a_5xx_or_a_timeout_before_the_refusal_is_a_lost_rotation() {
        for failed in [
            ev(100, "refresh", "retried", Some(500), Some("server_error")),
            ev(100, "refresh", "provider_unavailable", Some(502), None),
            ev(100, "refresh", "provider_unavailable", None, None),
        ] {
            let events = vec![
                ev(0, "code_exchange", "ok", Some(200), None),
                failed.clone(),
                ev(150, "resource", "unauthorized", Some(401), None),
                refusal(200),
            ];
            let f = classify(&stored(false), "invalid_grant: reuse detected", &events);
            assert_eq!(f.refusal, Refusal::PossiblyLostRotation, "{failed:?}");
            assert_eq!(f.before, Some(failed));
        }
        // The store's flag alone (a process killed mid-refresh leaves no event).
        let f = classify(&stored(true), "invalid_grant", &[refusal(200)]);
        assert_eq!(f.refusal, Refusal::PossiblyLostRotation);
    }

    fn marked(cause: Cause, last_error: &str) -> StoredTokens {
        StoredTokens {
            state: TokenState::LoginRequired {
                reason: "invalid_grant: nope".into(),
                cause: Some(cause),
            },
            last_error: Some(LastError::new(last_error, None)),
            ..stored(false)
        }
    }

    #[test]
    fn the_stored_cause_names_a_lost_rotation_whatever_the_words() {
        // A process killed mid-refresh leaves no event; the session's mark says what it was.
        let lost = marked(Cause::PossiblyLostRotation, "the provider refused it");
        for events in [&[refusal(200)][..], &[]] {
            let f = classify(&lost, "invalid_grant", events);
            assert_eq!(f.refusal, Refusal::PossiblyLostRotation, "{events:?}");
        }
        // Even right after our own refresh, which would otherwise read as a second client.
        let events = [ev(100, "refresh", "ok", Some(200), None), refusal(160)];
        let f = classify(&lost, "invalid_grant", &events);
        assert_eq!(f.refusal, Refusal::PossiblyLostRotation);
        // The words of the recorded error decide nothing: a revocation stays one.
        let words = "the provider probably rotated the refresh token: the answer was lost";
        for stored in [
            marked(Cause::RefreshTokenRevoked, words),
            StoredTokens {
                last_error: Some(LastError::new(words, None)),
                ..stored(false)
            },
        ] {
            let f = classify(&stored, "invalid_grant: token revoked", &[refusal(200)]);
            assert_eq!(f.refusal, Refusal::Revoked, "{stored:?}");
        }
        // A revocation mark with the signs of a second client is told apart by the evidence.
        let f = classify(
            &marked(Cause::RefreshTokenRevoked, "revoked"),
            "invalid_grant: refresh token reuse detected",
            &[refusal(200)],
        );
        assert_eq!(f.refusal, Refusal::SharedRefreshToken);
    }

    #[test]
    fn reuse_or_a_refusal_right_after_our_own_refresh_is_a_shared_token() {
        let f = classify(
            &stored(false),
            "invalid_grant: refresh token reuse: the session is revoked",
            &[ev(0, "code_exchange", "ok", Some(200), None), refusal(200)],
        );
        assert_eq!(f.refusal, Refusal::SharedRefreshToken);
        assert!(f.reuse_reported);

        let events = [ev(100, "refresh", "ok", Some(200), None), refusal(160)];
        let f = classify(&stored(false), "invalid_grant: token revoked", &events);
        assert_eq!(f.refusal, Refusal::SharedRefreshToken);
        assert_eq!(f.before.as_ref().map(|e| e.at), Some(t(100)));
    }

    #[test]
    fn a_request_that_never_left_says_nothing_and_a_lost_one_is_found_behind_it() {
        let sent = |at, delivery| Event {
            delivery: Some(delivery),
            ..ev(at, "refresh", "provider_unavailable", None, None)
        };
        // A DNS, connect or TLS failure never reached the provider: no lost rotation.
        let events = [sent(100, Delivery::NotSent), refusal(200)];
        let f = classify(&stored(false), "invalid_grant: token revoked", &events);
        assert_eq!(f.refusal, Refusal::Revoked);
        // A timeout after sending may have been processed, even behind a later DNS failure.
        let lost = sent(50, Delivery::MaybeProcessed);
        let events = [lost.clone(), sent(100, Delivery::NotSent), refusal(200)];
        let f = classify(&stored(false), "invalid_grant: token revoked", &events);
        assert_eq!(f.refusal, Refusal::PossiblyLostRotation);
        assert_eq!(f.before, Some(lost));
    }

    #[test]
    fn otherwise_a_revocation() {
        let long_after = [
            ev(100, "refresh", "ok", Some(200), None),
            refusal(100 + RACE_WINDOW.as_secs() + 1),
        ];
        let after_login = [ev(0, "code_exchange", "ok", Some(200), None), refusal(5)];
        // A clean refusal earlier is no lost answer.
        let clean = [
            ev(0, "refresh", "config", Some(400), Some("invalid_client")),
            refusal(5),
        ];
        for events in [&long_after[..], &after_login, &clean, &[]] {
            let f = classify(&stored(false), "invalid_grant: token revoked", events);
            assert_eq!(f.refusal, Refusal::Revoked, "{events:?}");
        }
    }

    #[test]
    fn reuse_wording() {
        for d in [
            "refresh token reuse detected",
            "Token has already been used",
            "the refresh token was already rotated",
        ] {
            assert!(reports_reuse(d), "{d}");
        }
        for d in ["the refresh token was revoked; log in again", "expired"] {
            assert!(!reports_reuse(d), "{d}");
        }
    }
}
