//! The `--json` output contract: the type of every document a command prints on stdout with
//! `--json`, in one place. A failed command prints the library's
//! [`tokenwarden::exit::ErrorDocument`] on stderr instead. Every key is always there (`null`
//! when unknown) unless a field says otherwise.
//!
//! The commands fill these types and the printer serializes them; nothing else writes JSON.
//! The CLI's tests decode real output into mirrors of these types that refuse unknown and
//! missing keys (`tests/cli/json_contract.rs`), so changing a type here changes the contract.

use serde::Serialize;
use std::collections::BTreeMap;
use tokenwarden::config::{
    ClientAuth, GrantType, Provider, Quirks, SecretStatus, TokenRequestFormat,
};
use tokenwarden::diagnose::Check;
use tokenwarden::diagnose::curl::CurlCommand;

/// `login`: what was stored.
#[derive(Debug, Serialize)]
pub struct Login {
    pub profile: String,
    /// The grant used: `authorization_code`, `device_code` or `client_credentials`.
    pub grant: &'static str,
    /// RFC 3339; `null` for a token that does not expire.
    pub expires_at: Option<String>,
    /// The granted scopes, space-separated.
    pub scope: String,
    /// Whether a refresh token was kept.
    pub refresh_token: bool,
    pub subject: Option<String>,
    pub issuer: Option<String>,
}

/// `logout`.
#[derive(Debug, Serialize)]
pub struct Logout {
    pub profile: String,
    /// What the provider revoked: `refresh token`, `access token`.
    pub revoked: Vec<&'static str>,
    /// Of what could not be revoked, what is kept to be revoked later (the next `logout` or
    /// `doctor` asks again): `refresh token`, `access token`.
    pub pending: Vec<&'static str>,
    /// What could not be revoked, in words.
    pub warnings: Vec<String>,
    /// True when tokens were stored and are now deleted; false when none were stored.
    pub deleted: bool,
}

/// `token`: a valid access token.
#[derive(Debug, Serialize)]
pub struct Token {
    pub access_token: String,
    pub token_type: String,
    /// RFC 3339; `null` for a token that does not expire.
    pub expires_at: Option<String>,
    /// The same instant in seconds since the Unix epoch (as `az account get-access-token`'s
    /// `expires_on`); `null` for a token that does not expire.
    pub expires_on: Option<u64>,
    /// The granted scopes, space-separated.
    pub scope: String,
    /// True when the provider is failing and this still-valid token is served meanwhile.
    pub degraded: bool,
    /// Why it is degraded, or what it cannot be (shorter-lived than `--min-ttl`).
    pub warning: Option<String>,
    /// When the refresh token expires and a new login is needed, RFC 3339; `null` when not
    /// known.
    pub refresh_token_expires_at: Option<String>,
    /// True within the profile's `refresh_expiry_warning` of that (on every call; the warning
    /// on stderr comes once a day).
    pub refresh_token_expires_soon: bool,
}

/// `token --id-token`: the stored OpenID Connect ID token.
#[derive(Debug, Serialize)]
pub struct IdToken {
    pub id_token: String,
}

/// `token --format exec-credential`: a Kubernetes `ExecCredential` (client-go's exec
/// credential plugin protocol).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecCredential {
    /// `client.authentication.k8s.io/v1beta1` or `/v1`, as kubectl asked.
    pub api_version: &'static str,
    /// Always `ExecCredential`.
    pub kind: &'static str,
    pub status: ExecCredentialStatus,
}

/// The `status` of an [`ExecCredential`].
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecCredentialStatus {
    pub token: String,
    /// RFC 3339; absent for a token that does not expire (kubectl then keeps it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiration_timestamp: Option<String>,
}

/// `env`: the variables it would export.
#[derive(Debug, Serialize)]
pub struct Env {
    /// Variable name to token.
    pub variables: BTreeMap<String, String>,
    /// RFC 3339; `null` for a token that does not expire.
    pub expires_at: Option<String>,
    /// Seconds since the Unix epoch; `null` for a token that does not expire.
    pub expires_on: Option<u64>,
}

/// `request`: the API's answer.
#[derive(Debug, Serialize)]
pub struct Response {
    pub status: u16,
    /// Header name (lower case) to its values, in the order they came.
    pub headers: BTreeMap<String, Vec<String>>,
    /// The body as text when it is UTF-8 (JSON bodies included, as a string), else `null`.
    pub body: Option<String>,
    /// The body in base64 when it is not UTF-8, else `null`.
    pub body_base64: Option<String>,
}

/// `status`: one per profile (the document is an array of these).
#[derive(Debug, Serialize)]
pub struct StatusRow {
    pub profile: String,
    /// Whether config.toml has the profile (tokens may outlive it).
    pub configured: bool,
    pub logged_in: bool,
    /// `logged_out`, `valid`, `expired`, `rejected` or `login_required`.
    pub state: &'static str,
    /// The stored tokens; absent (the keys themselves) when the profile is logged out.
    #[serde(flatten)]
    pub tokens: Option<StatusTokens>,
    /// The 5xx-rate warning when the profile's recent requests pass its threshold.
    pub warnings: Vec<String>,
}

/// The stored tokens of a [`StatusRow`].
#[derive(Debug, Serialize)]
pub struct StatusTokens {
    pub expires_at: Option<String>,
    /// Seconds left; negative once expired.
    pub expires_in_s: Option<i64>,
    pub scope: String,
    pub refresh_token: bool,
    pub refresh_token_obtained_at: Option<String>,
    /// When the refresh token expires and a new login is needed; `null` when not known.
    pub refresh_token_expires_at: Option<String>,
    pub obtained_at: String,
    pub last_refresh_at: Option<String>,
    /// The last refresh failure's message (its evidence is in the event log).
    pub last_error: Option<String>,
    /// The last refresh failure's cause, as a stable name.
    pub last_error_cause: Option<&'static str>,
    /// True while refreshes fail transiently and the current token is used meanwhile.
    pub provider_failing: bool,
    /// What the provider said when the session ended.
    pub login_required_reason: Option<String>,
    /// Why a new login is needed, as a stable name (`refresh_token_revoked`, ...).
    pub login_required_cause: Option<&'static str>,
    pub subject: Option<String>,
    pub version: i64,
}

/// `doctor`: every profile checked.
#[derive(Debug, Serialize)]
pub struct Doctor<'a> {
    /// True when no check failed.
    pub ok: bool,
    pub profiles: Vec<DoctorProfile<'a>>,
}

/// One profile's checks in a [`Doctor`] document.
#[derive(Debug, Serialize)]
pub struct DoctorProfile<'a> {
    pub profile: &'a str,
    /// The worst status: `ok`, `warn` or `fail`.
    pub status: &'static str,
    pub checks: &'a [Check],
}

/// `doctor --curl`: the profile's token requests as curl commands.
#[derive(Debug, Serialize)]
pub struct DoctorCurl<'a> {
    pub profile: &'a str,
    pub commands: &'a [CurlCommand],
}

/// `events`: one per record (the document is an array of these).
#[derive(Debug, Serialize)]
pub struct Event {
    /// RFC 3339 with milliseconds.
    pub at: String,
    pub profile: String,
    pub operation: String,
    pub outcome: String,
    pub status: Option<u16>,
    pub oauth_error: Option<String>,
    pub request_id: Option<String>,
    pub correlation_id: Option<String>,
    pub duration_ms: Option<u64>,
    pub attempt: u32,
    /// The machine that recorded it (fleet store); `null` in a machine's own store.
    pub host: Option<String>,
}

/// `store migrate`.
#[derive(Debug, Serialize)]
pub struct StoreMigrate {
    /// The store, without a password.
    pub store: String,
    /// The schema version before (0: a new store).
    pub schema_before: i32,
    pub schema: i32,
}

/// `store copy`.
#[derive(Debug, Serialize)]
pub struct StoreCopy {
    pub from: String,
    pub to: String,
    pub copied: Vec<String>,
    pub skipped: Vec<StoreSkipped>,
    pub removed_from_source: bool,
}

/// A profile `store copy` did not copy: `not_stored`, `exists`, or `not_usable: STATE`.
#[derive(Debug, Serialize)]
pub struct StoreSkipped {
    pub profile: String,
    pub reason: String,
}

/// One machine's part of `stats` (fleet store).
#[derive(Debug, Serialize)]
pub struct HostCounts {
    pub events: usize,
    pub refreshes: usize,
}

/// `stats`.
#[derive(Debug, Serialize)]
pub struct Stats<'a> {
    /// `null` with `--all`.
    pub profile: Option<&'a str>,
    /// RFC 3339.
    pub since: String,
    pub events: usize,
    pub by_operation: BTreeMap<String, BTreeMap<String, usize>>,
    pub by_outcome: BTreeMap<String, usize>,
    pub refresh_latency: Option<Latency>,
    pub token_requests: usize,
    pub server_errors: usize,
    pub server_error_rate: Option<f64>,
    pub forced_logins: usize,
    pub resource_rejections: usize,
    pub lock_waits: usize,
    /// The 5xx rate of the last 15 minutes against the profile's threshold; `null` with
    /// `--all`.
    pub failure_rate_15m: Option<FailureRate>,
    /// Per machine (fleet store): its records and its successful refreshes; `{}` otherwise.
    pub by_host: BTreeMap<String, HostCounts>,
}

/// Refresh latency in a [`Stats`] document, in milliseconds.
#[derive(Debug, Serialize)]
pub struct Latency {
    pub samples: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// The recent 5xx rate in a [`Stats`] document.
#[derive(Debug, Serialize)]
pub struct FailureRate {
    pub window_s: u64,
    pub requests: usize,
    pub server_errors: usize,
    pub rate: f64,
    pub threshold: f64,
    pub exceeded: bool,
}

/// `profile add` and `profile remove`.
#[derive(Debug, Serialize)]
pub struct ProfileChange<'a, W: Serialize> {
    pub profile: &'a str,
    /// `added`, `replaced`, `removed`, `set`, `unset` or `unchanged`.
    pub action: &'static str,
    /// The configuration file.
    pub path: String,
    /// `add` only: whether the file was created.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_file: Option<bool>,
    /// `add` only: the warnings the new profile deserves.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warnings: Option<&'a [W]>,
}

/// `profile keys`: one per key a profile takes (the document is an array of these).
#[derive(Debug, Serialize)]
pub struct ProfileKey {
    pub name: &'static str,
    /// The TOML type, in words.
    pub kind: &'static str,
    pub help: &'static str,
}

/// `profile list`: one per profile (the document is an array of these).
#[derive(Debug, Serialize)]
pub struct ProfileListRow {
    pub name: String,
    pub provider: String,
    pub issuer: Option<String>,
    pub client_id: Option<String>,
    pub token_endpoint: Option<String>,
    /// Whether it is the profile selected by `--profile` / `TOKENWARDEN_PROFILE`.
    pub selected: bool,
    pub valid: bool,
    pub problems: Vec<String>,
}

/// `profile show`: the profile as tokenwarden resolves it (secrets never shown).
#[derive(Debug, Serialize)]
pub struct ProfileShow<'a> {
    pub name: &'a str,
    /// The configuration file.
    pub path: String,
    pub provider: Provider,
    pub issuer: Option<&'a str>,
    pub client_id: &'a str,
    pub client_secret: &'a SecretStatus,
    pub client_auth: ClientAuth,
    pub grant: GrantType,
    pub scopes: &'a [String],
    pub redirect_uri: Option<&'a str>,
    pub registered_redirect_uris: &'a [String],
    pub endpoints: ProfileEndpoints,
    pub token_request_format: TokenRequestFormat,
    pub resource: Option<&'a str>,
    /// The RFC 8707 resource indicators (`resource_indicator`).
    pub resource_indicators: &'a [String],
    pub refresh_revokes_previous_access_token: bool,
    /// Extra headers of token requests; secret values are never shown.
    pub token_request_headers: Vec<ProfileHeader>,
    /// Extra headers of API calls (the preset's and the profile's).
    pub resource_headers: Vec<ProfileHeader>,
    pub user_agent: &'a str,
    pub audience: Option<&'a str>,
    pub refresh_skew_s: f64,
    pub timeout_s: f64,
    pub connect_timeout_s: f64,
    pub retry: ProfileRetry,
    pub quirks: &'a Quirks,
    /// The public documents the preset's values come from.
    pub preset_sources: &'static [&'static str],
    pub allow_insecure_http: bool,
    pub export_env: Option<&'a str>,
    pub tenant: Option<&'a str>,
}

/// One extra header of a [`ProfileShow`]: a secret value says where it comes from instead.
#[derive(Debug, Serialize)]
pub struct ProfileHeader {
    pub name: String,
    pub value: String,
    pub secret: bool,
}

impl ProfileHeader {
    pub fn list(specs: &[tokenwarden::config::HeaderSpec]) -> Vec<ProfileHeader> {
        specs
            .iter()
            .map(|h| ProfileHeader {
                name: h.name.clone(),
                value: h.describe(),
                secret: h.is_secret(),
            })
            .collect()
    }
}

/// The endpoints of a [`ProfileShow`].
#[derive(Debug, Serialize)]
pub struct ProfileEndpoints {
    pub authorization: Option<String>,
    pub token: Option<String>,
    pub device_authorization: Option<String>,
    pub revocation: Option<String>,
    /// True when the missing ones come from discovery.
    pub discovered: bool,
}

/// The retry settings of a [`ProfileShow`].
#[derive(Debug, Serialize)]
pub struct ProfileRetry {
    pub max_attempts: u32,
    pub base_delay_ms: u64,
    pub max_delay_ms: u64,
    pub breaker_threshold: u32,
    pub breaker_cooldown_s: f64,
}
