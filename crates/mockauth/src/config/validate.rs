//! [`Config::validate`]: what the types cannot express — unique client ids, absolute redirect
//! URIs without fragments, secrets where a grant needs them, a usable issuer and issuer path,
//! lifetimes a clock can add, resource indicators, discovery keys that exist, a tenant GUID.

use std::time::Duration;

use super::{ClientAuthMethod, Config, ConfigError, GrantType, ISSUER_PLACEHOLDER};
use crate::endpoints::discovery::METADATA_KEYS;

/// The longest lifetime accepted (about 100 years): anything longer cannot be added to a
/// clock without overflowing, and tests need nothing near it.
const LONGEST_TTL: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

impl Config {
    /// Checks what the types cannot express; [`crate::Server::start`] calls it too.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |msg: String| Err(ConfigError::Invalid(msg));
        for (i, c) in self.clients.iter().enumerate() {
            if c.id.is_empty() {
                return invalid(format!("clients[{i}]: the client id is empty"));
            }
            if self.clients[..i].iter().any(|o| o.id == c.id) {
                return invalid(format!("client `{}` is defined twice", c.id));
            }
            for uri in &c.redirect_uris {
                if uri.contains(ISSUER_PLACEHOLDER) && !uri.starts_with(ISSUER_PLACEHOLDER) {
                    return invalid(format!(
                        "client `{}`: redirect URI `{uri}`: `{ISSUER_PLACEHOLDER}` may only start a redirect URI",
                        c.id
                    ));
                }
                // The placeholder stands for an absolute URL without query or fragment.
                let concrete = uri
                    .replace(ISSUER_PLACEHOLDER, "http://issuer.invalid")
                    .replace(crate::redirect::PORT_PLACEHOLDER, "1");
                match url::Url::parse(&concrete) {
                    Ok(u) if u.fragment().is_some() => {
                        return invalid(format!(
                            "client `{}`: redirect URI `{uri}` has a fragment (RFC 6749 §3.1.2)",
                            c.id
                        ));
                    }
                    Ok(_) => {}
                    Err(e) => {
                        return invalid(format!(
                            "client `{}`: redirect URI `{uri}` is not an absolute URL: {e}",
                            c.id
                        ));
                    }
                }
            }
            if c.grant_types.contains(&GrantType::AuthorizationCode) && c.redirect_uris.is_empty() {
                return invalid(format!(
                    "client `{}` allows authorization_code but registers no redirect_uris",
                    c.id
                ));
            }
            if c.grant_types.contains(&GrantType::ClientCredentials) && c.secret.is_none() {
                return invalid(format!(
                    "client `{}` allows client_credentials but has no secret (public clients cannot use it)",
                    c.id
                ));
            }
            if c.secret.is_some() && c.auth_methods.contains(&ClientAuthMethod::None) {
                return invalid(format!(
                    "client `{}` has a secret, so auth method `none` is not allowed",
                    c.id
                ));
            }
            if c.secret.is_none() && c.auth_methods.iter().any(|m| *m != ClientAuthMethod::None) {
                return invalid(format!(
                    "client `{}` has no secret, so it can only use auth method `none`",
                    c.id
                ));
            }
            if c.auth_methods.is_empty() {
                return invalid(format!("client `{}` has no auth_methods", c.id));
            }
        }
        self.validate_issuer()?;
        self.validate_lifetimes()?;
        self.validate_provider_options()?;
        self.faults
            .validate()
            .map_err(|e| ConfigError::Invalid(e.0))
    }

    fn validate_issuer(&self) -> Result<(), ConfigError> {
        let invalid = |msg: String| Err(ConfigError::Invalid(msg));
        if let Some(issuer) = &self.issuer {
            match url::Url::parse(issuer) {
                Ok(u) if u.query().is_none() && u.fragment().is_none() => {}
                _ => {
                    return invalid(format!(
                        "issuer `{issuer}` must be an absolute URL without query or fragment (RFC 8414 §2)"
                    ));
                }
            }
        }
        if let Some(path) = &self.issuer_path {
            if self.issuer.is_some() {
                return invalid(format!(
                    "issuer_path `{path}` and issuer are both set: put the path in the issuer URL instead"
                ));
            }
            let well_formed = path.starts_with('/')
                && path.len() > 1
                && !path.ends_with('/')
                && !path.contains("//")
                && !path.contains("/.well-known")
                && path
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"/-._~".contains(&b));
            if !well_formed {
                return invalid(format!(
                    "issuer_path `{path}` must look like `/realms/test`: a leading `/`, no trailing `/`, letters, digits and -._~"
                ));
            }
        }
        Ok(())
    }

    fn validate_lifetimes(&self) -> Result<(), ConfigError> {
        for (key, d) in [
            ("access_ttl", self.access_ttl),
            ("refresh_ttl", self.refresh_ttl),
            ("code_ttl", self.code_ttl),
            ("reuse_grace", self.reuse_grace),
            ("device_interval", self.device_interval),
            ("device_code_ttl", self.device_code_ttl),
        ] {
            if d > LONGEST_TTL {
                return Err(ConfigError::Invalid(format!(
                    "`{key}` = {} is longer than 100 years; give a shorter duration",
                    humantime::format_duration(d)
                )));
            }
        }
        Ok(())
    }

    fn validate_provider_options(&self) -> Result<(), ConfigError> {
        let invalid = |msg: String| Err(ConfigError::Invalid(msg));
        for r in &self.resource_indicators {
            match url::Url::parse(r) {
                Ok(u) if u.fragment().is_none() => {}
                _ => {
                    return invalid(format!(
                        "resource indicator `{r}` must be an absolute URI without a fragment (RFC 8707 §2)"
                    ));
                }
            }
        }
        if self.blocked_user_agents.iter().any(|p| p.trim().is_empty()) {
            return invalid(
                "blocked_user_agents has an empty pattern; write e.g. \"python-requests/*\""
                    .to_owned(),
            );
        }
        for key in &self.discovery_omit {
            if key == "issuer" || !METADATA_KEYS.contains(&key.as_str()) {
                return invalid(format!(
                    "discovery_omit: `{key}` is not a key that can be left out; known: {}",
                    METADATA_KEYS
                        .iter()
                        .filter(|k| **k != "issuer")
                        .copied()
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
        if let Some(tid) = &self.tenant_id
            && !is_guid(tid)
        {
            return invalid(format!(
                "tenant_id `{tid}` must be a GUID such as 9188040d-6c67-4c5b-b112-36a304b66dad"
            ));
        }
        match (&self.id_token_tid, &self.tenant_id) {
            (Some(tid), _) if !is_guid(tid) => {
                return invalid(format!("id_token_tid `{tid}` must be a GUID"));
            }
            (Some(_), None) => {
                return invalid(
                    "id_token_tid needs tenant_id (only tenant sites issue ID tokens with a `tid`)"
                        .to_string(),
                );
            }
            _ => {}
        }
        Ok(())
    }
}

/// `8-4-4-4-12` hexadecimal digits.
fn is_guid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ClientConfig;

    #[test]
    fn guids() {
        assert!(is_guid("9188040d-6c67-4c5b-b112-36a304b66dad"));
        assert!(!is_guid("common"));
        assert!(!is_guid("9188040d-6c67-4c5b-b112-36a304b66da"));
    }

    #[test]
    fn the_issuer_placeholder_only_starts_a_redirect_uri() {
        let ok = Config::default().with_client(ClientConfig::public("p", &["{issuer}/cb"]));
        ok.validate().expect("placeholder accepted");
        let bad = Config::default().with_client(ClientConfig::public("p", &["http://x/{issuer}"]));
        assert!(bad.validate().is_err());
    }

    #[test]
    fn issuer_path_is_checked() {
        for bad in ["x", "/", "/a/", "/a/.well-known/x", "/a b"] {
            let cfg = Config {
                issuer_path: Some(bad.into()),
                ..Config::default()
            };
            assert!(cfg.validate().is_err(), "{bad}");
        }
        let both = Config {
            issuer_path: Some("/a".into()),
            issuer: Some("http://127.0.0.1:1/a".into()),
            ..Config::default()
        };
        assert!(both.validate().is_err());
    }

    #[test]
    fn absurd_lifetimes_are_refused_not_overflowed() {
        let cfg = Config {
            refresh_ttl: Duration::from_secs(u64::MAX),
            ..Config::default()
        };
        let err = cfg.validate().expect_err("refused");
        assert!(err.to_string().contains("refresh_ttl"), "{err}");
    }

    #[test]
    fn provider_options_are_checked() {
        let omit = Config {
            discovery_omit: vec!["revocation_endpoint".into()],
            ..Config::default()
        };
        omit.validate().expect("known key");
        for bad in [
            Config {
                discovery_omit: vec!["issuer".into()],
                ..Config::default()
            },
            Config {
                discovery_omit: vec!["revocation_endpint".into()],
                ..Config::default()
            },
            Config {
                resource_indicators: vec!["api".into()],
                ..Config::default()
            },
            Config {
                blocked_user_agents: vec![" ".into()],
                ..Config::default()
            },
            Config {
                tenant_id: Some("common".into()),
                ..Config::default()
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }
}
