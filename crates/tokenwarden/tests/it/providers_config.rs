//! The profile keys of providers as they really are: RFC 8707 indicators apart from the API URL,
//! extra headers (plain, secret, from the environment) and the `User-Agent`, the key for
//! providers that revoke the previous access token on refresh, and today's presets.

use std::path::Path;
use tokenwarden::ErrorKind;
use tokenwarden::config::{Config, HeaderSource, Profile, Provider, TokenRequestFormat};

fn load(text: &str) -> Profile {
    Config::parse(Path::new("/cfg/config.toml"), text)
        .and_then(|c| c.profile("p"))
        .unwrap_or_else(|e| panic!("{}", e.report()))
        .profile
}

fn problem(text: &str) -> String {
    let e = Config::parse(Path::new("/cfg/config.toml"), text)
        .and_then(|c| c.profile("p"))
        .expect_err("the profile has a problem");
    assert_eq!(e.kind(), ErrorKind::Config, "{}", e.report());
    e.message().to_string()
}

#[test]
fn the_api_and_the_resource_indicator_are_separate_keys() {
    // `resource` alone is the API (the default URL of `request`): no indicator is sent.
    let p = load(
        "[profiles.p]\nissuer = \"https://id.example.com\"\nclient_id = \"c\"\n\
         resource = \"https://api.example.com/v1/messages\"\n",
    );
    assert_eq!(
        p.resource.as_deref(),
        Some("https://api.example.com/v1/messages")
    );
    assert!(p.resource_indicators.is_empty());
    // One indicator as a string, several as an array.
    let p = load(
        "[profiles.p]\nissuer = \"https://id.example.com\"\nclient_id = \"c\"\n\
         resource_indicator = [\"https://api.example.com/\", \"urn:example:billing\"]\n",
    );
    assert_eq!(
        p.resource_indicators,
        ["https://api.example.com/", "urn:example:billing"]
    );
    let m = problem(
        "[profiles.p]\nissuer = \"https://id.example.com\"\nclient_id = \"c\"\n\
         resource_indicator = \"https://api.example.com/#frag\"\n",
    );
    assert!(m.contains("#fragment (RFC 8707 §2)"), "{m}");
    let m = problem(
        "[profiles.p]\nissuer = \"https://id.example.com\"\nclient_id = \"c\"\n\
         resource_indicator = \"api\"\n",
    );
    assert!(m.contains("not an absolute URI"), "{m}");
}

#[test]
fn headers_plain_secret_and_from_the_environment() {
    let p = load(
        r#"
[profiles.p]
issuer = "https://id.example.com"
client_id = "c"
user_agent = "my-tool/1.0"
token_request_headers = { "X-Client" = "tw", "X-Key" = { env = "TW_TEST_HEADER_KEY" } }

[profiles.p.resource_headers]
"X-Tenant" = { value = "tenant-secret-value", secret = true }
"X-Plain" = { value = "shown" }
"#,
    );
    assert_eq!(p.user_agent(), "my-tool/1.0");
    assert_eq!(p.token_request_headers.len(), 2);
    let key = p
        .token_request_headers
        .iter()
        .find(|h| h.name == "X-Key")
        .expect("X-Key");
    assert_eq!(key.source, HeaderSource::Env("TW_TEST_HEADER_KEY".into()));
    assert!(key.is_secret() && key.describe().contains("$TW_TEST_HEADER_KEY"));
    let tenant = p
        .resource_headers
        .iter()
        .find(|h| h.name == "X-Tenant")
        .expect("X-Tenant");
    assert!(tenant.is_secret());
    assert!(!format!("{p:?}").contains("tenant-secret-value"));
    assert!(!tenant.describe().contains("tenant-secret-value"));
    // A variable that is not set is a Config error naming it, when the value is needed.
    let e = p.token_request_headers().expect_err("not set");
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(
        e.message().contains("TW_TEST_HEADER_KEY"),
        "{}",
        e.message()
    );
    // The default User-Agent names tokenwarden and its version.
    let p = load("[profiles.p]\nissuer = \"https://id.example.com\"\nclient_id = \"c\"\n");
    assert!(
        p.user_agent().starts_with("tokenwarden/"),
        "{}",
        p.user_agent()
    );
}

#[test]
fn headers_tokenwarden_sets_itself_are_refused() {
    for (header, says) in [
        ("Authorization", "tokenwarden sends the token"),
        ("User-Agent", "user_agent"),
        ("Content-Type", "token_request_format"),
        ("Bad Name", "not a valid header name"),
    ] {
        let m = problem(&format!(
            "[profiles.p]\nissuer = \"https://id.example.com\"\nclient_id = \"c\"\n\
             resource_headers = {{ \"{header}\" = \"x\" }}\n"
        ));
        assert!(m.contains(says), "{header}: {m}");
    }
    let m = problem(
        "[profiles.p]\nissuer = \"https://id.example.com\"\nclient_id = \"c\"\n\
         token_request_headers = { \"X-A\" = \"a\\r\\nX-Injected: 1\" }\n",
    );
    assert!(m.contains("line break"), "{m}");
    let m = problem(
        "[profiles.p]\nissuer = \"https://id.example.com\"\nclient_id = \"c\"\n\
         token_request_headers = { \"X-A\" = { env = \"V\", value = \"x\" } }\n",
    );
    assert!(m.contains("both `env` and `value`"), "{m}");
    let m = problem(
        "[profiles.p]\nissuer = \"https://id.example.com\"\nclient_id = \"c\"\n\
         user_agent = \"\"\n",
    );
    assert!(m.contains("`user_agent` is empty"), "{m}");
}

#[test]
fn the_revoke_on_refresh_key() {
    let p = load(
        "[profiles.p]\nissuer = \"https://id.example.com\"\nclient_id = \"c\"\n\
         refresh_revokes_previous_access_token = true\n",
    );
    assert!(p.refresh_revokes_previous_access_token);
    let p = load("[profiles.p]\nissuer = \"https://id.example.com\"\nclient_id = \"c\"\n");
    assert!(!p.refresh_revokes_previous_access_token);
    let m = problem(
        "[profiles.p]\nissuer = \"https://id.example.com\"\nclient_id = \"c\"\n\
         refresh_revokes_previous_access_token = \"yes\"\n",
    );
    assert!(m.contains("must be true or false"), "{m}");
}

#[test]
fn the_anthropic_preset_is_todays() {
    let p = load("[profiles.p]\nprovider = \"anthropic\"\nclient_id = \"my-app\"\n");
    assert_eq!(p.provider, Provider::Anthropic);
    assert_eq!(
        p.endpoints.token.as_ref().map(url::Url::as_str),
        Some("https://platform.claude.com/v1/oauth/token")
    );
    assert_eq!(
        p.endpoints.authorization.as_ref().map(url::Url::as_str),
        Some("https://claude.com/cai/oauth/authorize")
    );
    assert_eq!(p.redirect_uri.as_deref(), Some("http://localhost/callback"));
    assert_eq!(p.scopes, ["user:profile", "user:inference"]);
    assert_eq!(p.token_request_format, TokenRequestFormat::Json);
    assert!(p.quirks.state_in_token_request);
    assert_eq!(p.authorization_params, [("code".into(), "true".into())]);
    assert!(
        p.resource_headers
            .iter()
            .any(|h| h.name == "anthropic-beta" && h.describe() == "oauth-2025-04-20")
    );
    assert!(p.user_agent().starts_with("tokenwarden/"));
    // The sources are recorded with the preset.
    assert!(
        Provider::Anthropic
            .preset()
            .sources
            .iter()
            .any(|s| s.contains("platform.claude.com") || s.contains("hermes-agent"))
    );
    // No client id is shipped: the user supplies theirs.
    let m = problem("[profiles.p]\nprovider = \"anthropic\"\n");
    assert!(m.contains("has no `client_id`"), "{m}");
    // A profile's header of the same name replaces the preset's.
    let p = load(
        "[profiles.p]\nprovider = \"anthropic\"\nclient_id = \"my-app\"\n\
         resource_headers = { \"Anthropic-Beta\" = \"oauth-2025-04-20,other\" }\n",
    );
    let beta: Vec<_> = p
        .resource_headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("anthropic-beta"))
        .collect();
    assert_eq!(beta.len(), 1);
    assert_eq!(beta[0].describe(), "oauth-2025-04-20,other");
}

#[test]
fn a_microsoft_profile_with_its_own_issuer_discovers_its_endpoints() {
    let p = load("[profiles.p]\nprovider = \"microsoft\"\nclient_id = \"c\"\n");
    assert!(p.preset_endpoints);
    assert_eq!(
        p.issuer.as_deref(),
        Some("https://login.microsoftonline.com/common/v2.0")
    );
    assert!(p.endpoints.token.is_some());
    // A sovereign cloud (or a test server): the preset's public-cloud endpoints would be wrong.
    let p = load(
        "[profiles.p]\nprovider = \"microsoft\"\nclient_id = \"c\"\n\
         issuer = \"https://login.microsoftonline.us/common/v2.0\"\n",
    );
    assert!(!p.preset_endpoints);
    assert!(p.endpoints.token.is_none() && p.needs_discovery());
}
