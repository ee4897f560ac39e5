//! Server settings and registered clients: [`Config`], [`ClientConfig`] and their enums.
//!
//! Everything here is plain data with public fields. [`Config::default`] gives the documented
//! defaults and two clients (`cli`, public; `svc`, confidential). The TOML file format lives in
//! `file.rs`; [`Config::validate`] checks what the types cannot (unique client ids, absolute
//! redirect URIs without fragments, secrets where a grant needs them).

mod file;

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::faults::FaultPlan;

pub use file::ConfigError;

/// The whole configuration of one server.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where [`crate::Server::start`] binds; `None` means `127.0.0.1:0` (an ephemeral port).
    pub addr: Option<SocketAddr>,
    /// The issuer URL to advertise; `None` derives `http://IP:PORT` from the bound address.
    pub issuer: Option<String>,
    /// Approve every authorization and device request at once, without a consent page.
    pub auto_approve: bool,
    /// Serve the admin API under `/admin` (loopback peers only).
    pub admin: bool,
    /// Lifetime of access tokens (`expires_in`).
    pub access_ttl: Duration,
    /// Lifetime of refresh tokens, counted from their issuance.
    pub refresh_ttl: Duration,
    /// Lifetime of authorization codes.
    pub code_ttl: Duration,
    /// Issue a new refresh token on every refresh and retire the old one.
    pub rotate_refresh_tokens: bool,
    /// How long a rotated-out refresh token still yields its successor instead of counting as
    /// reuse (RFC 9700 §4.14.2). Zero means any reuse revokes the family.
    pub reuse_grace: Duration,
    /// What a second use of an authorization code revokes (RFC 6749 §4.1.2).
    pub code_reuse_revokes: CodeReuseRevocation,
    /// The device-flow polling interval announced to clients (RFC 8628 §3.2).
    pub device_interval: Duration,
    /// Lifetime of device codes.
    pub device_code_ttl: Duration,
    /// The `sub` of the one user this server knows.
    pub subject: String,
    /// The scopes a client may request; anything else is `invalid_scope`.
    pub scopes_supported: Vec<String>,
    /// Registered clients.
    pub clients: Vec<ClientConfig>,
    /// Faults active from the start.
    pub faults: FaultPlan,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            addr: None,
            issuer: None,
            auto_approve: false,
            admin: true,
            access_ttl: Duration::from_secs(3600),
            refresh_ttl: Duration::from_secs(30 * 24 * 3600),
            code_ttl: Duration::from_secs(60),
            rotate_refresh_tokens: true,
            reuse_grace: Duration::ZERO,
            code_reuse_revokes: CodeReuseRevocation::AccessTokens,
            device_interval: Duration::from_secs(5),
            device_code_ttl: Duration::from_secs(600),
            subject: "mock-user".to_owned(),
            scopes_supported: ["openid", "profile", "email", "offline_access"]
                .map(str::to_owned)
                .to_vec(),
            clients: ClientConfig::defaults(),
            faults: FaultPlan::default(),
        }
    }
}

impl Config {
    /// Finds a registered client by id.
    pub fn client(&self, id: &str) -> Option<&ClientConfig> {
        self.clients.iter().find(|c| c.id == id)
    }

    /// Adds a client, replacing any client with the same id.
    pub fn with_client(mut self, client: ClientConfig) -> Self {
        self.clients.retain(|c| c.id != client.id);
        self.clients.push(client);
        self
    }

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
                match url::Url::parse(uri) {
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
        self.faults
            .validate()
            .map_err(|e| ConfigError::Invalid(e.0))
    }
}

/// What a second use of an authorization code revokes. Either way the second use is
/// `invalid_grant`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CodeReuseRevocation {
    /// The access tokens of the login the code started; its refresh token keeps working
    /// (the default: a client that retried a lost exchange keeps its session).
    #[default]
    AccessTokens,
    /// Everything the login issued, refresh tokens included: the strict reading of RFC 6749
    /// §4.1.2 ("SHOULD revoke all tokens previously issued based on that code").
    All,
}

/// An OAuth grant type a client may use at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum GrantType {
    /// `authorization_code` (RFC 6749 §4.1), with PKCE.
    AuthorizationCode,
    /// `refresh_token` (RFC 6749 §6).
    RefreshToken,
    /// `client_credentials` (RFC 6749 §4.4), confidential clients only.
    ClientCredentials,
    /// `urn:ietf:params:oauth:grant-type:device_code` (RFC 8628).
    #[serde(alias = "urn:ietf:params:oauth:grant-type:device_code")]
    DeviceCode,
}

impl GrantType {
    /// The `grant_type` parameter value on the wire.
    pub fn as_wire(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
            GrantType::ClientCredentials => "client_credentials",
            GrantType::DeviceCode => DEVICE_CODE_GRANT,
        }
    }

    /// Parses a `grant_type` parameter value.
    pub fn from_wire(s: &str) -> Option<GrantType> {
        match s {
            "authorization_code" => Some(GrantType::AuthorizationCode),
            "refresh_token" => Some(GrantType::RefreshToken),
            "client_credentials" => Some(GrantType::ClientCredentials),
            DEVICE_CODE_GRANT => Some(GrantType::DeviceCode),
            _ => None,
        }
    }
}

/// The device grant's `grant_type` value (RFC 8628 §3.4).
pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// How a client authenticates at the token, revocation and introspection endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ClientAuthMethod {
    /// Public client: sends only `client_id`.
    None,
    /// HTTP Basic with the form-urlencoded id and secret (RFC 6749 §2.3.1).
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the request body.
    ClientSecretPost,
}

impl ClientAuthMethod {
    /// The name used in discovery metadata.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientAuthMethod::None => "none",
            ClientAuthMethod::ClientSecretBasic => "client_secret_basic",
            ClientAuthMethod::ClientSecretPost => "client_secret_post",
        }
    }
}

/// Which request bodies a client's token requests may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TokenRequestFormat {
    /// `application/x-www-form-urlencoded` only, as RFC 6749 requires.
    #[default]
    Form,
    /// `application/json` only (Anthropic's token endpoint).
    Json,
    /// Either.
    Both,
}

impl TokenRequestFormat {
    pub(crate) fn allows_form(self) -> bool {
        matches!(self, TokenRequestFormat::Form | TokenRequestFormat::Both)
    }
    pub(crate) fn allows_json(self) -> bool {
        matches!(self, TokenRequestFormat::Json | TokenRequestFormat::Both)
    }
}

/// How a client's token responses (and token errors) are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TokenResponseFormat {
    /// `application/json` (RFC 6749 §5.1).
    #[default]
    Json,
    /// GitHub's quirk: `application/x-www-form-urlencoded` unless the request's `Accept` header
    /// asks for `application/json`.
    FormUnlessAcceptJson,
}

/// One registered client, with the provider quirks its token responses imitate.
#[derive(Clone, PartialEq)]
pub struct ClientConfig {
    /// The `client_id`.
    pub id: String,
    /// The client secret; `None` makes a public client.
    pub secret: Option<String>,
    /// Registered redirect URIs, matched exactly, except that the port of a loopback IP-literal
    /// URI (`http://127.0.0.1/...`, `http://[::1]/...`) may differ (RFC 8252 §7.3).
    pub redirect_uris: Vec<String>,
    /// Grant types the client may use.
    pub grant_types: Vec<GrantType>,
    /// Authentication methods the client may use.
    pub auth_methods: Vec<ClientAuthMethod>,
    /// Require PKCE (`S256`) on authorization requests. Always on for public clients.
    pub require_pkce: bool,
    /// Which token request bodies are accepted.
    pub token_request_format: TokenRequestFormat,
    /// How token responses are encoded.
    pub token_response_format: TokenResponseFormat,
    /// Leave `expires_in` out of token responses (GitHub tokens that never expire).
    pub omit_expires_in: bool,
    /// Send `expires_in` as a JSON string (`"3600"`), as some providers do.
    pub expires_in_as_string: bool,
    /// Leave `token_type` out of token responses.
    pub omit_token_type: bool,
    /// Send `token_type` as `bearer` instead of `Bearer`.
    pub lowercase_token_type: bool,
    /// Answer token errors with HTTP 200 (GitHub does), the error only in the body.
    pub errors_with_status_200: bool,
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("id", &self.id)
            .field("secret", &self.secret.as_ref().map(|_| "[redacted]"))
            .field("redirect_uris", &self.redirect_uris)
            .field("grant_types", &self.grant_types)
            .field("auth_methods", &self.auth_methods)
            .field("require_pkce", &self.require_pkce)
            .field("token_request_format", &self.token_request_format)
            .field("token_response_format", &self.token_response_format)
            .field("omit_expires_in", &self.omit_expires_in)
            .field("expires_in_as_string", &self.expires_in_as_string)
            .field("omit_token_type", &self.omit_token_type)
            .field("lowercase_token_type", &self.lowercase_token_type)
            .field("errors_with_status_200", &self.errors_with_status_200)
            .finish()
    }
}

impl ClientConfig {
    /// A public client (auth method `none`, PKCE required) allowed the authorization code,
    /// refresh and device grants.
    pub fn public(id: impl Into<String>, redirect_uris: &[&str]) -> Self {
        ClientConfig {
            id: id.into(),
            secret: None,
            redirect_uris: redirect_uris.iter().map(|s| (*s).to_owned()).collect(),
            grant_types: vec![
                GrantType::AuthorizationCode,
                GrantType::RefreshToken,
                GrantType::DeviceCode,
            ],
            auth_methods: vec![ClientAuthMethod::None],
            require_pkce: true,
            token_request_format: TokenRequestFormat::Form,
            token_response_format: TokenResponseFormat::Json,
            omit_expires_in: false,
            expires_in_as_string: false,
            omit_token_type: false,
            lowercase_token_type: false,
            errors_with_status_200: false,
        }
    }

    /// A confidential client (`client_secret_basic` or `client_secret_post`) allowed only
    /// `client_credentials`; add grants and redirect URIs with the `with_*` methods.
    pub fn confidential(id: impl Into<String>, secret: impl Into<String>) -> Self {
        ClientConfig {
            secret: Some(secret.into()),
            redirect_uris: Vec::new(),
            grant_types: vec![GrantType::ClientCredentials],
            auth_methods: vec![
                ClientAuthMethod::ClientSecretBasic,
                ClientAuthMethod::ClientSecretPost,
            ],
            require_pkce: false,
            ..ClientConfig::public(id, &[])
        }
    }

    /// The built-in clients: `cli` (public, redirect `http://127.0.0.1/callback`) and `svc`
    /// (confidential, secret `svc-secret`, client credentials).
    pub fn defaults() -> Vec<ClientConfig> {
        vec![
            ClientConfig::public("cli", &["http://127.0.0.1/callback"]),
            ClientConfig::confidential("svc", "svc-secret"),
        ]
    }

    /// Replaces the grant types.
    pub fn with_grant_types(mut self, grants: &[GrantType]) -> Self {
        self.grant_types = grants.to_vec();
        self
    }

    /// Replaces the redirect URIs.
    pub fn with_redirect_uris(mut self, uris: &[&str]) -> Self {
        self.redirect_uris = uris.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    /// Replaces the accepted token request formats.
    pub fn with_token_request_format(mut self, format: TokenRequestFormat) -> Self {
        self.token_request_format = format;
        self
    }

    /// Replaces the token response format.
    pub fn with_token_response_format(mut self, format: TokenResponseFormat) -> Self {
        self.token_response_format = format;
        self
    }

    /// Whether this client is public (has no secret).
    pub fn is_public(&self) -> bool {
        self.secret.is_none()
    }

    /// Whether PKCE is required on this client's authorization requests.
    pub(crate) fn pkce_required(&self) -> bool {
        self.is_public() || self.require_pkce
    }

    pub(crate) fn allows(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        Config::default()
            .validate()
            .expect("default config validates");
    }

    #[test]
    fn debug_redacts_the_secret() {
        let text = format!("{:?}", ClientConfig::confidential("svc", "hunter2"));
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("[redacted]"), "{text}");
    }

    #[test]
    fn public_client_credentials_is_refused() {
        let cfg = Config::default().with_client(
            ClientConfig::public("x", &["http://127.0.0.1/cb"])
                .with_grant_types(&[GrantType::ClientCredentials]),
        );
        let err = cfg.validate().expect_err("must be refused");
        assert!(err.to_string().contains("client_credentials"), "{err}");
    }

    #[test]
    fn fragment_in_redirect_uri_is_refused() {
        let cfg =
            Config::default().with_client(ClientConfig::public("x", &["http://127.0.0.1/cb#x"]));
        assert!(cfg.validate().is_err());
    }
}
