//! Where a profile's bearer token may be sent: the one decision `request` (and, later, the
//! proxy) makes before a token leaves the machine.
//!
//! A bearer token works for whoever holds it (RFC 6750 §5), so it goes only
//! - over https, or plain http to a loopback host (`localhost`, 127.0.0.0/8, `[::1]`); other
//!   plain http only with the profile's `allow_insecure_http = true` (a test server);
//! - to the origin (scheme, host, port) of the profile's `resource` (the API the token is for,
//!   RFC 8707), or to an origin the caller allows explicitly (`--allow-origin`). A profile
//!   without an http(s) `resource` names no API: then any origin is allowed (set `resource` to
//!   bind the token to its API).
//!
//! Each refusal is a [`Refusal`] variant; as an [`Error`] it is a Usage error (exit 2) that says
//! why and what to do.

use crate::config::{Profile, is_loopback_url};
use crate::error::{Error, ErrorKind, Result};
use url::{Origin, Url};

/// Why a URL may not receive a profile's token.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// Not an `http` or `https` URL.
    UnsupportedScheme {
        /// The profile.
        profile: String,
        /// The URL's scheme.
        scheme: String,
    },
    /// Plain http to a host that is not loopback: the token would cross the network in clear.
    PlainHttp {
        /// The profile.
        profile: String,
        /// The host the token would go to.
        host: String,
    },
    /// The URL's origin is neither the profile's `resource` origin nor one allowed explicitly.
    ForeignOrigin {
        /// The profile.
        profile: String,
        /// The URL's origin (`https://host[:port]`).
        origin: String,
        /// The origins the token may go to.
        allowed: Vec<String>,
    },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::UnsupportedScheme { profile, scheme } => write!(
                f,
                "refusing to send the access token of profile `{profile}` to a `{scheme}:` URL: only http(s) APIs take bearer tokens"
            ),
            Refusal::PlainHttp { profile, host } => write!(
                f,
                "refusing to send the access token of profile `{profile}` over plain http to {host}: anyone on the network path could read and use it"
            ),
            Refusal::ForeignOrigin {
                profile,
                origin,
                allowed,
            } => write!(
                f,
                "refusing to send the access token of profile `{profile}` to {origin}: the token is for {} (the profile's `resource`), and a token sent elsewhere can be replayed by whoever receives it",
                allowed.join(", ")
            ),
        }
    }
}

impl Refusal {
    /// What to do about it.
    pub fn hint(&self) -> String {
        match self {
            Refusal::UnsupportedScheme { .. } => "give an https:// URL".to_string(),
            Refusal::PlainHttp { .. } => "use https://; plain http is allowed only to loopback addresses (localhost, 127.0.0.1, [::1]), or with allow_insecure_http = true in the profile for a test server".to_string(),
            Refusal::ForeignOrigin { origin, .. } => format!(
                "if this API really takes this token, pass --allow-origin {origin}, or set the profile's `resource` to it"
            ),
        }
    }
}

impl From<Refusal> for Error {
    fn from(r: Refusal) -> Error {
        let hint = r.hint();
        Error::new(ErrorKind::Usage, r.to_string()).with_hint(hint)
    }
}

/// The destinations a profile's token may be sent to (see the module docs).
#[derive(Debug, Clone)]
pub struct Destinations {
    profile: String,
    /// The `resource` origins, then those allowed explicitly.
    origins: Vec<Origin>,
    /// Whether `resource` gave an origin: only then are other origins refused.
    bound: bool,
    insecure_http: bool,
}

impl Destinations {
    /// What `profile` allows: its `resource` origin, and plain http only to loopback hosts
    /// (or anywhere with `allow_insecure_http`).
    pub fn for_profile(profile: &Profile) -> Destinations {
        let origins: Vec<Origin> = profile
            .resource
            .as_deref()
            .and_then(|r| Url::parse(r).ok())
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .map(|u| u.origin())
            .into_iter()
            .collect();
        Destinations {
            profile: profile.name.clone(),
            bound: !origins.is_empty(),
            origins,
            insecure_http: profile.allow_insecure_http,
        }
    }

    /// Also allows `origin` (`https://api.example.com`, `http://127.0.0.1:8080`; a trailing
    /// `/` is accepted). Anything else — a path, a query, credentials, another scheme — is a
    /// Usage error: an origin is a scheme, a host and a port, no more.
    pub fn allow_origin(mut self, origin: &str) -> Result<Destinations> {
        let not_an_origin = |why: &str| {
            Error::usage(format!(
                "`{origin}` is not an origin for --allow-origin: {why}"
            ))
            .with_hint("give scheme://host[:port], e.g. --allow-origin https://api.example.com")
        };
        let url = Url::parse(origin.trim()).map_err(|e| not_an_origin(&e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(not_an_origin("it is not http or https"));
        }
        if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
            return Err(not_an_origin("it has a path, a query or a fragment"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(not_an_origin("it holds credentials"));
        }
        self.origins.push(url.origin());
        Ok(self)
    }

    /// Whether the token may be sent to `url`; the [`Refusal`] says why not.
    pub fn check(&self, url: &Url) -> std::result::Result<(), Refusal> {
        match url.scheme() {
            "https" => {}
            "http" if is_loopback_url(url) || self.insecure_http => {}
            "http" => {
                return Err(Refusal::PlainHttp {
                    profile: self.profile.clone(),
                    host: url.host_str().unwrap_or("?").to_string(),
                });
            }
            other => {
                return Err(Refusal::UnsupportedScheme {
                    profile: self.profile.clone(),
                    scheme: other.to_string(),
                });
            }
        }
        let origin = url.origin();
        if !self.bound || self.origins.contains(&origin) {
            return Ok(());
        }
        Err(Refusal::ForeignOrigin {
            profile: self.profile.clone(),
            origin: origin.ascii_serialization(),
            allowed: self
                .origins
                .iter()
                .map(Origin::ascii_serialization)
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(resource: Option<&str>) -> Profile {
        let mut p = Profile::new("api", "cli");
        p.resource = resource.map(str::to_string);
        p
    }

    fn check(d: &Destinations, url: &str) -> std::result::Result<(), Refusal> {
        d.check(&Url::parse(url).expect("url"))
    }

    #[test]
    fn plain_http_goes_only_to_loopback() {
        let d = Destinations::for_profile(&profile(None));
        assert!(check(&d, "https://api.example.com/v1").is_ok());
        for ok in [
            "http://127.0.0.1:8080/x",
            "http://localhost/x",
            "http://[::1]:9/x",
            "http://127.1.2.3/",
        ] {
            assert!(check(&d, ok).is_ok(), "{ok}");
        }
        assert!(matches!(
            check(&d, "http://api.example.com/v1"),
            Err(Refusal::PlainHttp { host, .. }) if host == "api.example.com"
        ));
        assert!(matches!(
            check(&d, "http://10.0.0.1/v1"),
            Err(Refusal::PlainHttp { .. })
        ));
        assert!(matches!(
            check(&d, "ftp://api.example.com/v1"),
            Err(Refusal::UnsupportedScheme { .. })
        ));
        let mut insecure = profile(None);
        insecure.allow_insecure_http = true;
        let d = Destinations::for_profile(&insecure);
        assert!(check(&d, "http://api.example.com/v1").is_ok());
    }

    #[test]
    fn only_the_resource_origin_unless_allowed() {
        let d = Destinations::for_profile(&profile(Some("https://api.example.com/v1/")));
        assert!(check(&d, "https://api.example.com/v2/other?q=1").is_ok());
        assert!(
            check(&d, "https://api.example.com:443/x").is_ok(),
            "the default port is the same origin"
        );
        for foreign in [
            "https://evil.example.com/v1/",
            "https://api.example.com:8443/v1/",
            "https://api.example.com.evil.net/v1/",
        ] {
            assert!(
                matches!(check(&d, foreign), Err(Refusal::ForeignOrigin { .. })),
                "{foreign}"
            );
        }
        let e = Error::from(check(&d, "https://other.example.com/").expect_err("refused"));
        assert_eq!(e.kind(), ErrorKind::Usage);
        assert_eq!(e.kind().exit_code().code(), 2);
        assert!(
            e.message().contains("https://other.example.com"),
            "{}",
            e.message()
        );
        assert!(
            e.message().contains("https://api.example.com"),
            "{}",
            e.message()
        );
        assert!(
            e.hint()
                .is_some_and(|h| h.contains("--allow-origin https://other.example.com")),
            "{:?}",
            e.hint()
        );
        let d = d
            .allow_origin("https://other.example.com/")
            .expect("an origin");
        assert!(check(&d, "https://other.example.com/anything").is_ok());
        assert!(check(&d, "https://api.example.com/v1/").is_ok());
        assert!(check(&d, "https://third.example.com/").is_err());
    }

    #[test]
    fn a_loopback_resource_binds_its_port() {
        let d = Destinations::for_profile(&profile(Some("http://127.0.0.1:8080/v1/messages")));
        assert!(check(&d, "http://127.0.0.1:8080/v1/other").is_ok());
        assert!(matches!(
            check(&d, "http://127.0.0.1:9999/steal"),
            Err(Refusal::ForeignOrigin { .. })
        ));
    }

    #[test]
    fn a_resource_that_is_not_a_url_binds_nothing() {
        let d = Destinations::for_profile(&profile(Some("urn:example:api")));
        assert!(check(&d, "https://api.example.com/").is_ok());
        assert!(check(&d, "http://api.example.com/").is_err());
    }

    #[test]
    fn allow_origin_takes_origins_only() {
        let d = || Destinations::for_profile(&profile(None));
        for ok in [
            "https://api.example.com",
            "https://api.example.com/",
            "http://127.0.0.1:8080",
        ] {
            assert!(d().allow_origin(ok).is_ok(), "{ok}");
        }
        for bad in [
            "api.example.com",
            "https://api.example.com/v1",
            "https://api.example.com/?q=1",
            "https://user:pw@api.example.com",
            "ftp://api.example.com",
        ] {
            let e = d().allow_origin(bad).expect_err(bad);
            assert_eq!(e.kind(), ErrorKind::Usage, "{bad}");
        }
    }
}
