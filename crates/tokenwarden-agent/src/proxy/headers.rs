//! The headers the proxy forwards: hop-by-hop headers dropped both ways (RFC 9110 §7.6.1: the
//! fixed list and whatever `Connection` names), the client's `Authorization`, `Host` and the
//! profile's `proxy_strip_headers` dropped from requests, the profile's `resource_headers`
//! added, and the bearer token put in.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// Hop-by-hop headers, never forwarded (RFC 9110 §7.6.1, and the old ones proxies still meet).
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "proxy-connection",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "proxy-authorization",
    "proxy-authenticate",
];

/// Removes the hop-by-hop headers from `headers`: the fixed list and those `Connection` names.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(&name);
    }
    for name in HOP_BY_HOP {
        headers.remove(*name);
    }
}

/// What the proxy changes on every request.
#[derive(Debug, Clone, Default)]
pub struct RequestHeaders {
    /// Dropped from the client's request (lower-case names).
    pub strip: Vec<HeaderName>,
    /// Added (replacing the client's).
    pub add: Vec<(HeaderName, HeaderValue)>,
}

impl RequestHeaders {
    /// The headers of `profile`: its `proxy_strip_headers` and `resource_headers`.
    pub fn of(profile: &tokenwarden::Profile) -> tokenwarden::Result<RequestHeaders> {
        let bad = |what: &str| {
            tokenwarden::Error::config(format!(
                "profile `{}`: {what} is not a valid header",
                profile.name
            ))
        };
        let strip = profile
            .proxy_strip_headers
            .iter()
            .map(|n| HeaderName::from_bytes(n.as_bytes()).map_err(|_| bad(n)))
            .collect::<tokenwarden::Result<_>>()?;
        // The profile's API headers, their values read (from the environment, for those
        // written `{ env = "VAR" }`): the one list `request` sends too.
        let add = profile
            .resource_headers()?
            .into_iter()
            .map(|h| {
                let mut value = HeaderValue::from_str(&h.value).map_err(|_| bad(&h.name))?;
                value.set_sensitive(h.secret);
                Ok((
                    HeaderName::from_bytes(h.name.as_bytes()).map_err(|_| bad(&h.name))?,
                    value,
                ))
            })
            .collect::<tokenwarden::Result<_>>()?;
        Ok(RequestHeaders { strip, add })
    }

    /// The headers to send upstream for a client request with `incoming` headers: everything
    /// end-to-end the client sent, less `Host`, `Authorization`, `Content-Length` (the
    /// upstream request sets its own framing) and the stripped ones, plus the added ones.
    /// The bearer token is put in by the caller, per attempt.
    pub fn upstream(&self, incoming: &HeaderMap, keep_length: bool) -> HeaderMap {
        let mut h = incoming.clone();
        strip_hop_by_hop(&mut h);
        h.remove(header::HOST);
        h.remove(header::AUTHORIZATION);
        if !keep_length {
            h.remove(header::CONTENT_LENGTH);
        }
        for name in &self.strip {
            h.remove(name);
        }
        for (name, value) in &self.add {
            h.insert(name.clone(), value.clone());
        }
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_and_client_credentials_never_go_upstream() {
        let mut incoming = HeaderMap::new();
        incoming.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-hop"),
        );
        incoming.insert("x-hop", HeaderValue::from_static("1"));
        incoming.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        incoming.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer client"),
        );
        incoming.insert("x-api-key", HeaderValue::from_static("sk-client"));
        incoming.insert(header::HOST, HeaderValue::from_static("127.0.0.1:9"));
        incoming.insert("x-end-to-end", HeaderValue::from_static("kept"));
        incoming.insert("anthropic-beta", HeaderValue::from_static("old"));
        let rh = RequestHeaders {
            strip: vec![HeaderName::from_static("x-api-key")],
            add: vec![(
                HeaderName::from_static("anthropic-beta"),
                HeaderValue::from_static("oauth-2025-04-20"),
            )],
        };
        let out = rh.upstream(&incoming, false);
        for gone in [
            "connection",
            "x-hop",
            "keep-alive",
            "authorization",
            "x-api-key",
            "host",
        ] {
            assert!(out.get(gone).is_none(), "{gone} was forwarded");
        }
        assert_eq!(out["x-end-to-end"], "kept");
        assert_eq!(out["anthropic-beta"], "oauth-2025-04-20");
    }
}
