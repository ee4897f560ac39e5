//! The small enumerations a profile is made of, each with the names config.toml uses.

/// How a token request body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenRequestFormat {
    /// `application/x-www-form-urlencoded` (RFC 6749 §4.1.3).
    #[default]
    Form,
    /// `application/json` (Anthropic).
    Json,
}

impl TokenRequestFormat {
    /// The names accepted in config.toml.
    pub const NAMES: [&'static str; 2] = ["form", "json"];

    /// Parses the config.toml name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "form" => Some(Self::Form),
            "json" => Some(Self::Json),
            _ => None,
        }
    }

    /// The config.toml name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Form => "form",
            Self::Json => "json",
        }
    }
}

/// How the client authenticates to the token endpoint (RFC 6749 §2.3, OIDC Core §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    /// A public client: `client_id` in the body, no secret.
    #[default]
    None,
    /// HTTP Basic with the form-urlencoded id and secret (RFC 6749 §2.3.1).
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the request body.
    ClientSecretPost,
}

impl ClientAuth {
    /// The names accepted in config.toml.
    pub const NAMES: [&'static str; 3] = ["none", "client_secret_basic", "client_secret_post"];

    /// Parses the config.toml name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "none" => Some(Self::None),
            "client_secret_basic" => Some(Self::ClientSecretBasic),
            "client_secret_post" => Some(Self::ClientSecretPost),
            _ => None,
        }
    }

    /// The config.toml name.
    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    /// True when this method sends a client secret.
    pub fn needs_secret(self) -> bool {
        !matches!(self, Self::None)
    }
}

/// The grant `tokenwarden login` uses by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    /// Authorization code with PKCE over a loopback redirect (RFC 6749 §4.1, RFC 7636, RFC 8252).
    #[default]
    AuthorizationCode,
    /// The device authorization grant (RFC 8628).
    DeviceCode,
    /// Client credentials (RFC 6749 §4.4).
    ClientCredentials,
}

impl GrantType {
    /// The names accepted in config.toml.
    pub const NAMES: [&'static str; 3] =
        ["authorization_code", "device_code", "client_credentials"];

    /// Parses the config.toml name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "authorization_code" => Some(Self::AuthorizationCode),
            "device_code" => Some(Self::DeviceCode),
            "client_credentials" => Some(Self::ClientCredentials),
            _ => None,
        }
    }

    /// The config.toml name.
    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }
}
