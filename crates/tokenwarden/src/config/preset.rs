//! Provider presets: the endpoints of well-known providers and the ways each one departs from
//! plain RFC 6749 ("quirks"), each as a typed field so that code asks `quirks.send_accept_json`
//! instead of comparing provider names.
//!
//! Every preset cites the public document its values come from. A profile's explicit endpoint
//! keys override the preset's (which is also how tests point a preset at `mockauth`).

use super::{ClientAuth, TokenRequestFormat};

/// A provider tokenwarden knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Provider {
    /// Any RFC 8414 / OpenID Connect issuer, found by discovery or explicit endpoints.
    #[default]
    Generic,
    /// Anthropic (Claude) accounts.
    Anthropic,
    /// Google accounts.
    Google,
    /// GitHub OAuth apps and GitHub apps.
    Github,
    /// Microsoft Entra ID (the v2.0 endpoints).
    Microsoft,
}

impl Provider {
    /// Every provider, in the order help texts list them.
    pub const ALL: [Provider; 5] = [
        Provider::Generic,
        Provider::Anthropic,
        Provider::Google,
        Provider::Github,
        Provider::Microsoft,
    ];

    /// The name used in config.toml.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Generic => "generic",
            Provider::Anthropic => "anthropic",
            Provider::Google => "google",
            Provider::Github => "github",
            Provider::Microsoft => "microsoft",
        }
    }

    /// Parses the name used in config.toml (case-insensitive).
    pub fn parse(name: &str) -> Option<Provider> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(name))
    }

    /// The preset for this provider.
    pub fn preset(self) -> &'static Preset {
        match self {
            Provider::Generic => &GENERIC,
            Provider::Anthropic => &ANTHROPIC,
            Provider::Google => &GOOGLE,
            Provider::Github => &GITHUB,
            Provider::Microsoft => &MICROSOFT,
        }
    }
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The ways a provider departs from plain RFC 6749. The defaults are the RFC's behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Quirks {
    /// How the token endpoint wants its request body (Anthropic's takes JSON).
    pub token_request_format: TokenRequestFormat,
    /// Send `Accept: application/json` to the token endpoint (GitHub answers
    /// `application/x-www-form-urlencoded` without it).
    pub send_accept_json: bool,
    /// Token responses may be form-encoded rather than JSON (GitHub without the Accept header).
    pub form_encoded_responses: bool,
    /// Access tokens may come without `expires_in` and never expire (GitHub OAuth apps).
    pub may_not_expire: bool,
    /// Errors may come with HTTP 200 and an `error` field in the body (GitHub).
    pub errors_with_status_200: bool,
    /// `scope` must be sent on every token request, refresh included (Microsoft v2.0).
    pub scope_on_every_token_request: bool,
    /// The endpoints contain the tenant (`{tenant}`), and the issuer varies per tenant (Microsoft).
    pub tenant_in_path: bool,
    /// The device authorization response says `verification_url` instead of RFC 8628's
    /// `verification_uri` (Google).
    pub verification_url_alias: bool,
    /// The `state` is sent again in the code exchange (Anthropic).
    pub state_in_token_request: bool,
    /// The client authentication method the provider documents, when the profile sets none
    /// and has a secret.
    pub default_client_auth: Option<ClientAuth>,
}

/// A provider's well-known endpoints and quirks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preset {
    /// The provider.
    pub provider: Provider,
    /// The issuer; `{tenant}` is replaced for Microsoft.
    pub issuer: Option<&'static str>,
    /// The authorization endpoint.
    pub authorization_endpoint: Option<&'static str>,
    /// The token endpoint.
    pub token_endpoint: Option<&'static str>,
    /// The RFC 8628 device authorization endpoint.
    pub device_authorization_endpoint: Option<&'static str>,
    /// The RFC 7009 revocation endpoint.
    pub revocation_endpoint: Option<&'static str>,
    /// Scopes requested when the profile sets none.
    pub default_scopes: &'static [&'static str],
    /// How the provider departs from RFC 6749.
    pub quirks: Quirks,
    /// The redirect URI used when the profile sets none (`None`: `http://127.0.0.1/callback`
    /// on an ephemeral port).
    pub redirect_uri: Option<&'static str>,
    /// Parameters the authorization request carries for this provider (and only it: not the
    /// token requests).
    pub authorization_params: &'static [(&'static str, &'static str)],
    /// Headers API calls carry for this provider; a profile's `resource_headers` of the same
    /// name replace them.
    pub resource_headers: &'static [(&'static str, &'static str)],
    /// The provider revokes the previous access token when a grant is refreshed (the profile
    /// key `refresh_revokes_previous_access_token` overrides it).
    pub refresh_revokes_previous_access_token: bool,
    /// The public documents these values come from.
    pub sources: &'static [&'static str],
}

impl super::Profile {
    /// The issuer whose discovery document supplies the endpoints the profile does not give:
    /// `None` without an issuer, or when the preset fixes the endpoints (a preset's missing
    /// endpoint, like GitHub's revocation, does not exist).
    pub fn discovery_issuer(&self) -> Option<&str> {
        let fixed = self.preset_endpoints && self.provider.preset().token_endpoint.is_some();
        self.issuer.as_deref().filter(|_| !fixed)
    }
}

/// The tenant used when a Microsoft profile names none.
pub const DEFAULT_MICROSOFT_TENANT: &str = "common";

impl Preset {
    /// Replaces `{tenant}` in a template (only Microsoft's contain it).
    pub fn fill(template: &str, tenant: &str) -> String {
        template.replace("{tenant}", tenant)
    }
}

const RFC: Quirks = Quirks {
    token_request_format: TokenRequestFormat::Form,
    send_accept_json: false,
    form_encoded_responses: false,
    may_not_expire: false,
    errors_with_status_200: false,
    scope_on_every_token_request: false,
    tenant_in_path: false,
    verification_url_alias: false,
    state_in_token_request: false,
    default_client_auth: None,
};

/// Any RFC 8414 / OIDC issuer: everything comes from discovery or the profile.
/// Sources: RFC 8414 <https://www.rfc-editor.org/rfc/rfc8414>, OpenID Connect Discovery 1.0
/// <https://openid.net/specs/openid-connect-discovery-1_0.html>.
static GENERIC: Preset = Preset {
    provider: Provider::Generic,
    issuer: None,
    authorization_endpoint: None,
    token_endpoint: None,
    device_authorization_endpoint: None,
    revocation_endpoint: None,
    default_scopes: &[],
    quirks: RFC,
    redirect_uri: None,
    authorization_params: &[],
    resource_headers: &[],
    refresh_revokes_previous_access_token: false,
    sources: &[
        "https://www.rfc-editor.org/rfc/rfc8414",
        "https://openid.net/specs/openid-connect-discovery-1_0.html",
    ],
};

/// Anthropic (Claude accounts), as Anthropic's own command-line client talks to it today.
/// Anthropic publishes no OAuth reference for these endpoints; the values below are what public
/// reports from 2026 agree on, each with its source:
///
/// - the token endpoint moved from `console.anthropic.com/v1/oauth/token` to
///   `https://platform.claude.com/v1/oauth/token` (the old host answers 404):
///   <https://github.com/NousResearch/hermes-agent/pull/3246>,
///   <https://github.com/Wei-Shaw/claude-relay-service/pull/1207>,
///   <https://github.com/NousResearch/hermes-agent/issues/45250>;
/// - authorization at `https://claude.com/cai/oauth/authorize`, the URL the current client
///   uses (it redirects to `claude.ai/oauth/authorize`, whose own form has been reported to
///   refuse grants): <https://github.com/router-for-me/CLIProxyAPI/pull/4830>,
///   <https://github.com/NousResearch/hermes-agent/pull/58178>,
///   <https://github.com/vellum-ai/vellum-assistant/pull/40582>; the request carries
///   `code=true`: <https://github.com/EasyMetaAu/helm-api/pull/252>;
/// - the registered redirects are `http://localhost:{port}/callback` (any port) and the hosted
///   page `https://platform.claude.com/oauth/code/callback`, which shows `code#state` for the
///   user to paste: <https://github.com/dotCipher/opencode-claude-bridge/pull/9>,
///   <https://github.com/openclaw/openclaw/pull/96917>,
///   <https://github.com/anthropics/claude-code/issues/45783>;
/// - token requests are JSON bodies (<https://github.com/NousResearch/hermes-agent/pull/3246>)
///   and repeat `state` in the code exchange; inference needs the scope `user:inference`:
///   <https://github.com/apache/maka/pull/2949>;
/// - the token endpoint filters on `User-Agent` (the `claude-cli/` and `claude-code/` prefixes,
///   and requests from datacenter IPs, get 429 `rate_limit_error`):
///   <https://github.com/NousResearch/hermes-agent/issues/48534>,
///   <https://github.com/earendil-works/pi/issues/9369> — tokenwarden's own `User-Agent` is
///   sent unless the profile sets `user_agent`;
/// - API calls with an OAuth token carry `anthropic-beta: oauth-2025-04-20`:
///   <https://github.com/chatml/chatml/pull/780>.
///
/// No client id is shipped: the user supplies the one registered for their application.
static ANTHROPIC: Preset = Preset {
    provider: Provider::Anthropic,
    issuer: None,
    authorization_endpoint: Some("https://claude.com/cai/oauth/authorize"),
    token_endpoint: Some("https://platform.claude.com/v1/oauth/token"),
    device_authorization_endpoint: None,
    revocation_endpoint: None,
    default_scopes: &["user:profile", "user:inference"],
    quirks: Quirks {
        token_request_format: TokenRequestFormat::Json,
        state_in_token_request: true,
        ..RFC
    },
    redirect_uri: Some("http://localhost/callback"),
    authorization_params: &[("code", "true")],
    resource_headers: &[("anthropic-beta", "oauth-2025-04-20")],
    refresh_revokes_previous_access_token: false,
    sources: &[
        "https://github.com/NousResearch/hermes-agent/pull/3246",
        "https://github.com/Wei-Shaw/claude-relay-service/pull/1207",
        "https://github.com/NousResearch/hermes-agent/issues/45250",
        "https://github.com/router-for-me/CLIProxyAPI/pull/4830",
        "https://github.com/NousResearch/hermes-agent/pull/58178",
        "https://github.com/vellum-ai/vellum-assistant/pull/40582",
        "https://github.com/EasyMetaAu/helm-api/pull/252",
        "https://github.com/dotCipher/opencode-claude-bridge/pull/9",
        "https://github.com/openclaw/openclaw/pull/96917",
        "https://github.com/anthropics/claude-code/issues/45783",
        "https://github.com/apache/maka/pull/2949",
        "https://github.com/NousResearch/hermes-agent/issues/48534",
        "https://github.com/earendil-works/pi/issues/9369",
        "https://github.com/chatml/chatml/pull/780",
    ],
};

/// Google. Endpoints from the discovery document
/// <https://accounts.google.com/.well-known/openid-configuration>; installed apps
/// <https://developers.google.com/identity/protocols/oauth2/native-app>; device flow (whose
/// response says `verification_url`)
/// <https://developers.google.com/identity/protocols/oauth2/limited-input-device>.
static GOOGLE: Preset = Preset {
    provider: Provider::Google,
    issuer: Some("https://accounts.google.com"),
    authorization_endpoint: Some("https://accounts.google.com/o/oauth2/v2/auth"),
    token_endpoint: Some("https://oauth2.googleapis.com/token"),
    device_authorization_endpoint: Some("https://oauth2.googleapis.com/device/code"),
    revocation_endpoint: Some("https://oauth2.googleapis.com/revoke"),
    default_scopes: &["openid", "email"],
    quirks: Quirks {
        verification_url_alias: true,
        default_client_auth: Some(ClientAuth::ClientSecretPost),
        ..RFC
    },
    redirect_uri: None,
    authorization_params: &[],
    resource_headers: &[],
    refresh_revokes_previous_access_token: false,
    sources: &[
        "https://accounts.google.com/.well-known/openid-configuration",
        "https://developers.google.com/identity/protocols/oauth2/native-app",
        "https://developers.google.com/identity/protocols/oauth2/limited-input-device",
    ],
};

/// GitHub. Web and device flows:
/// <https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps>
/// (form-encoded responses unless `Accept: application/json`; errors such as
/// `bad_verification_code` come with status 200); expiring user tokens (`expires_in` only when
/// the app opted in):
/// <https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/refreshing-user-access-tokens>.
/// GitHub has no RFC 7009 revocation endpoint.
static GITHUB: Preset = Preset {
    provider: Provider::Github,
    issuer: None,
    authorization_endpoint: Some("https://github.com/login/oauth/authorize"),
    token_endpoint: Some("https://github.com/login/oauth/access_token"),
    device_authorization_endpoint: Some("https://github.com/login/device/code"),
    revocation_endpoint: None,
    default_scopes: &[],
    quirks: Quirks {
        send_accept_json: true,
        form_encoded_responses: true,
        may_not_expire: true,
        errors_with_status_200: true,
        default_client_auth: Some(ClientAuth::ClientSecretPost),
        ..RFC
    },
    redirect_uri: None,
    authorization_params: &[],
    resource_headers: &[],
    refresh_revokes_previous_access_token: false,
    sources: &[
        "https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps",
        "https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/refreshing-user-access-tokens",
    ],
};

/// Microsoft Entra ID v2.0: the tenant is part of every endpoint, `scope` is required on every
/// token request, and there is no revocation endpoint.
/// <https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-auth-code-flow>,
/// <https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-device-code>,
/// <https://learn.microsoft.com/en-us/entra/identity-platform/v2-protocols-oidc>.
static MICROSOFT: Preset = Preset {
    provider: Provider::Microsoft,
    issuer: Some("https://login.microsoftonline.com/{tenant}/v2.0"),
    authorization_endpoint: Some(
        "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/authorize",
    ),
    token_endpoint: Some("https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"),
    device_authorization_endpoint: Some(
        "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/devicecode",
    ),
    revocation_endpoint: None,
    default_scopes: &["openid", "offline_access"],
    quirks: Quirks {
        scope_on_every_token_request: true,
        tenant_in_path: true,
        default_client_auth: Some(ClientAuth::ClientSecretPost),
        ..RFC
    },
    redirect_uri: None,
    authorization_params: &[],
    resource_headers: &[],
    refresh_revokes_previous_access_token: false,
    sources: &[
        "https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-auth-code-flow",
        "https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-device-code",
        "https://learn.microsoft.com/en-us/entra/identity-platform/v2-protocols-oidc",
    ],
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in Provider::ALL {
            assert_eq!(Provider::parse(p.as_str()), Some(p));
            assert_eq!(p.preset().provider, p);
            assert!(!p.preset().sources.is_empty());
        }
        assert_eq!(Provider::parse("GitHub"), Some(Provider::Github));
        assert_eq!(Provider::parse("okta"), None);
    }

    #[test]
    fn microsoft_tenant_is_filled() {
        let p = Provider::Microsoft.preset();
        let token = Preset::fill(
            p.token_endpoint.unwrap_or_default(),
            "contoso.onmicrosoft.com",
        );
        assert_eq!(
            token,
            "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
        );
    }
}
