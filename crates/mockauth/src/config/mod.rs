//! Server settings and registered clients: [`Config`], [`ClientConfig`] and their enums.
//!
//! Everything here is plain data with public fields. [`Config::default`] gives the documented
//! defaults and two clients (`cli`, public; `svc`, confidential). The TOML file format lives in
//! `file.rs`, the provider look-alike option types in `provider.rs`; [`Config::validate`] (in
//! `validate.rs`) checks what the types cannot (unique client ids, absolute redirect URIs
//! without fragments, secrets where a grant needs them…).

mod file;
mod provider;
mod validate;

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::faults::FaultPlan;

pub use file::ConfigError;
pub use provider::{
    DeadTokenStatus, InvalidChoice, InvalidRequiredHeader, MetadataLocation, RequiredHeader,
};

/// The placeholder for the issuer in a client's redirect URIs, replaced once the server knows
/// its issuer: `{issuer}/oauth/code/callback` is the paste-back page of this server.
pub const ISSUER_PLACEHOLDER: &str = "{issuer}";

/// The path (under the issuer) of the paste-back page, a registered redirect URI of `cli`.
pub const PASTE_CALLBACK_PATH: &str = "/oauth/code/callback";

/// The whole configuration of one server.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where [`crate::Server::start`] binds; `None` means `127.0.0.1:0` (an ephemeral port).
    pub addr: Option<SocketAddr>,
    /// The issuer URL to advertise; `None` derives `http://IP:PORT` (plus `issuer_path`) from
    /// the bound address. Every endpoint is served under the issuer's path.
    pub issuer: Option<String>,
    /// A path the derived issuer ends with, e.g. `/realms/test`; only without `issuer` (whose
    /// own path plays that part).
    pub issuer_path: Option<String>,
    /// Approve every authorization and device request at once, without a consent page.
    pub auto_approve: bool,
    /// Serve the admin API under `/admin` (loopback peers only).
    pub admin: bool,
    /// Lifetime of access tokens (`expires_in`).
    pub access_ttl: Duration,
    /// Lifetime of refresh tokens, counted from their issuance; token responses say it in
    /// `refresh_token_expires_in`.
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
    /// When a grant is refreshed, its previous access tokens die at once.
    pub revoke_previous_on_refresh: bool,
    /// What the protected resource answers a dead (unknown, expired, revoked) token.
    pub dead_token_status: DeadTokenStatus,
    /// Headers every request to the protected resource must carry; without one: a 400 naming it.
    pub required_resource_headers: Vec<RequiredHeader>,
    /// Strict RFC 8707 when not empty: the resource indicators this server knows. Authorization
    /// requests, code exchanges and refreshes must then name a known `resource`, else
    /// `invalid_target`.
    pub resource_indicators: Vec<String>,
    /// User-Agent patterns (`*` matches any run of characters, case-insensitive) refused at
    /// the token endpoint with a 429 JSON error, as a provider that filters agents does.
    pub blocked_user_agents: Vec<String>,
    /// Where the RFC 8414 metadata is published when the issuer has a path.
    pub metadata_location: MetadataLocation,
    /// Keys left out of the discovery documents (e.g. `revocation_endpoint`,
    /// `device_authorization_endpoint`); the endpoints themselves keep working.
    pub discovery_omit: Vec<String>,
    /// How long clients may keep the discovery documents and the JWK Set
    /// (`Cache-Control: public, max-age=…`, as Google says one hour); `None` (the default):
    /// `no-cache`, so that a client asks again every time.
    pub discovery_max_age: Option<Duration>,
    /// Microsoft-like tenant paths (`/{tenant}/v2.0`, `/{tenant}/oauth2/v2.0/token` …) with
    /// this tenant id (a GUID): the `tid` of ID tokens and their issuer's path.
    pub tenant_id: Option<String>,
    /// The `tid` the ID tokens of tenant sites claim instead of `tenant_id` (their issuer
    /// keeps naming `tenant_id`): a token whose `tid` and issuer disagree, as a forged or
    /// mixed-up one would, for testing clients' issuer checks.
    pub id_token_tid: Option<String>,
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
            issuer_path: None,
            auto_approve: false,
            admin: true,
            access_ttl: Duration::from_secs(3600),
            refresh_ttl: Duration::from_secs(30 * 24 * 3600),
            code_ttl: Duration::from_secs(60),
            rotate_refresh_tokens: true,
            reuse_grace: Duration::ZERO,
            code_reuse_revokes: CodeReuseRevocation::AccessTokens,
            revoke_previous_on_refresh: false,
            dead_token_status: DeadTokenStatus::Unauthorized,
            required_resource_headers: Vec::new(),
            resource_indicators: Vec::new(),
            blocked_user_agents: Vec::new(),
            metadata_location: MetadataLocation::Inserted,
            discovery_omit: Vec::new(),
            discovery_max_age: None,
            tenant_id: None,
            id_token_tid: None,
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

    /// Replaces [`ISSUER_PLACEHOLDER`] in every redirect URI with the issuer.
    pub(crate) fn resolve_issuer(&mut self, issuer: &str) {
        for c in &mut self.clients {
            for uri in &mut c.redirect_uris {
                if let Some(rest) = uri.strip_prefix(ISSUER_PLACEHOLDER) {
                    *uri = format!("{}{rest}", issuer.trim_end_matches('/'));
                }
            }
        }
    }

    /// Adds a client, replacing any client with the same id.
    pub fn with_client(mut self, client: ClientConfig) -> Self {
        self.clients.retain(|c| c.id != client.id);
        self.clients.push(client);
        self
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
    /// URI (`http://127.0.0.1/...`, `http://[::1]/...`) may differ (RFC 8252 §7.3). A URI may
    /// start with [`ISSUER_PLACEHOLDER`], replaced by the issuer when the server starts.
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

    /// The built-in clients: `cli` (public, redirects `http://127.0.0.1/callback` and this
    /// server's paste-back page `{issuer}/oauth/code/callback`) and `svc` (confidential, secret
    /// `svc-secret`, client credentials).
    pub fn defaults() -> Vec<ClientConfig> {
        let paste = format!("{ISSUER_PLACEHOLDER}{PASTE_CALLBACK_PATH}");
        vec![
            ClientConfig::public("cli", &["http://127.0.0.1/callback", &paste]),
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
