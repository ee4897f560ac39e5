//! The redirect-URI lint: compares a profile's `redirect_uri` with the URIs registered at the
//! provider (`registered_redirect_uris`) the way providers compare them, and names the
//! difference in words, because "redirect_uri mismatch" alone sends people hunting.
//!
//! Providers compare redirect URIs as exact strings (RFC 6749 §3.1.2.3, OAuth 2.0 Security BCP),
//! except that the port of a loopback IP literal (`127.0.0.1`, `[::1]`) may vary, so that a
//! native app can listen on an ephemeral port (RFC 8252 §7.3). `localhost` gets no such
//! exemption (RFC 8252 §8.3).

use std::fmt;
use url::Url;

/// One way a redirect URI differs from a registered one.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RedirectDifference {
    /// One has a trailing slash and the other does not.
    TrailingSlash {
        /// True when the configured URI is the one with the slash.
        configured_has_it: bool,
    },
    /// `http` vs `https` (or another scheme).
    Scheme {
        /// The configured scheme.
        configured: String,
        /// The registered scheme.
        registered: String,
    },
    /// Different hosts (e.g. `localhost` vs `127.0.0.1` vs `[::1]`).
    Host {
        /// The configured host.
        configured: String,
        /// The registered host.
        registered: String,
    },
    /// Different ports (outside the loopback IP exemption).
    Port {
        /// The configured port.
        configured: Option<u16>,
        /// The registered port.
        registered: Option<u16>,
    },
    /// The paths differ only in letter case.
    PathCase {
        /// The configured path.
        configured: String,
        /// The registered path.
        registered: String,
    },
    /// The paths differ.
    Path {
        /// The configured path.
        configured: String,
        /// The registered path.
        registered: String,
    },
    /// The query strings differ.
    Query {
        /// The configured query.
        configured: Option<String>,
        /// The registered query.
        registered: Option<String>,
    },
    /// One has a fragment (not allowed in redirect URIs, RFC 6749 §3.1.2).
    Fragment,
    /// The URIs mean the same but are spelled differently (letter case, percent-encoding).
    Spelling,
    /// One of them is not a valid URI.
    Unparsable,
}

fn is_loopback_name(host: &str) -> bool {
    matches!(host, "localhost" | "127.0.0.1" | "[::1]")
}

impl fmt::Display for RedirectDifference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RedirectDifference::TrailingSlash {
                configured_has_it: true,
            } => f.write_str("it has a trailing slash that the registered URI does not have"),
            RedirectDifference::TrailingSlash {
                configured_has_it: false,
            } => f.write_str("it lacks the trailing slash that the registered URI has"),
            RedirectDifference::Scheme {
                configured,
                registered,
            } => write!(
                f,
                "it uses `{configured}` where the registered URI uses `{registered}`"
            ),
            RedirectDifference::Host {
                configured,
                registered,
            } if is_loopback_name(configured) && is_loopback_name(registered) => {
                write!(
                    f,
                    "its host is `{configured}` where the registered URI has `{registered}` \
                     (`localhost`, `127.0.0.1` and `[::1]` are different strings to the provider)"
                )
            }
            RedirectDifference::Host {
                configured,
                registered,
            } => write!(
                f,
                "its host is `{configured}` where the registered URI has `{registered}`"
            ),
            RedirectDifference::Port {
                configured,
                registered,
            } => {
                let show =
                    |p: &Option<u16>| p.map_or("no port".to_string(), |p| format!("port {p}"));
                write!(
                    f,
                    "it has {} where the registered URI has {} (only 127.0.0.1 and [::1] may \
                     change port)",
                    show(configured),
                    show(registered)
                )
            }
            RedirectDifference::PathCase {
                configured,
                registered,
            } => write!(
                f,
                "its path `{configured}` differs in letter case from `{registered}` (paths are \
                 case-sensitive)"
            ),
            RedirectDifference::Path {
                configured,
                registered,
            } => write!(
                f,
                "its path is `{configured}` where the registered URI has `{registered}`"
            ),
            RedirectDifference::Query {
                configured,
                registered,
            } => {
                let show = |q: &Option<String>| {
                    q.as_deref().map_or("no query string".to_string(), |q| {
                        format!("query string `?{q}`")
                    })
                };
                write!(
                    f,
                    "it has {} where the registered URI has {}",
                    show(configured),
                    show(registered)
                )
            }
            RedirectDifference::Fragment => {
                f.write_str("one of them has a `#fragment`, which redirect URIs must not have")
            }
            RedirectDifference::Spelling => f.write_str(
                "it is spelled differently (letter case or percent-encoding); providers compare \
                 the exact string",
            ),
            RedirectDifference::Unparsable => f.write_str("one of them is not a valid URI"),
        }
    }
}

/// A `redirect_uri` that matches none of `registered_redirect_uris`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectMismatch {
    /// The configured redirect URI.
    pub redirect_uri: String,
    /// The registered URI closest to it.
    pub closest: String,
    /// How it differs from `closest`.
    pub differences: Vec<RedirectDifference>,
}

impl fmt::Display for RedirectMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "redirect_uri `{}` is not registered at the provider: compared with `{}`, ",
            self.redirect_uri, self.closest
        )?;
        for (i, d) in self.differences.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl RedirectMismatch {
    /// The one-line fix.
    pub fn hint(&self) -> String {
        format!(
            "set redirect_uri to exactly `{}` or register `{}` at the provider: providers compare \
             redirect URIs as exact strings (only the port of 127.0.0.1 / [::1] may vary)",
            self.closest, self.redirect_uri
        )
    }
}

/// Removes the port from the authority of a raw URI string, when it has one.
fn strip_port(raw: &str) -> String {
    let Some(scheme_end) = raw.find("://") else {
        return raw.to_string();
    };
    let auth_start = scheme_end + 3;
    let rest = &raw[auth_start..];
    let auth_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..auth_len];
    let host_end = match authority.rfind(']') {
        Some(i) => i + 1,
        None => authority.find(':').unwrap_or(authority.len()),
    };
    let port = &authority[host_end..];
    if port.starts_with(':') && port[1..].bytes().all(|b| b.is_ascii_digit()) {
        format!(
            "{}{}{}",
            &raw[..auth_start],
            &authority[..host_end],
            &rest[auth_len..]
        )
    } else {
        raw.to_string()
    }
}

fn loopback_ip_literal(u: &Url) -> bool {
    let loopback = match u.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        _ => false,
    };
    u.scheme() == "http" && loopback
}

/// True when a provider would accept `configured` for `registered`: the same string, or the
/// same loopback IP literal URI with another port (RFC 8252 §7.3).
pub fn redirect_matches(configured: &str, registered: &str) -> bool {
    if configured == registered {
        return true;
    }
    match (Url::parse(configured), Url::parse(registered)) {
        (Ok(c), Ok(r)) if loopback_ip_literal(&c) && loopback_ip_literal(&r) => {
            strip_port(configured) == strip_port(registered)
        }
        _ => false,
    }
}

fn host_str(u: &Url) -> String {
    match u.host() {
        Some(url::Host::Ipv6(ip)) => format!("[{ip}]"),
        Some(h) => h.to_string(),
        None => String::new(),
    }
}

/// Every way `configured` differs from `registered` (empty when they match).
pub fn differences(configured: &str, registered: &str) -> Vec<RedirectDifference> {
    if redirect_matches(configured, registered) {
        return Vec::new();
    }
    let (Ok(c), Ok(r)) = (Url::parse(configured), Url::parse(registered)) else {
        return vec![RedirectDifference::Unparsable];
    };
    let mut out = Vec::new();
    if c.scheme() != r.scheme() {
        out.push(RedirectDifference::Scheme {
            configured: c.scheme().to_string(),
            registered: r.scheme().to_string(),
        });
    }
    let (ch, rh) = (host_str(&c), host_str(&r));
    if ch != rh {
        out.push(RedirectDifference::Host {
            configured: ch,
            registered: rh,
        });
    }
    let loopback_ports = loopback_ip_literal(&c) && loopback_ip_literal(&r);
    if c.port() != r.port() && !loopback_ports {
        out.push(RedirectDifference::Port {
            configured: c.port(),
            registered: r.port(),
        });
    }
    let (cp, rp) = (c.path(), r.path());
    // Compare the raw strings around the path too: `http://h` and `http://h/` have the same
    // parsed path `/`.
    let raw_c = strip_port(configured.split(['?', '#']).next().unwrap_or(configured));
    let raw_r = strip_port(registered.split(['?', '#']).next().unwrap_or(registered));
    if cp != rp || raw_c.ends_with('/') != raw_r.ends_with('/') {
        if raw_c.trim_end_matches('/') == raw_r.trim_end_matches('/')
            || cp.trim_end_matches('/') == rp.trim_end_matches('/')
        {
            out.push(RedirectDifference::TrailingSlash {
                configured_has_it: raw_c.ends_with('/'),
            });
        } else if cp.eq_ignore_ascii_case(rp) {
            out.push(RedirectDifference::PathCase {
                configured: cp.to_string(),
                registered: rp.to_string(),
            });
        } else {
            out.push(RedirectDifference::Path {
                configured: cp.to_string(),
                registered: rp.to_string(),
            });
        }
    }
    if c.query() != r.query() {
        out.push(RedirectDifference::Query {
            configured: c.query().map(str::to_string),
            registered: r.query().map(str::to_string),
        });
    }
    if c.fragment().is_some() || r.fragment().is_some() {
        out.push(RedirectDifference::Fragment);
    }
    if out.is_empty() {
        out.push(RedirectDifference::Spelling);
    }
    out
}

/// Lints `redirect_uri` against the registered URIs; `None` when it matches one, or when none
/// are registered (nothing to compare with).
pub fn lint_redirect_uri(redirect_uri: &str, registered: &[String]) -> Option<RedirectMismatch> {
    if registered.is_empty() || registered.iter().any(|r| redirect_matches(redirect_uri, r)) {
        return None;
    }
    let closest = registered
        .iter()
        .map(|r| {
            let d = differences(redirect_uri, r);
            let score = (d.len(), super::parse::edit_distance(redirect_uri, r));
            (score, r, d)
        })
        .min_by_key(|(score, _, _)| *score)?;
    Some(RedirectMismatch {
        redirect_uri: redirect_uri.to_string(),
        closest: closest.1.clone(),
        differences: closest.2,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strip_port_handles_ipv6() {
        assert_eq!(strip_port("http://[::1]:8080/cb"), "http://[::1]/cb");
        assert_eq!(
            strip_port("http://127.0.0.1:1/cb?x=1"),
            "http://127.0.0.1/cb?x=1"
        );
        assert_eq!(strip_port("http://127.0.0.1/cb"), "http://127.0.0.1/cb");
        assert_eq!(strip_port("com.example:/cb"), "com.example:/cb");
    }

    #[test]
    fn loopback_ports_may_vary() {
        assert!(redirect_matches(
            "http://127.0.0.1:5555/callback",
            "http://127.0.0.1/callback"
        ));
        assert!(redirect_matches(
            "http://[::1]:5555/cb",
            "http://[::1]:7777/cb"
        ));
        assert!(!redirect_matches(
            "http://localhost:5555/cb",
            "http://localhost/cb"
        ));
    }
}
