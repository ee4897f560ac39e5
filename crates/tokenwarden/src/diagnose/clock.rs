//! Clock skew: how far the local clock is from the provider's, measured from the `Date` header
//! of the provider's answers (`clock`) and from the `iat` claim of the stored tokens when they
//! are JWTs (`clock_iat`: the issue time compared with when we received them). Warn over
//! [`SKEW_WARN`], fail over [`SKEW_FAIL`].

use super::{Check, SKEW_FAIL, SKEW_WARN};
use crate::token::TokenSet;
use base64::Engine as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// One measurement: local minus provider, in seconds (negative: the local clock is behind).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    /// Where it came from, e.g. `the Date header of GET https://…/.well-known/…`.
    pub source: String,
    /// Local minus provider, in seconds.
    pub skew_secs: i64,
}

/// The measurements gathered while diagnosing.
#[derive(Debug, Clone, Default)]
pub struct Observations {
    /// From `Date` headers.
    pub date: Vec<Observation>,
    /// From JWT `iat` claims.
    pub iat: Vec<Observation>,
}

impl Observations {
    /// Adds the skew seen in a response's `Date` header received at `received_at`.
    pub fn add_date(&mut self, source: String, date: Option<SystemTime>, received_at: SystemTime) {
        if let Some(date) = date {
            self.date.push(Observation {
                source,
                skew_secs: signed_secs(received_at, date),
            });
        }
    }
}

/// `a - b` in whole seconds.
fn signed_secs(a: SystemTime, b: SystemTime) -> i64 {
    match a.duration_since(b) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

/// The `iat` claim of `token` when it is a JWT (decoded, not verified: only the time is read).
pub fn jwt_iat(token: &str) -> Option<SystemTime> {
    let mut parts = token.split('.');
    let (_, payload, _) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let iat = claims.get("iat")?;
    let secs = iat.as_i64().or_else(|| iat.as_f64().map(|f| f as i64))?;
    let d = Duration::from_secs(secs.unsigned_abs());
    if secs >= 0 {
        UNIX_EPOCH.checked_add(d)
    } else {
        UNIX_EPOCH.checked_sub(d)
    }
}

/// Adds the skew between the `iat` of the stored JWTs and when they were received.
pub fn from_tokens(tokens: &TokenSet, obs: &mut Observations) {
    let candidates = [
        ("ID token", tokens.id_token.as_ref().map(|t| t.expose())),
        ("access token", Some(tokens.access_token.expose())),
    ];
    for (what, token) in candidates {
        if let Some(iat) = token.and_then(jwt_iat) {
            obs.iat.push(Observation {
                source: format!(
                    "the `iat` of the stored {what}, received {}",
                    crate::human::timestamp(tokens.obtained_at)
                ),
                skew_secs: signed_secs(tokens.obtained_at, iat),
            });
        }
    }
}

fn describe(skew: i64) -> String {
    let amount = crate::human::duration(Duration::from_secs(skew.unsigned_abs()));
    if skew >= 0 {
        format!("{amount} ahead of")
    } else {
        format!("{amount} behind")
    }
}

const FIX: &str = "synchronise the local clock (enable NTP: `timedatectl set-ntp true`, chrony or ntpd): token expiry and ID-token checks need it within 30 s of the provider's";

fn judge(name: &'static str, o: &Observation, when: &str) -> Check {
    let abs = Duration::from_secs(o.skew_secs.unsigned_abs());
    let text = format!(
        "the local clock {when} {} the provider's (from {})",
        describe(o.skew_secs),
        o.source
    );
    if abs > SKEW_FAIL {
        Check::fail(name, format!("clock skew: {text}"), FIX)
    } else if abs > SKEW_WARN {
        Check::warn(name, format!("clock skew: {text}"), FIX)
    } else {
        Check::ok(
            name,
            format!(
                "within {} s of the provider's clock (from {})",
                o.skew_secs.unsigned_abs().max(1),
                o.source
            ),
        )
    }
}

/// `clock` (from `Date`) and `clock_iat` (from JWT `iat`), from what was observed. The
/// smallest skew of each kind is judged: `Date` has one-second resolution and an answer's
/// latency only adds to the skew seen. `offline`: the provider was not asked (`--offline`).
pub fn checks(obs: &Observations, offline: bool, checks: &mut Vec<Check>) {
    let smallest = |v: &[Observation]| v.iter().min_by_key(|o| o.skew_secs.abs()).cloned();
    match smallest(&obs.date) {
        Some(o) => checks.push(judge("clock", &o, "is")),
        None if offline => checks.push(Check::warn(
            "clock",
            "not measured: --offline does not ask the provider, whose Date header it is compared with",
            "run doctor without --offline to compare the local clock with the provider's",
        )),
        None => checks.push(Check::warn(
            "clock",
            "not measured: no answer from the provider carried a Date header",
            "fix the connectivity problems above, then run doctor again",
        )),
    }
    if let Some(o) = smallest(&obs.iat) {
        checks.push(judge("clock_iat", &o, "was"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: &str) -> String {
        let e = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        format!("{}.{}.sig", e(r#"{"alg":"ES256"}"#), e(claims))
    }

    #[test]
    fn iat_is_read_from_jwts_only() {
        assert_eq!(
            jwt_iat(&jwt(r#"{"iat":1700000000,"sub":"x"}"#)),
            Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        );
        assert_eq!(jwt_iat("mat_opaque-token"), None);
        assert_eq!(jwt_iat(&jwt(r#"{"sub":"x"}"#)), None);
        assert_eq!(jwt_iat("a.b.c.d"), None);
    }

    #[test]
    fn thresholds() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        for (skew, status) in [
            (0i64, super::super::Status::Ok),
            (-5, super::super::Status::Ok),
            (6, super::super::Status::Warn),
            (-30, super::super::Status::Warn),
            (-31, super::super::Status::Fail),
            (120, super::super::Status::Fail),
        ] {
            let mut obs = Observations::default();
            let date = if skew >= 0 {
                now - Duration::from_secs(skew as u64)
            } else {
                now + Duration::from_secs(skew.unsigned_abs())
            };
            obs.add_date("test".into(), Some(date), now);
            let mut c = Vec::new();
            checks(&obs, false, &mut c);
            assert_eq!(c[0].status, status, "skew {skew}: {:?}", c[0]);
        }
    }
}
