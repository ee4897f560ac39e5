//! What the provider's metadata says about how a profile will work, beyond reaching it:
//! `revocation` (can `logout` revoke the tokens at the provider?) and `resource_indicator`
//! (RFC 8707: does the profile send the indicators the provider expects?).

use super::Check;
use crate::config::Profile;
use crate::discovery::Metadata;

/// Both checks, from the profile and the discovery document when there is one (`metadata` is
/// `None` for a profile whose endpoints are configured or fixed by its preset).
pub fn checks(p: &Profile, metadata: Option<&Metadata>, checks: &mut Vec<Check>) {
    checks.push(revocation(p, metadata));
    checks.push(resource_indicator(p, metadata));
}

fn revocation(p: &Profile, metadata: Option<&Metadata>) -> Check {
    let found = p
        .endpoints
        .revocation
        .as_ref()
        .map(|u| (u, "the profile"))
        .or_else(|| {
            metadata
                .and_then(|m| m.revocation_endpoint.as_ref())
                .map(|u| (u, "the discovery document"))
        });
    match found {
        Some((url, from)) => Check::ok(
            "revocation",
            format!("logout revokes the tokens at {url} (from {from})"),
        ),
        None => {
            let known = match metadata {
                Some(m) => format!("{} names no revocation_endpoint", m.source),
                None if p.provider == crate::config::Provider::Generic => {
                    "the profile sets no revocation_endpoint and has no issuer to discover one from"
                        .to_string()
                }
                None => format!(
                    "the {} preset has no revocation endpoint, and the profile sets none",
                    p.provider
                ),
            };
            Check::warn(
                "revocation",
                format!(
                    "{known}: `logout` would delete the tokens here but could not revoke them at the provider, where they stay valid until they expire"
                ),
                "set revocation_endpoint in the profile if the provider has one (RFC 7009; its documentation names it), else revoke the app's access in your account settings at the provider after logging out",
            )
        }
    }
}

fn resource_indicator(p: &Profile, metadata: Option<&Metadata>) -> Check {
    let supported = metadata.map(|m| m.resource_indicators_supported);
    let sent = p.resource_indicators.join(" ");
    match (p.resource_indicators.is_empty(), supported) {
        (false, Some(true)) => Check::ok(
            "resource_indicator",
            format!(
                "{sent} is sent with the authorization and token requests (RFC 8707), which the provider supports"
            ),
        ),
        (false, Some(false)) => Check::warn(
            "resource_indicator",
            format!(
                "{sent} is sent with the authorization and token requests, but the provider's metadata does not say it supports RFC 8707 resource indicators: it may ignore them or refuse the requests"
            ),
            "keep resource_indicator if the provider documents it; remove it if logins fail with invalid_request or invalid_target",
        ),
        (false, None) => Check::ok(
            "resource_indicator",
            format!(
                "{sent} is sent with the authorization and token requests (RFC 8707); the provider publishes no metadata to check it against"
            ),
        ),
        (true, Some(true)) => match &p.resource {
            Some(api) => Check::warn(
                "resource_indicator",
                format!(
                    "the provider supports RFC 8707 resource indicators and the profile sends none; `resource` ({api}) is only the API's URL, never sent to the provider"
                ),
                "if the provider needs an indicator for this API (logins fail with invalid_target), set resource_indicator to the API identifier it knows, e.g. resource_indicator = \"https://api.example.com/\"",
            ),
            None => Check::ok(
                "resource_indicator",
                "the provider supports RFC 8707 resource indicators; the profile sends none (set resource_indicator if the API needs one)",
            ),
        },
        (true, _) => Check::ok(
            "resource_indicator",
            "none configured: no RFC 8707 `resource` parameter is sent",
        ),
    }
}
