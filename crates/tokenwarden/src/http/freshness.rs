//! How long a response may be kept and whether it may be stored, from its caching headers
//! (RFC 9111 §4.2.1 and §5.2.2): `Cache-Control: max-age`, else `Expires` minus `Date`, else a
//! default; less its `Age`; never longer than [`MAX_LIFETIME`]. `no-store` and `no-cache` keep
//! it out of a store shared by processes. Used for discovery documents and key sets; a kept
//! copy's time left is [`remaining`]'s.

use reqwest::header::{AGE, CACHE_CONTROL, DATE, EXPIRES, HeaderMap};
use std::time::{Duration, SystemTime};

/// The longest a response is kept, whatever its headers say (a provider that moves its
/// endpoints is followed within a day even if it asked for a year).
pub const MAX_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);

/// What a response's caching headers allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Freshness {
    /// How long, from its arrival, it may be used.
    pub lifetime: Duration,
    /// Whether it may be written to a store other processes read (`no-store` and `no-cache`
    /// say no; so does a lifetime of zero).
    pub storable: bool,
}

impl Freshness {
    /// The freshness of a response with `headers` that arrived at `received_at`; `default`
    /// when the headers give no lifetime.
    pub fn of(headers: &HeaderMap, received_at: SystemTime, default: Duration) -> Freshness {
        let mut max_age = None;
        let mut uncacheable = false;
        for directive in headers
            .get_all(CACHE_CONTROL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
        {
            let (name, value) = match directive.split_once('=') {
                Some((n, v)) => (n.trim(), Some(v.trim().trim_matches('"'))),
                None => (directive.trim(), None),
            };
            if name.eq_ignore_ascii_case("no-store") || name.eq_ignore_ascii_case("no-cache") {
                uncacheable = true;
            } else if name.eq_ignore_ascii_case("max-age") && max_age.is_none() {
                // RFC 9111 §1.2.2: too large is as large as can be; unreadable is stale.
                max_age = Some(
                    value
                        .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                        .map_or(Duration::ZERO, |v| {
                            Duration::from_secs(v.parse().unwrap_or(u64::MAX))
                        }),
                );
            }
        }
        let date = |name| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(httpdate::parse_http_date)
        };
        let lifetime = match (max_age, date(EXPIRES)) {
            (Some(age), _) => age,
            // An Expires that does not parse is in the past (RFC 9111 §5.3).
            (None, Some(Err(_))) => Duration::ZERO,
            (None, Some(Ok(expires))) => {
                let base = match date(DATE) {
                    Some(Ok(d)) => d,
                    _ => received_at,
                };
                expires.duration_since(base).unwrap_or(Duration::ZERO)
            }
            (None, None) => default,
        };
        let age = headers
            .get(AGE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map_or(Duration::ZERO, Duration::from_secs);
        let lifetime = lifetime.saturating_sub(age).min(MAX_LIFETIME);
        Freshness {
            lifetime,
            storable: !uncacheable && !lifetime.is_zero(),
        }
    }
}

/// How long a copy kept until `expires_at` may still be used at `now`: `None` once expired, or
/// when it claims more than [`MAX_LIFETIME`] from now (the clock was set back meanwhile, or the
/// copy was not written by these rules).
pub fn remaining(expires_at: SystemTime, now: SystemTime) -> Option<Duration> {
    let left = expires_at.duration_since(now).ok()?;
    (!left.is_zero() && left <= MAX_LIFETIME).then_some(left)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT: Duration = Duration::from_secs(900);

    fn of(pairs: &[(&'static str, &str)]) -> Freshness {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        let received = httpdate::parse_http_date("Mon, 07 Dec 2026 10:00:00 GMT").unwrap();
        Freshness::of(&h, received, DEFAULT)
    }

    fn keep(secs: u64) -> Freshness {
        Freshness {
            lifetime: Duration::from_secs(secs),
            storable: secs > 0,
        }
    }

    #[test]
    fn lifetimes_follow_the_headers_within_bounds() {
        assert_eq!(of(&[]), keep(900), "nothing said: the default");
        assert_eq!(of(&[("cache-control", "public, max-age=3600")]), keep(3600));
        assert_eq!(of(&[("cache-control", "max-age=\"60\"")]), keep(60));
        assert_eq!(
            of(&[("cache-control", "max-age=31536000")]),
            keep(86_400),
            "at most a day"
        );
        assert_eq!(of(&[("cache-control", "max-age=soon")]), keep(0));
        assert_eq!(
            of(&[
                ("cache-control", "max-age=600"),
                ("expires", "Mon, 07 Dec 2026 12:00:00 GMT")
            ]),
            keep(600),
            "max-age wins over Expires"
        );
        assert_eq!(
            of(&[
                ("date", "Mon, 07 Dec 2026 09:00:00 GMT"),
                ("expires", "Mon, 07 Dec 2026 09:30:00 GMT")
            ]),
            keep(1800),
            "Expires counts from the server's Date"
        );
        assert_eq!(
            of(&[("expires", "Mon, 07 Dec 2026 10:05:00 GMT")]),
            keep(300)
        );
        assert_eq!(of(&[("expires", "0")]), keep(0), "a bad date has expired");
        assert_eq!(
            of(&[("cache-control", "max-age=600"), ("age", "100")]),
            keep(500),
            "what a cache on the way held it for is used up"
        );
    }

    #[test]
    fn a_kept_copy_is_used_until_it_expires_and_never_beyond_a_day() {
        let now = httpdate::parse_http_date("Mon, 07 Dec 2026 10:00:00 GMT").unwrap();
        let min = Duration::from_secs(60);
        assert_eq!(remaining(now + min, now), Some(min));
        assert_eq!(remaining(now, now), None, "expired");
        assert_eq!(remaining(now - min, now), None, "expired");
        assert_eq!(remaining(now + MAX_LIFETIME, now), Some(MAX_LIFETIME));
        assert_eq!(
            remaining(now + MAX_LIFETIME + min, now),
            None,
            "too far ahead"
        );
    }

    #[test]
    fn no_store_and_no_cache_are_not_stored() {
        for cc in [
            "no-store",
            "No-Cache",
            "max-age=600, no-store",
            "private, no-cache=\"x\"",
        ] {
            let f = of(&[("cache-control", cc)]);
            assert!(!f.storable, "{cc}");
        }
        assert_eq!(
            of(&[("cache-control", "max-age=600, no-store")]).lifetime,
            Duration::from_secs(600)
        );
    }
}
