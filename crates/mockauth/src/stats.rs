//! Counters of what the server saw, returned by `GET /admin/stats` and
//! [`crate::ServerHandle::stats`].
//!
//! `token_requests` counts every request to `/token` by its `grant_type`, faulted ones
//! included (the count is taken at the boundary, before any fault); `token_errors` counts error
//! answers from `/token` by OAuth `error` code, or by HTTP status when the body has none (an
//! HTML or empty fault).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::GrantType;

/// Everything counted since the start or the last reset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Stats {
    /// Requests to `/token` by grant type.
    pub token_requests: TokenRequests,
    /// Error answers from `/token`, by OAuth error code or HTTP status.
    pub token_errors: BTreeMap<String, u64>,
    /// Refresh tokens presented after rotation (and after the grace): each revoked a family.
    pub refresh_reuse_detected: u64,
    /// Authorization codes presented a second time.
    pub code_reuse_detected: u64,
    /// Requests a fault fired on (latency-only faults included).
    pub faults_injected: u64,
    /// Requests to the protected resource (`/v1/messages`, `/v1/stream`).
    pub resource_requests: ResourceRequests,
    /// Calls to `/revoke`.
    pub revocations: Revocations,
    /// Successful `/device_authorization` requests.
    pub device_authorizations: u64,
    /// Requests to `/authorize` (GET and POST, not the consent decision).
    pub authorize_requests: u64,
    /// Requests `/jwks` answered with the key set (not those a fault answered).
    pub jwks_requests: u64,
    /// Tokens issued, by kind.
    pub tokens_issued: TokensIssued,
}

/// Requests to `/token` by `grant_type`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct TokenRequests {
    /// `authorization_code`.
    pub authorization_code: u64,
    /// `refresh_token`.
    pub refresh_token: u64,
    /// `client_credentials`.
    pub client_credentials: u64,
    /// `urn:ietf:params:oauth:grant-type:device_code`.
    pub device_code: u64,
    /// Missing, unreadable or unknown grant types.
    pub other: u64,
}

impl TokenRequests {
    /// All token requests.
    pub fn total(&self) -> u64 {
        self.authorization_code
            + self.refresh_token
            + self.client_credentials
            + self.device_code
            + self.other
    }

    pub(crate) fn count(&mut self, grant: Option<GrantType>) {
        let slot = match grant {
            Some(GrantType::AuthorizationCode) => &mut self.authorization_code,
            Some(GrantType::RefreshToken) => &mut self.refresh_token,
            Some(GrantType::ClientCredentials) => &mut self.client_credentials,
            Some(GrantType::DeviceCode) => &mut self.device_code,
            None => &mut self.other,
        };
        *slot += 1;
    }
}

/// Outcomes at the protected resource.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct ResourceRequests {
    /// Answered 200.
    pub ok: u64,
    /// Refused for the token: missing, unknown, expired or revoked (401, or the configured
    /// dead-token status).
    pub unauthorized: u64,
    /// Answered 400: a malformed `Authorization` header or a required header missing.
    pub bad_request: u64,
}

/// Calls to `/revoke`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Revocations {
    /// Calls that revoked a live token.
    pub revoked: u64,
    /// All calls answered 200 (unknown tokens included).
    pub total: u64,
}

/// Tokens issued by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct TokensIssued {
    /// Access tokens.
    pub access: u64,
    /// Refresh tokens.
    pub refresh: u64,
    /// ID tokens.
    pub id: u64,
}

impl Stats {
    pub(crate) fn token_error(&mut self, key: String) {
        *self.token_errors.entry(key).or_insert(0) += 1;
    }
}
