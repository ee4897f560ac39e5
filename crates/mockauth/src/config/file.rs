//! The TOML configuration file: its raw schema, parsing, and conversion into [`Config`].
//!
//! Every table denies unknown keys, so a typo is an error naming the key and the line.
//! Durations are humantime strings (`"60s"`, `"30d"`, `"500ms"`). Keys left out keep the
//! defaults of [`Config::default`]; clients are added to the built-in `cli` and `svc` (a client
//! with the same id replaces the built-in one) unless `default_clients = false`.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::{
    ClientAuthMethod, ClientConfig, CodeReuseRevocation, Config, DeadTokenStatus, GrantType,
    MetadataLocation, RequiredHeader, TokenRequestFormat, TokenResponseFormat,
};
use crate::faults::FaultPlan;

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read the config file {path}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The TOML is malformed, or has an unknown key or a wrong type.
    #[error("invalid config: {0}")]
    Parse(String),
    /// The values are inconsistent.
    #[error("invalid config: {0}")]
    Invalid(String),
}

// No `Debug`: client secrets are in here.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    addr: Option<SocketAddr>,
    issuer: Option<String>,
    issuer_path: Option<String>,
    auto_approve: Option<bool>,
    admin: Option<bool>,
    access_ttl: Option<String>,
    refresh_ttl: Option<String>,
    code_ttl: Option<String>,
    rotate_refresh_tokens: Option<bool>,
    reuse_grace: Option<String>,
    code_reuse_revokes: Option<CodeReuseRevocation>,
    revoke_previous_on_refresh: Option<bool>,
    dead_token_status: Option<u16>,
    required_resource_headers: Option<Vec<String>>,
    resource_indicators: Option<Vec<String>>,
    blocked_user_agents: Option<Vec<String>>,
    metadata_location: Option<MetadataLocation>,
    discovery_omit: Option<Vec<String>>,
    discovery_max_age: Option<String>,
    tenant_id: Option<String>,
    id_token_tid: Option<String>,
    device_interval: Option<String>,
    device_code_ttl: Option<String>,
    subject: Option<String>,
    scopes_supported: Option<Vec<String>>,
    default_clients: Option<bool>,
    #[serde(default)]
    clients: Vec<RawClient>,
    faults: Option<FaultPlan>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClient {
    id: String,
    secret: Option<String>,
    #[serde(default)]
    redirect_uris: Vec<String>,
    grant_types: Option<Vec<GrantType>>,
    auth_methods: Option<Vec<ClientAuthMethod>>,
    require_pkce: Option<bool>,
    token_request_format: Option<TokenRequestFormat>,
    token_response_format: Option<TokenResponseFormat>,
    #[serde(default)]
    omit_expires_in: bool,
    #[serde(default)]
    expires_in_as_string: bool,
    #[serde(default)]
    omit_token_type: bool,
    #[serde(default)]
    lowercase_token_type: bool,
    #[serde(default)]
    errors_with_status_200: bool,
}

impl Config {
    /// Reads and validates a TOML config file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Config::from_toml(&text).map_err(|e| match e {
            ConfigError::Parse(m) => ConfigError::Parse(format!("{}: {m}", path.display())),
            ConfigError::Invalid(m) => ConfigError::Invalid(format!("{}: {m}", path.display())),
            other => other,
        })
    }

    /// Parses and validates TOML config text.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))?;
        let cfg = raw.into_config()?;
        cfg.validate()?;
        Ok(cfg)
    }
}

fn duration(key: &str, value: Option<String>, default: Duration) -> Result<Duration, ConfigError> {
    match value {
        None => Ok(default),
        Some(s) => humantime::parse_duration(&s).map_err(|e| {
            ConfigError::Invalid(format!(
                "`{key}` = \"{s}\" is not a duration ({e}); write e.g. \"60s\", \"1h\", \"500ms\""
            ))
        }),
    }
}

impl RawConfig {
    fn into_config(self) -> Result<Config, ConfigError> {
        let d = Config::default();
        let mut clients = if self.default_clients.unwrap_or(true) {
            d.clients.clone()
        } else {
            Vec::new()
        };
        for raw in self.clients {
            let client = raw.into_client();
            clients.retain(|c| c.id != client.id);
            clients.push(client);
        }
        let dead_token_status = match self.dead_token_status {
            None => d.dead_token_status,
            Some(n) => DeadTokenStatus::from_status(n).ok_or_else(|| {
                ConfigError::Invalid(format!("`dead_token_status` = {n}: must be 401 or 403"))
            })?,
        };
        let required_resource_headers = self
            .required_resource_headers
            .unwrap_or_default()
            .iter()
            .map(|h| h.parse::<RequiredHeader>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ConfigError::Invalid(format!("`required_resource_headers`: {e}")))?;
        Ok(Config {
            addr: self.addr,
            issuer: self.issuer,
            issuer_path: self.issuer_path,
            auto_approve: self.auto_approve.unwrap_or(d.auto_approve),
            admin: self.admin.unwrap_or(d.admin),
            access_ttl: duration("access_ttl", self.access_ttl, d.access_ttl)?,
            refresh_ttl: duration("refresh_ttl", self.refresh_ttl, d.refresh_ttl)?,
            code_ttl: duration("code_ttl", self.code_ttl, d.code_ttl)?,
            rotate_refresh_tokens: self
                .rotate_refresh_tokens
                .unwrap_or(d.rotate_refresh_tokens),
            reuse_grace: duration("reuse_grace", self.reuse_grace, d.reuse_grace)?,
            code_reuse_revokes: self.code_reuse_revokes.unwrap_or(d.code_reuse_revokes),
            revoke_previous_on_refresh: self
                .revoke_previous_on_refresh
                .unwrap_or(d.revoke_previous_on_refresh),
            dead_token_status,
            required_resource_headers,
            resource_indicators: self.resource_indicators.unwrap_or_default(),
            blocked_user_agents: self.blocked_user_agents.unwrap_or_default(),
            metadata_location: self.metadata_location.unwrap_or(d.metadata_location),
            discovery_omit: self.discovery_omit.unwrap_or_default(),
            discovery_max_age: self
                .discovery_max_age
                .map(|v| duration("discovery_max_age", Some(v), Duration::ZERO))
                .transpose()?,
            tenant_id: self.tenant_id,
            id_token_tid: self.id_token_tid,
            device_interval: duration("device_interval", self.device_interval, d.device_interval)?,
            device_code_ttl: duration("device_code_ttl", self.device_code_ttl, d.device_code_ttl)?,
            subject: self.subject.unwrap_or(d.subject),
            scopes_supported: self.scopes_supported.unwrap_or(d.scopes_supported),
            clients,
            faults: self.faults.unwrap_or_default(),
        })
    }
}

impl RawClient {
    fn into_client(self) -> ClientConfig {
        let base = match self.secret {
            Some(secret) => ClientConfig::confidential(self.id, secret),
            None => ClientConfig::public(self.id, &[]),
        };
        ClientConfig {
            redirect_uris: self.redirect_uris,
            grant_types: self.grant_types.unwrap_or(base.grant_types.clone()),
            auth_methods: self.auth_methods.unwrap_or(base.auth_methods.clone()),
            require_pkce: self.require_pkce.unwrap_or(base.require_pkce),
            token_request_format: self
                .token_request_format
                .unwrap_or(base.token_request_format),
            token_response_format: self
                .token_response_format
                .unwrap_or(base.token_response_format),
            omit_expires_in: self.omit_expires_in,
            expires_in_as_string: self.expires_in_as_string,
            omit_token_type: self.omit_token_type,
            lowercase_token_type: self.lowercase_token_type,
            errors_with_status_200: self.errors_with_status_200,
            ..base
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::{Endpoint, FaultBody};

    const SAMPLE: &str = r#"
auto_approve = true
access_ttl = "4s"
reuse_grace = "2s"
code_reuse_revokes = "all"
device_interval = "1s"
scopes_supported = ["openid", "offline_access", "user:inference"]

[[clients]]
id = "anthropic"
redirect_uris = ["http://127.0.0.1/callback"]
token_request_format = "json"

[[clients]]
id = "github"
secret = "gh-secret"
redirect_uris = ["http://127.0.0.1/callback"]
grant_types = ["authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code"]
token_response_format = "form_unless_accept_json"
omit_expires_in = true

[faults]
clock_skew_s = -45

[faults.token]
status = 500
body = "oauth_json"
error = "invalid_grant"
count = 2
"#;

    #[test]
    fn sample_parses() {
        let cfg = Config::from_toml(SAMPLE).expect("sample parses");
        assert!(cfg.auto_approve);
        assert_eq!(cfg.access_ttl, Duration::from_secs(4));
        assert_eq!(cfg.reuse_grace, Duration::from_secs(2));
        assert_eq!(cfg.code_reuse_revokes, CodeReuseRevocation::All);
        assert_eq!(cfg.device_interval, Duration::from_secs(1));
        assert_eq!(cfg.refresh_ttl, Config::default().refresh_ttl);
        assert!(cfg.client("cli").is_some() && cfg.client("svc").is_some());
        let a = cfg.client("anthropic").expect("anthropic");
        assert!(a.is_public());
        assert_eq!(a.token_request_format, TokenRequestFormat::Json);
        let g = cfg.client("github").expect("github");
        assert_eq!(
            g.token_response_format,
            TokenResponseFormat::FormUnlessAcceptJson
        );
        assert!(g.grant_types.contains(&GrantType::DeviceCode));
        assert!(g.omit_expires_in);
        assert_eq!(cfg.faults.clock_skew_s, Some(-45));
        let t = cfg.faults.get(Endpoint::Token).expect("token fault");
        assert_eq!(t.status, Some(500));
        assert_eq!(t.body, Some(FaultBody::OauthJson));
        assert_eq!(t.count, Some(2));
    }

    #[test]
    fn unknown_key_is_an_error_naming_it() {
        let err = Config::from_toml("acess_ttl = \"1s\"").expect_err("typo refused");
        assert!(err.to_string().contains("acess_ttl"), "{err}");
        let err = Config::from_toml("[[clients]]\nid = \"x\"\nsecrett = \"y\"\n")
            .expect_err("client typo refused");
        assert!(err.to_string().contains("secrett"), "{err}");
        let err =
            Config::from_toml("[faults.token]\nstatus = 500\nbodyy = \"html\"\n").expect_err("x");
        assert!(err.to_string().contains("bodyy"), "{err}");
    }

    #[test]
    fn provider_look_alike_keys() {
        let cfg = Config::from_toml(
            r#"
issuer_path = "/realms/test"
revoke_previous_on_refresh = true
dead_token_status = 403
required_resource_headers = ["anthropic-beta: oauth-2025-04-20"]
resource_indicators = ["https://api.example.test/"]
blocked_user_agents = ["python-requests/*"]
metadata_location = "appended"
discovery_omit = ["revocation_endpoint", "device_authorization_endpoint"]
discovery_max_age = "1h"
tenant_id = "9188040d-6c67-4c5b-b112-36a304b66dad"
"#,
        )
        .expect("parses");
        assert_eq!(cfg.issuer_path.as_deref(), Some("/realms/test"));
        assert!(cfg.revoke_previous_on_refresh);
        assert_eq!(cfg.dead_token_status, DeadTokenStatus::Forbidden);
        assert_eq!(
            cfg.required_resource_headers[0].to_string(),
            "anthropic-beta: oauth-2025-04-20"
        );
        assert_eq!(cfg.resource_indicators, ["https://api.example.test/"]);
        assert_eq!(cfg.blocked_user_agents, ["python-requests/*"]);
        assert_eq!(cfg.metadata_location, MetadataLocation::Appended);
        assert_eq!(cfg.discovery_omit.len(), 2);
        assert_eq!(cfg.discovery_max_age, Some(Duration::from_secs(3600)));
        assert!(cfg.tenant_id.is_some());
        for (bad, key) in [
            ("dead_token_status = 404", "dead_token_status"),
            (
                "required_resource_headers = [\"nocolon\"]",
                "required_resource_headers",
            ),
            ("metadata_location = \"sideways\"", "metadata_location"),
        ] {
            let err = Config::from_toml(bad).expect_err(bad);
            assert!(err.to_string().contains(key), "{err}");
        }
    }

    #[test]
    fn bad_duration_is_explained() {
        let err = Config::from_toml("code_ttl = \"soon\"").expect_err("refused");
        assert!(err.to_string().contains("code_ttl"), "{err}");
    }

    #[test]
    fn default_clients_can_be_dropped() {
        let cfg = Config::from_toml(
            "default_clients = false\n[[clients]]\nid = \"only\"\nredirect_uris = [\"http://127.0.0.1/cb\"]\n",
        )
        .expect("parses");
        assert_eq!(cfg.clients.len(), 1);
    }
}
