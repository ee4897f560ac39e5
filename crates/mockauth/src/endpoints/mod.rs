//! The HTTP endpoints, one module per concern, and the request parsing they share.

pub(crate) mod agent_filter;
pub(crate) mod authorize;
pub(crate) mod device;
pub(crate) mod discovery;
pub(crate) mod paste;
pub(crate) mod resource;
pub(crate) mod revoke;
pub(crate) mod stream;
pub(crate) mod target;
pub(crate) mod token;
pub(crate) mod token_response;

use axum::http::HeaderMap;

use crate::config::{ClientConfig, Config};
use crate::oauth::{self, BodyFormat, OAuthError, Params};
use crate::store::parse_scope;

/// Parses a client's POST body and authenticates the client; a JSON body is accepted only
/// from clients configured for it.
pub(crate) fn client_request<'c>(
    config: &'c Config,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(Params, &'c ClientConfig), (Option<&'c ClientConfig>, OAuthError)> {
    let (params, format) = Params::from_body(headers, body).map_err(|e| (None, e))?;
    let client = oauth::authenticate(config, headers, &params)
        .map_err(|e| (None, e))?
        .client;
    let allowed = match format {
        BodyFormat::Form => client.token_request_format.allows_form(),
        BodyFormat::Json => client.token_request_format.allows_json(),
    };
    if !allowed {
        let msg = match format {
            BodyFormat::Json => format!(
                "client `{}` must send application/x-www-form-urlencoded bodies, not JSON",
                client.id
            ),
            BodyFormat::Form => format!(
                "client `{}` must send JSON bodies (Content-Type: application/json), not a form",
                client.id
            ),
        };
        return Err((Some(client), OAuthError::invalid_request(msg)));
    }
    Ok((params, client))
}

/// The requested scope, every part of it supported; `None` and empty mean no scope.
pub(crate) fn requested_scope(
    config: &Config,
    scope: Option<&str>,
) -> Result<Vec<String>, OAuthError> {
    let scope = scope.map(parse_scope).unwrap_or_default();
    if let Some(bad) = scope.iter().find(|s| !config.scopes_supported.contains(s)) {
        return Err(OAuthError::new(
            oauth::ErrorCode::InvalidScope,
            format!(
                "scope `{bad}` is not supported (supported: {})",
                config.scopes_supported.join(" ")
            ),
        ));
    }
    Ok(scope)
}
