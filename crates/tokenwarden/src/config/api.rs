//! Validation of the keys about the API a profile talks to and how it presents itself: the
//! RFC 8707 resource indicators (`resource_indicator`), the extra headers
//! (`token_request_headers`, `resource_headers`), the `user_agent`, and
//! `refresh_revokes_previous_access_token`.

use super::checks::Ctx;
use super::headers::{self, HeaderSpec};
use super::parse::{Entry, Value};
use super::preset::Preset;
use url::Url;

/// The validated API and identity keys of a profile.
pub(super) struct ApiKeys {
    pub refresh_revokes_previous_access_token: bool,
    pub token_request_headers: Vec<HeaderSpec>,
    pub resource_headers: Vec<HeaderSpec>,
    pub user_agent: Option<String>,
}

/// `resource_indicator`: absolute URIs without a fragment (RFC 8707 §2), each once.
pub(super) fn resource_indicators(c: &mut Ctx<'_>) -> Vec<String> {
    let Some((list, loc)) = c.list("resource_indicator") else {
        return Vec::new();
    };
    let mut out: Vec<String> = Vec::new();
    for s in list {
        match Url::parse(s) {
            Ok(u) if u.fragment().is_some() => c.problem(
                loc,
                "resource_indicator",
                format!("resource indicator \"{s}\" must not have a #fragment (RFC 8707 §2)"),
            ),
            Ok(_) if out.contains(s) => c.problem(
                loc,
                "resource_indicator",
                format!("resource indicator \"{s}\" is listed twice"),
            ),
            Ok(_) => out.push(s.clone()),
            Err(e) => c.problem(
                loc,
                "resource_indicator",
                format!("resource indicator \"{s}\" is not an absolute URI ({e}; RFC 8707 §2)"),
            ),
        }
    }
    out
}

/// The header keys, `user_agent` and `refresh_revokes_previous_access_token`, with the
/// preset's defaults.
pub(super) fn api_keys(c: &mut Ctx<'_>, preset: &Preset) -> ApiKeys {
    let token_request_headers = header_key(c, "token_request_headers");
    let own_resource_headers = header_key(c, "resource_headers");
    let user_agent = c
        .str("user_agent")
        .and_then(|(s, loc)| match headers::check_user_agent(s) {
            Ok(()) => Some(s.to_string()),
            Err(why) => {
                c.problem(loc, "user_agent", why);
                None
            }
        });
    ApiKeys {
        refresh_revokes_previous_access_token: c
            .bool("refresh_revokes_previous_access_token")
            .unwrap_or(preset.refresh_revokes_previous_access_token),
        token_request_headers,
        resource_headers: headers::merged(preset.resource_headers, own_resource_headers),
        user_agent,
    }
}

fn header_key(c: &mut Ctx<'_>, k: &str) -> Vec<HeaderSpec> {
    let Some(Entry {
        value: Value::Headers(raw),
        loc,
    }) = c.raw.get(k)
    else {
        return Vec::new();
    };
    let full = c.key(k);
    headers::build(k, &full, *loc, raw, &mut c.problems)
}
